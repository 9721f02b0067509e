"""Every user-settable config key, changed, classified by what the real providers would do.

Rules, for every change a user can make:
- nothing crashes: a change is either refused by the loader (naming the key) or evaluated;
- no field changes in state only, never reaching the running thing;
- no stateful resource (volume, bucket, instance, data attachment) is replaced or deleted
  unless it is protected (then `pulumi preview`/`up` stops at it before anything changes)
  or protectData is false (dev's disposable data);
- a replaced PostgreSQL container is always preceded by the checks that keep it from
  starting on data it cannot read or with a password the server does not have.
The README's "What happens when I change X" table is this matrix, regenerated and compared.
"""
from __future__ import annotations

import pytest

from tests import harness
from tests.config_keys import config_keys
from tests.matrix.changes import CHANGES
from tests.matrix.table import BEGIN, END, matrix, render


@pytest.fixture(scope="module")
def results():
    return matrix()


def test_every_config_key_has_a_row():
    covered = {c.key for c in CHANGES}
    missing = [k for k in config_keys() if k not in covered]
    assert not missing, f"add a realistic change for each to tests/matrix/changes.py: {missing}"


def test_no_change_reaches_state_only(results):
    dropped = [
        (c.stack, c.key, e.name, e.fields) for c, v in results for e in v.effects if e.outcome == "dropped"
    ]
    assert not dropped, f"these changes would never reach the running resource: {dropped}"


def test_no_stateful_resource_is_replaced_or_deleted_unguarded(results):
    unguarded = []
    for change, verdict in results:
        values, _ = change.values()
        protect_data = values.get(f"{harness.PROJECT}:protectData", True)
        for e in verdict.effects:
            if e.loses_data and not e.protected and protect_data:
                unguarded.append((change.stack, change.key, change.label, e.name, e.outcome))
    assert not unguarded, f"stateful resources replaced or deleted without protection: {unguarded}"


def test_a_replaced_database_container_is_checked_first(results):
    """A new image, role or database name is checked on the host before the old container goes."""
    checked_keys = {"database.version", "database.user", "database.name"}
    seen = set()
    for change, verdict in results:
        postgres = verdict.of("database-postgres")
        if postgres is None or postgres.outcome != "replace":
            continue
        if change.key in checked_keys or "image" in postgres.fields:
            check = verdict.of("database-version-check")
            assert check is not None and check.outcome == "replace", (change.stack, change.key)
            seen.add(change.key)
    assert seen == checked_keys


def test_a_password_change_reaches_the_running_server_first(results):
    for change, verdict in results:
        if change.key != "databasePassword":
            continue
        rotation = verdict.of("database-password-rotation")
        assert rotation is not None and rotation.outcome == "replace", (change.stack, verdict.effects)


def test_gateway_config_changes_reload_without_replacing_caddy(results):
    for change, verdict in results:
        if change.key not in ("gateway.routes", "gateway.hstsMaxAgeSeconds", "domain", "mediaServer.subdomain") and (
            (change.key, change.stack) != ("gateway.extraNames", "dev")  # on prod (ACME) the LAN IP is refused
        ):
            continue
        assert verdict.of("gateway-caddy") is None, (change.stack, change.key, verdict.of("gateway-caddy"))
        assert verdict.of("gateway-reload").outcome == "replace", (change.stack, change.key)


def test_a_media_port_change_reaches_both_firewalls_on_the_vm(results):
    for change, verdict in results:
        if change.stack != "prod" or not change.key.startswith("mediaServer.") or "Port" not in change.key + change.label:
            continue
        if change.key == "mediaServer.signalPort":  # reached through the gateway, never public
            continue
        cloud, host = verdict.of("ampere-security-list"), verdict.of("ampere-firewall")
        assert cloud is not None and cloud.outcome == "update", f"{change.key}: the security list keeps the old port"
        assert host is not None and host.outcome == "replace", f"{change.key}: the VM's iptables never sees the new port"


def test_ssh_key_rotation_keeps_the_vm(results):
    (verdict,) = [v for c, v in results if c.key == "oci.sshPublicKey"]
    assert verdict.of("ampere-instance") is None, "a new key must not replace the VM"
    keys = verdict.of("ampere-ssh-keys")
    assert keys is not None and keys.outcome == "replace", "the new key must reach authorized_keys over SSH"


def test_readme_table_is_the_matrix(results):
    readme = (harness.ROOT / "README.md").read_text()
    assert BEGIN in readme and END in readme, "README lacks the change-matrix block"
    current = readme[readme.index(BEGIN) : readme.index(END) + len(END)]
    assert current == render(results), "README's change table is stale: run `venv/bin/python -m tests.matrix.table`"
