"""Pulumi mocks that record everything a program asks for.

Inputs reach the mocks in engine form (camelCase keys, numbers as floats, secrets
wrapped). Resource options (protect, ignoreChanges, ...) are not part of
MockResourceArgs, so a MockMonitor subclass captures them from the raw request.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import runpy
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "backing-services"
MOCK_PUBLIC_IP = "203.0.113.10"
MOCK_NAMESPACE = "mocknamespace"


@dataclass
class Registered:
    urn: str
    type: str
    name: str
    inputs: dict[str, Any]
    custom: bool
    parent: str
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    ignore_changes: list[str]
    replace_on_changes: list[str]
    additional_secret_outputs: list[str]
    dependencies: list[str]
    aliases: list[Any]
    provider: str
    on_error_hooks: list[str] = field(default_factory=list)  # names of registered ErrorHooks


def mock_password(name: str) -> str:
    # Long enough for every consumer's minimum (LiveKit wants >= 32 characters).
    return f"MockPw{name.replace('-', '')}9".ljust(40, "x")


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        state = dict(args.inputs)
        typ = args.typ
        if typ in ("random:index/randomPassword:RandomPassword", "random:index/randomString:RandomString"):
            state["result"] = mock_password(args.name)
        elif typ == "docker:index/remoteImage:RemoteImage":
            # Like the real provider, the id follows the image reference, so a new tag changes it.
            digest = hashlib.sha256(str(args.inputs.get("name")).encode()).hexdigest()
            state["imageId"] = f"sha256:{digest}"
            state["repoDigest"] = f"{args.inputs.get('name')}@sha256:{'0' * 64}"
        elif typ == "oci:Core/vcn:Vcn":
            state["defaultSecurityListId"] = f"{args.name}-default-security-list-id"
        elif typ == "oci:Core/instance:Instance":
            # assign_public_ip "false": the address is the reserved IP's (targets/oci_public_ip.py).
            state["publicIp"] = ""
            # A new instance (here: in another AD) is a new VNIC with another private IP, as in OCI.
            first_ad = str(args.inputs.get("availabilityDomain", "")).endswith("AD-1")
            state["privateIp"] = "10.0.0.2" if first_ad else "10.0.0.3"
        elif typ == "oci:Core/publicIp:PublicIp":
            state["ipAddress"] = MOCK_PUBLIC_IP
        elif typ == "oci:Identity/customerSecretKey:CustomerSecretKey":
            state["key"] = "MockOciSecretKeyValue9"
        elif typ == "docker:index/network:Network":
            state.setdefault("name", args.name)
        elif typ in ("command:local:Command", "command:remote:Command") and args.name.endswith("-port-slot"):
            # What the slot picker prints on a first `up`, with no gateway or upstream file yet
            # (renderers/app_slot.py): the slot after apps[].port, read off its choice line.
            first, second = re.search(r'= (\d+) \]; then next=(\d+); else next=\1; fi', str(args.inputs["create"])).groups()
            state["stdout"] = f"{self.port_slot(int(first), int(second))}\n"
        elif typ in ("command:local:Command", "command:remote:Command") and args.name.endswith("-app-token"):
            # What the app-token script prints (renderers/influxdb.py render_app_token_script): the token, a newline.
            state["stdout"] = MOCK_INFLUX_APP_TOKEN + "\n"
        return f"{args.name}-id", state

    def port_slot(self, port: int, rollout_port: int) -> int:
        """The slot a picker prints; a subclass answers as if the gateway already pointed at rollout_port."""
        return rollout_port

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.calls.append((args.token, args.args))
        token = args.token.lower()
        if "getavailabilitydomains" in token:
            return {
                "availabilityDomains": [
                    {"name": "Uocm:EU-FRANKFURT-1-AD-1", "id": "ad1", "compartmentId": args.args.get("compartmentId")},
                    {"name": "Uocm:EU-FRANKFURT-1-AD-2", "id": "ad2", "compartmentId": args.args.get("compartmentId")},
                ],
                "compartmentId": args.args.get("compartmentId"),
                "id": "ads",
            }
        if "getimages" in token:
            return {
                "images": [
                    {
                        "id": "ocid1.image.oc1.eu-frankfurt-1.newest",
                        "displayName": "Canonical-Ubuntu-24.04-aarch64-2026.10.31-0",
                        "operatingSystem": "Canonical Ubuntu",
                        "operatingSystemVersion": "24.04",
                    }
                ],
                "compartmentId": args.args.get("compartmentId"),
                "id": "images",
            }
        if "getprivateips" in token:
            return {
                "privateIps": [{"id": f"ocid1.privateip.oc1.eu-frankfurt-1.{args.args.get('ipAddress')}",
                                "ipAddress": args.args.get("ipAddress")}],
                "ipAddress": args.args.get("ipAddress"),
                "subnetId": args.args.get("subnetId"),
                "id": "private-ips",
            }
        if "getnamespace" in token:
            return {"namespace": MOCK_NAMESPACE, "id": "ns"}
        raise NotImplementedError(f"unexpected invoke {args.token}")


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.registered: list[Registered] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registered.append(
                Registered(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    inputs=rpc.deserialize_properties(request.object),
                    custom=request.custom,
                    parent=request.parent,
                    protect=request.protect,
                    retain_on_delete=request.retainOnDelete,
                    delete_before_replace=request.deleteBeforeReplace,
                    ignore_changes=list(request.ignoreChanges),
                    replace_on_changes=list(request.replaceOnChanges),
                    additional_secret_outputs=list(request.additionalSecretOutputs),
                    dependencies=list(request.dependencies),
                    aliases=list(request.aliases),
                    provider=request.provider,
                    on_error_hooks=list(request.hooks.on_error),
                )
            )
        return response

    def by_type(self, typ: str) -> list[Registered]:
        return [r for r in self.registered if r.type == typ]

    def one(self, name: str) -> Registered:
        found = [r for r in self.registered if r.name == name]
        assert len(found) == 1, f"expected one resource named {name}, found {[r.urn for r in found]}"
        return found[0]


def install_mocks(
    stack: str = "dev", mocks: pulumi.runtime.Mocks | None = None, monitor_type: type = RecordingMonitor
) -> RecordingMonitor:
    """Fresh mocks and a fresh root stack, so no state leaks between tests."""
    monitor = monitor_type(mocks or RecordingMocks())
    settings.set_root_resource(None)
    pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    return monitor


def stack_file_config(stack: str) -> dict[str, Any]:
    """The `config:` block of Pulumi.<stack>.yaml, keys still namespaced."""
    doc = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    return dict(doc.get("config") or {})


def engine_form(values: dict[str, Any]) -> dict[str, str]:
    """Config the way the engine hands it to a program: objects JSON-encoded, scalars as strings."""
    return {
        key: json.dumps(value) if isinstance(value, (dict, list)) else str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in values.items()
    }


def raw_config(values: dict[str, Any]) -> dict[str, str]:
    """Engine-form config with the namespace stripped: what config.parse_stack_config takes."""
    return {key.split(":", 1)[1]: value for key, value in engine_form(values).items()}


def set_config(values: dict[str, Any], secret_keys: list[str] = ()) -> None:
    pulumi.runtime.set_all_config(engine_form(values), list(secret_keys))


def run_program() -> None:
    """Evaluate __main__.py as `pulumi up` would."""
    runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")


def exported() -> dict[str, pulumi.Output]:
    """The program's `pulumi.export`s, as Outputs (resolve them inside a @pulumi.runtime.test)."""
    root = settings.get_root_resource()
    return {name: pulumi.Output.from_input(value) for name, value in root.outputs.items()}


