"""A prod preview runs without the SSH private key file and shows no change because of it.

CI previews pull requests with no SSH key at all. Neither the docker provider (configure records
host and ssh_opts; it dials only in Create/Read/Update/Delete, terraform-provider-docker
internal/provider/provider.go:201-259, config.go:116-196@v4.5.0) nor pulumi-command (returns before
dialing on DryRun, remote/commandController.go:44-46, :71-73@v1.2.1) connects in a preview. What
remains is the key as an input of every remote Command; these tests pin that it never shows as a
change (targets/oci_ampere.py says why), and that `pulumi up` still refuses without it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc, settings

from config import ConfigError
from targets.ssh_key import PREVIEW_PLACEHOLDER_KEY, PRIVATE_KEY_INPUT, REMOTE_COMMAND
from tests import harness

NS = harness.PROJECT


def prod_values(key_file: Path | str) -> dict[str, Any]:
    values = harness.stack_config_as_user_sets_it("prod")
    values[f"{NS}:oci"] = {**values[f"{NS}:oci"], "sshPrivateKeyFile": str(key_file)}
    return values


def run_prod(values: dict[str, Any], *, preview: bool) -> harness.RecordingMonitor:
    """__main__.py under fresh mocks, as `pulumi preview` (dry run) or as the update of `pulumi up`."""
    monitor = harness.RecordingMonitor(harness.RecordingMocks())
    settings.set_root_resource(None)
    pulumi.runtime.set_mocks(monitor.mocks, project=NS, stack="prod", preview=preview, monitor=monitor)
    harness.set_config(values)

    @pulumi.runtime.test
    def run():
        harness.run_program()
        return pulumi.Output.all(*harness.exported().values())

    run()
    return monitor


def inputs_by_urn(monitor: harness.RecordingMonitor) -> dict[str, dict[str, Any]]:
    return {r.urn: harness.unwrap(r.inputs) for r in monitor.registered if r.custom}


def after_ignore_changes(old: dict[str, Any], new: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """What the engine diffs: ``new`` with each ignored path set back to its value in ``old``.

    processIgnoreChanges (pkg/resource/deploy/step_generator.go:1267, :3028-3048@v3.259.0) resets
    dotted paths, looking through secret wrappers (properties_path.go:343-363); inputs here are unwrapped.
    """
    result = {**new}
    for path in paths:
        *parents, leaf = path.split(".")
        src, dst = old, result
        for key in parents:
            if not isinstance(src.get(key), dict) or not isinstance(dst.get(key), dict):
                break
            dst[key] = {**dst[key]}
            src, dst = src[key], dst[key]
        else:
            if leaf in src:
                dst[leaf] = src[leaf]
            else:
                dst.pop(leaf, None)
    return result


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """The configured key path; the file exists on the deployer's machine and not in CI."""
    path = tmp_path / "id_ed25519"
    path.write_text(harness.MOCK_SSH_PRIVATE_KEY)
    return path


@pytest.fixture
def deployed(key_file: Path) -> harness.RecordingMonitor:
    """The stack as the last `pulumi up` left it: run with the key file present."""
    return run_prod(prod_values(key_file), preview=False)


def test_a_preview_without_the_key_file_evaluates(tmp_path):
    monitor = run_prod(prod_values(tmp_path / "no-such-key"), preview=True)
    commands = monitor.by_type(REMOTE_COMMAND)
    assert len(commands) >= 3, [c.name for c in commands]  # ready, firewall, ssh-keys, and the services' day-2 commands
    for command in commands:
        assert rpc.is_rpc_secret(command.inputs["connection"]), command.name
        assert harness.unwrap(command.inputs["connection"])["privateKey"] == PREVIEW_PLACEHOLDER_KEY
        assert PRIVATE_KEY_INPUT in command.ignore_changes, command.name
    # Nothing else is touched.
    for r in monitor.registered:
        if r.type != REMOTE_COMMAND:
            assert PRIVATE_KEY_INPUT not in r.ignore_changes, r.name


def test_the_missing_key_shows_no_change_in_the_preview(deployed, key_file):
    key_file.unlink()  # same config, same path: only the file is not there (a CI runner)
    preview = run_prod(prod_values(key_file), preview=True)
    old, new = inputs_by_urn(deployed), inputs_by_urn(preview)
    assert set(old) == set(new)
    ignored = {r.urn: r.ignore_changes for r in preview.registered}
    changed_before_ignore = [urn for urn in new if old[urn] != new[urn]]
    # Without ignoreChanges every remote Command would show as an update (the check is not vacuous)...
    assert changed_before_ignore and all(REMOTE_COMMAND in urn for urn in changed_before_ignore), changed_before_ignore
    # ...with it, the engine hands the provider the deployed key: no resource differs, the docker provider included.
    for urn in new:
        assert after_ignore_changes(old[urn], new[urn], ignored[urn]) == old[urn], urn
    docker = [urn for urn in new if "pulumi:providers:docker" in urn]
    assert docker and all(new[urn] == old[urn] for urn in docker)


def test_with_the_key_file_a_preview_ignores_nothing(key_file):
    # `pulumi up`'s own preview, on a machine with the key: a rotated key must reach the commands.
    monitor = run_prod(prod_values(key_file), preview=True)
    for command in monitor.by_type(REMOTE_COMMAND):
        assert PRIVATE_KEY_INPUT not in command.ignore_changes, command.name
        assert harness.unwrap(command.inputs["connection"])["privateKey"] == harness.MOCK_SSH_PRIVATE_KEY


def test_up_without_the_key_file_still_refuses_with_the_config_error(tmp_path):
    missing = tmp_path / "no-such-key"
    with pytest.raises(ConfigError) as err:
        run_prod(prod_values(missing), preview=False)
    assert f"{NS}:oci.sshPrivateKeyFile" in str(err.value)
    assert str(missing) in str(err.value)
