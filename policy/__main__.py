"""Entry point for `pulumi preview --policy-pack policy`: serves the pack to the engine.

The engine runs this file as a script (runpy on this directory), not as part of the
``policy`` package, so the package is loaded here under a fixed name; its modules'
relative imports then work wherever the pack directory lives.
"""
import importlib.util
import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

_PACKAGE = "backing_services_policy"
_HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location(_PACKAGE, _HERE / "__init__.py", submodule_search_locations=[str(_HERE)])
sys.modules[_PACKAGE] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sys.modules[_PACKAGE])

from backing_services_policy.rules import POLICIES  # noqa: E402

PolicyPack(
    name="backing-services",
    policies=POLICIES,
    # Each policy sets its own level; this only applies to one that forgets.
    enforcement_level=EnforcementLevel.MANDATORY,
)
