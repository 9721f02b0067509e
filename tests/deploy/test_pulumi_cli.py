"""What the real Pulumi CLI does with this project's files, commands and scripts, as the README gives them.

These run the CLI built by scripts/install-deploy-tools. They need no language host or provider plugin:
stack creation, config, secrets and stack outputs are the CLI's own work.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pulumi
import pytest

from config.loader import parse_stack_config
from tests import harness
from tests.deploy import cli

CANARY = "canary-7Qz9xK"
STACK_URN = "urn:pulumi:dev::backing-services::pulumi:pulumi:Stack::backing-services-dev"
# apitype.SecretV1's signature key and value (sdk/go/common/apitype/core.go, v3.274.1).
SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}


def test_the_cli_is_not_older_than_the_sdk():
    """The engine of a CLI older than the SDK lacks features the SDK asks for (resource hooks need 3.272)."""
    built = subprocess.run([str(cli.require_cli()), "version"], capture_output=True, text=True, check=True).stdout
    as_tuple = lambda v: tuple(int(p) for p in v.strip().lstrip("v").split("."))  # noqa: E731
    assert as_tuple(built) >= as_tuple(pulumi.__version__ if hasattr(pulumi, "__version__") else _sdk_version())


def _sdk_version() -> str:
    from importlib.metadata import version

    return version("pulumi")


@pytest.fixture
def dev_with_a_secret_output(tmp_path: Path) -> cli.UserCheckout:
    """The dev stack as `scripts/up dev` leaves it: created with the empty passphrase, a secret `env` output.

    The output comes from `pulumi stack import` of a deployment with one plaintext secret, which the CLI
    encrypts with the stack's passphrase before it writes the state (no `up` needed for that)."""
    user = cli.user_checkout(tmp_path)
    made = user.shell(". scripts/stack-env.sh && stack_env dev && pulumi stack select --create dev >/dev/null && "
                      "pulumi stack export --stack dev")
    assert made.returncode == 0, made.stderr
    deployment = json.loads(made.stdout)
    deployment["deployment"]["resources"] = [{
        "urn": STACK_URN, "custom": False, "type": "pulumi:pulumi:Stack",
        "outputs": {"env": SECRET_SIG | {"plaintext": json.dumps(f"DATABASE_URL=postgresql://app:{CANARY}@127.0.0.1:5432/app\n")}},
    }]
    (tmp_path / "deployment.json").write_text(json.dumps(deployment))
    imported = user.shell(f"PULUMI_CONFIG_PASSPHRASE= pulumi stack import --stack dev --file {tmp_path}/deployment.json")
    assert imported.returncode == 0, imported.stderr
    state = (user.home / "state" / ".pulumi" / "stacks" / "backing-services" / "dev.json").read_text()
    assert CANARY not in state, "the CLI kept the secret output in plaintext in the state file"
    return user


def test_a_plain_stack_output_in_a_new_shell_needs_the_passphrase(dev_with_a_secret_output):
    """The defect: the README's `pulumi stack output env --show-secrets > .env`, in a new shell after
    `scripts/up dev`, failed: scripts/up set the passphrase for itself only, and with stdout redirected the CLI
    refuses to prompt (pkg/secrets/passphrase/manager.go:383-401@v3.274.1)."""
    done = dev_with_a_secret_output.shell("pulumi stack output env --show-secrets --stack dev > .env")
    assert done.returncode != 0
    assert "passphrase must be set with PULUMI_CONFIG_PASSPHRASE" in done.stderr


def test_scripts_stack_gives_the_env_file_in_a_new_shell(dev_with_a_secret_output):
    """The README's command after `scripts/up dev`, exactly as written there."""
    command = readme_command("scripts/stack dev stack output env --show-secrets > .env")
    done = dev_with_a_secret_output.shell(command)
    assert done.returncode == 0, done.stderr
    assert f"app:{CANARY}@" in (dev_with_a_secret_output.root / ".env").read_text()


def test_the_readme_dev_teardown_runs_in_a_new_shell(dev_with_a_secret_output):
    """`destroy` reads the stack's secrets too; with only the stack resource in the state it needs no plugin."""
    user = dev_with_a_secret_output
    done = user.shell(readme_command("scripts/stack dev destroy --yes"))
    assert done.returncode == 0, done.stderr
    plain = user.shell("pulumi destroy -s dev --yes")
    assert plain.returncode != 0 and "passphrase must be set" in plain.stderr


def readme_command(command: str) -> str:
    """``command``, after checking the README tells users to run exactly that."""
    readme = (harness.ROOT / "README.md").read_text()
    assert command in readme, f"README no longer gives `{command}`"
    return command


# `pulumi config set` lines the README gives, with placeholders a user fills in.
README_CONFIG_COMMANDS = {
    "pulumi config set --path gateway.httpsPort 8443": {"gateway": {"httpsPort": 8443}},
    "pulumi config set --path gateway.acmeStaging false": {"gateway": {"acmeStaging": False}},
    "pulumi config set --secret registryCredentials '{\"ghcr.io\": {\"username\": \"acme-bot\", \"password\": \"<read-only token>\"}}'":
        {"registryCredentials": {"ghcr.io": {"username": "acme-bot", "password": "<read-only token>"}}},
}


@pytest.mark.parametrize("command", sorted(README_CONFIG_COMMANDS))
def test_a_readme_config_command_reaches_the_loader_as_the_type_it_documents(tmp_path, command):
    """What the real CLI writes for a README `config set` line is what the program's loader accepts,
    with the value type the config reference documents (a number stays a number, `false` a boolean,
    a secret object an object)."""
    readme_command(command)
    user = cli.user_checkout(tmp_path)
    done = user.shell(". scripts/stack-env.sh && stack_env dev && pulumi stack select --create dev >/dev/null && "
                      f"{command} --stack dev && pulumi config --json --show-secrets --stack dev")
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout[done.stdout.index("{"):])
    raw = {key.split(":", 1)[1]: entry["value"] for key, entry in config.items()}
    secret_keys = frozenset(key.split(":", 1)[1] for key, entry in config.items() if entry.get("secret"))
    for key, expected in README_CONFIG_COMMANDS[command].items():
        value = json.loads(raw[key]) if raw[key][:1] in "{[" else raw[key]
        assert _contains(value, expected), f"{command}: the CLI handed {key} over as {raw[key]!r}"
    if "registryCredentials" in raw:
        # A login is refused for a registry no app pulls from: give it one that does (ghcr.io).
        raw["apps"] = json.dumps([{"name": "web", "image": "ghcr.io/acme/web:1.4.2", "port": 3000}])
    parse_stack_config(raw, secret_keys)  # raises listing every problem; none expected


def _contains(value, expected) -> bool:
    if isinstance(expected, dict):
        return isinstance(value, dict) and all(k in value and _contains(value[k], v) for k, v in expected.items())
    return value == expected and type(value) is type(expected)