def normalized_urn(urn: str) -> str:
    """The URN as the real engine writes it: the mocks prefix top-level types with the Stack's."""
    return urn.replace("::pulumi:pulumi:Stack$", "::")


def unwrap(value: Any) -> Any:
    """Strip secret wrappers, keeping the plain values (to search them)."""
    if rpc.is_rpc_secret(value):
        return unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def plaintext_strings(value: Any) -> list[str]:
    """Every string in ``value`` that is NOT inside a secret wrapper."""
    if rpc.is_rpc_secret(value):
        return []
    if isinstance(value, dict):
        return [s for v in value.values() for s in plaintext_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in plaintext_strings(v)]
    return [value] if isinstance(value, str) else []


MOCK_SSH_PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nMockPrivateKeyMaterialForTests9\n-----END OPENSSH PRIVATE KEY-----\n"
# Not a real key; written at run time so no key-shaped file is committed. A fixed path keeps inputs stable.
# The Pi's SSH host key as `ssh-keyscan -t ed25519` prints it (a real ed25519 key, no one's machine).
MOCK_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGdwqvtEL0yTHss4s/bpjqeu+04saYG63ghfUd9wmT/s"
MOCK_INFLUX_APP_TOKEN = "MockInfluxAppTokenScopedToBuckets=="
MOCK_SSH_KEY_FILE = Path(tempfile.gettempdir()) / "backing-services-tests" / "id_ed25519"


