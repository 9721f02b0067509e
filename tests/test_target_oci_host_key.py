"""oci.hostKey under Pulumi mocks: pinned, both SSH paths check the VM's key; unset, the first contact is trusted."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from config import ConfigError, parse_stack_config
from renderers.oci_host_key import host_key_command
from tests.provider_ssh_opts import opt, ssh_opts
from tests import harness

NS = harness.PROJECT
# The mock instance's id (tests/harness.py RecordingMocks: "<name>-id").
INSTANCE_ID = "ampere-instance-id"
PINNED = harness.MOCK_HOST_KEY


def prod_values(**oci: Any) -> dict[str, Any]:
    values = copy.deepcopy(harness.stack_config_as_user_sets_it("prod"))
    values[f"{NS}:oci"] = {**values[f"{NS}:oci"], **oci}
    return values


def remote_connections(run: harness.Evaluation) -> dict[str, dict[str, Any]]:
    found = {r.name: harness.unwrap(r.inputs)["connection"] for r in run.monitor.by_type("command:remote:Command")}
    # The VM's own commands and the day-2 ones over RemoteShell: the password rotation sends a secret on stdin.
    assert {"ampere-ready", "ampere-firewall", "ampere-host-os", "ampere-ssh-keys", "database-password-rotation"} <= set(found)
    return found


def test_pinned_every_remote_command_checks_the_key(monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    run = harness.evaluate("prod", prod_values(hostKey=PINNED + " root@ampere"))
    connections = remote_connections(run)
    for name, connection in connections.items():
        # The comment dropped, as on the host target (renderers/existing_host.pinned_host_key).
        assert connection.get("hostKey") == PINNED, name
        assert connection["privateKey"] == harness.MOCK_SSH_PRIVATE_KEY, name
        assert connection["host"] == harness.MOCK_PUBLIC_IP, name


def test_pinned_the_docker_provider_is_given_only_that_key_over_one_connection(monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    opts = ssh_opts(harness.evaluate("prod", prod_values(hostKey=PINNED)))
    assert opt(opts, "StrictHostKeyChecking") == "yes"
    assert opt(opts, "UserKnownHostsFile") == "/dev/null" == opt(opts, "GlobalKnownHostsFile")
    assert opt(opts, "KnownHostsCommand") == f"/bin/echo %H {PINNED}"
    assert opt(opts, "HostKeyAlgorithms") == "ssh-ed25519"
    assert opt(opts, "BatchMode") == "yes"
    assert opt(opts, "ControlPath") == "/run/user/1000/bs-%C" and opt(opts, "ControlMaster") == "auto"
    # The key file stays as configured, as without a pinned key.
    assert opts[-2:] == ["-i", harness.mock_ssh_key_file()] and opt(opts, "IdentitiesOnly") == "yes"
    assert "accept-new" not in " ".join(opts)


def test_unset_the_first_contact_is_trusted_as_before():
    run = harness.evaluate("prod", prod_values())
    for name, connection in remote_connections(run).items():
        assert "hostKey" not in connection, name
    opts = ssh_opts(run)
    assert opts == ["-o", "StrictHostKeyChecking=accept-new", "-o", "IdentitiesOnly=yes", "-i", harness.mock_ssh_key_file()]


def test_the_host_key_command_is_a_stack_output_for_the_instance_and_region():
    run = harness.evaluate("prod", prod_values())
    region = harness.PROD_PERSONAL_CONFIG["region"]
    assert run.outputs["hostKeyCommand"] == host_key_command(INSTANCE_ID, region)
    assert f"--instance-id {INSTANCE_ID} " in run.outputs["hostKeyCommand"]
    assert f"--region {region} " in run.outputs["hostKeyCommand"]
    assert "hostKeyCommand" not in run.secret_outputs


def test_the_host_key_command_is_only_on_target_oci():
    assert "hostKeyCommand" not in harness.evaluate("dev").outputs


@pytest.mark.parametrize(
    ("key", "why"),
    [
        # The form is the host target's (config/model.HostKey): RSA is not taken on either target.
        ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7", "(ed25519 or ecdsa)"),
        # The blob names another type than the line does (renderers/existing_host.host_key_problem).
        ("ssh-ed25519 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY=", "not a ssh-ed25519 key; `pulumi stack output hostKeyCommand`"),
        # ssh-keyscan's line with the address still in front.
        ("203.0.113.10 " + PINNED, "(ed25519 or ecdsa)"),
    ],
)
def test_a_key_neither_path_could_use_is_refused_by_name(key, why):
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(harness.raw_config(prod_values(hostKey=key)))
    (problem,) = [p for p in refused.value.problems if p.key == f"{NS}:oci.hostKey"]
    assert why in str(problem), str(problem)
