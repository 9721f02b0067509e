"""Policy pack for backing-services: the rules `pulumi preview --policy-pack policy` enforces.

The rule functions are importable on their own (``policy.rules.POLICIES``); only
``__main__.py`` builds the ``PolicyPack``, because building one starts a gRPC server
and blocks forever.
"""