def mock_ssh_key_file(name: str = MOCK_SSH_KEY_FILE.name) -> str:
    path = MOCK_SSH_KEY_FILE.parent / name
    path.parent.mkdir(parents=True, exist_ok=True)
    other = name != MOCK_SSH_KEY_FILE.name
    text = MOCK_SSH_PRIVATE_KEY.replace("Mock", "MockNext") if other else MOCK_SSH_PRIVATE_KEY
    # Test runs in parallel (two checkouts, CI beside a developer) share this path. A truncating write_text
    # let another run's program read a half-written key, so its remote commands planned a spurious change
    # (seen in test_readme_table_is_the_matrix). Written once, atomically: a reader sees the whole file or none.
    if not path.exists() or path.read_text() != text:
        staged = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        staged.write_text(text)
        os.replace(staged, path)
    return str(path)


PROD_PERSONAL_CONFIG = {
    "compartmentId": "ocid1.compartment.oc1..aaaaaaaaexamplecompartment",
    "userId": "ocid1.user.oc1..aaaaaaaaexampleuser",
    "region": "eu-frankfurt-1",
    "sshPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyMaterial user@laptop",
    "adminCidrs": ["198.51.100.7/32"],
}


def on_a_pi() -> tuple[tuple[str, Any], ...]:
    """What moves the dev stack onto a Raspberry Pi the team already has (the existing-host target)."""
    return (
        ("target", "host"),
        ("domain", "mirror.example.com"),
        ("gateway", {"acmeEmail": "ops@example.com"}),
        ("mediaServer", {"enabled": False}),
        ("host", {"address": "pi.home.arpa", "sshUser": "pi", "sshPrivateKeyFile": mock_ssh_key_file(), "hostKey": MOCK_HOST_KEY}),
    )


def stack_config_as_user_sets_it(stack: str) -> dict[str, Any]:
    """Pulumi.<stack>.yaml plus what the README tells a user to `pulumi config set` themselves."""
    values = stack_file_config(stack)
    if stack == "prod":
        values[f"{PROJECT}:oci"] = {
            **values[f"{PROJECT}:oci"],
            **PROD_PERSONAL_CONFIG,
            "sshPrivateKeyFile": mock_ssh_key_file(),
        }
        values[f"{PROJECT}:gateway"] = {**values[f"{PROJECT}:gateway"], "acmeEmail": "ops@example.com"}
    return values


@dataclass
class Evaluation:
    monitor: RecordingMonitor
    outputs: dict[str, Any]  # exported values, secrets unwrapped
    secret_outputs: set[str]  # names of exports that are secret


def evaluate(
    stack: str,
    values: dict[str, Any] | None = None,
    secret_keys: list[str] = (),
    mocks: pulumi.runtime.Mocks | None = None,
    monitor_type: type = RecordingMonitor,
) -> Evaluation:
    """Run __main__.py once under fresh mocks and return what it registered and exported.

    The inner function carries @pulumi.runtime.test, so every Output is awaited. ``mocks`` replaces the
    recording mocks, e.g. with tests/deploy/engine.py's, which carry each registration out on the engine.
    """
    monitor = install_mocks(stack, mocks, monitor_type)
    set_config(stack_config_as_user_sets_it(stack) if values is None else values, list(secret_keys))
    result: dict[str, Any] = {}
    secret: set[str] = set()

    @pulumi.runtime.test
    def run():
        run_program()
        outputs = exported()

        def record(name: str, output: pulumi.Output):
            async def is_secret():
                if await output.is_secret():
                    secret.add(name)

            return pulumi.Output.all(output, pulumi.Output.from_input(is_secret())).apply(
                lambda vals: result.__setitem__(name, vals[0])
            )

        return pulumi.Output.all(*[record(n, o) for n, o in outputs.items()])

    run()
    return Evaluation(monitor, result, secret)
