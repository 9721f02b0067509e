"""Applies what the program declares to the real Docker engine, standing in for the plugins that
cannot be built here.

`pulumi up` needs pulumi-language-python and the docker, random and command provider plugins; the Go
module proxy these machines reach refuses all four (scripts/probe-plugin-sources). So these tests run
the program under the SDK's own mock monitor, as the unit tests do, but the mocks *do the work*: each
registration is carried out at once against the real engine, the way the provider's Create does it:

- docker:index/container:Container -> ContainerCreate, NetworkDisconnect("bridge") + NetworkConnect per
  networks_advanced entry with its aliases, one CopyToContainer per upload, ContainerStart, then (wait=true)
  inspect until Health.Status is healthy within wait_timeout
  (kreuzwerker/terraform-provider-docker internal/provider/resource_docker_container_funcs.go:40-630@v4.5.0);
- docker:index/network:Network and Volume -> NetworkCreate / VolumeCreate;
- docker:index/remoteImage:RemoteImage -> the local image of that exact name (findImage /
  searchLocalImages in resource_docker_image_funcs.go@v4.5.0); with no registry, a missing one fails; with a
  ``build`` block, first a build of its context on the engine (buildImage, the legacy builder's ImageBuild);
- command:local:Command -> `interpreter + [create]` with stdin, as pulumi-command's local Create runs it;
- command:remote:Command -> the same script over real SSH with the connection's user, host, port and
  private key, the host key checked (ssh_known_hosts);
- random:RandomPassword / RandomString -> a real random value with the same character rules.

A second `up` (``previous=`` the first one's resources) decides each resource's operation with the provider
model (tests/providers: read-back form, then update / replace / dropped per field, honouring the program's
ignore_changes and replace_on_changes) and carries that out on the engine: a replaced container is removed
first when the program asks for delete_before_replace and created anew on the same volumes; without it (a
zero-downtime app revision: components/container.CreateFirst) the new one is created beside the old one and the
old one is deleted only once the whole program has completed, in the engine's post-steps, and not at all when
the program fails (deployment_executor.go:326-331 and 486-501, step.go:466-472@v3.259.0); an updated one gets ContainerUpdate
(memory, memory_swap, restart: resource_docker_container_funcs.go:1034-1067@v4.5.0), an updated command runs
its `update` script, an unchanged resource keeps its id and outputs (a random password keeps its value).

What this cannot show, and only a real `pulumi up` can: whether the real provider's Diff and Read agree
with that model (no change on a second up, update-or-replace on a change), the engine's ordering beyond
data and depends_on edges, state files. The model is what decides here, so these tests show what the
engine does with the model's plan (data survives, day-2 commands work), not that the plan is right.
Every input the program sends is translated or refused: an input this applier does not know fails the
deploy, so a new provider argument cannot be silently dropped here.
"""
from __future__ import annotations

import os
import secrets
import string
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from tests import harness
from tests.deploy import engine_api as api
from tests.providers import REGISTRY
from tests.providers.model import outcome, planned_changes, read_back

CONTAINER_INPUTS = {
    "name", "image", "command", "entrypoints", "envs", "restart", "wait", "waitTimeout", "healthcheck",
    "memory", "memorySwap", "cpus", "logDriver", "logOpts", "securityOpts", "privileged", "capabilities",
    "shmSize", "destroyGraceSeconds", "stopTimeout", "stopSignal", "volumes", "uploads", "networksAdvanced",
    "ports", "hosts", "networkMode",
}
# Marks what these tests created, the one thing they add to the provider's requests: leftovers of an
# interrupted run are removed by it, and a user's own stack of the same names is never touched (stacks.py).
TEST_LABEL = "backing-services.deploy-test"
NESTED_INPUTS = {
    "healthcheck": {"tests", "interval", "timeout", "retries", "startPeriod"},
    "capabilities": {"adds"},
    "volumes": {"containerPath", "volumeName"},
    "uploads": {"file", "content", "executable"},
    "networksAdvanced": {"name", "aliases"},
    "ports": {"internal", "external", "ip", "protocol"},
    "hosts": {"host", "ip"},
}
MIB = 1024 * 1024


def go_duration_ns(text: str) -> int:
    """Go's time.ParseDuration for the forms the program writes ("10s", "1m0s", "1h2m3s")."""
    total, number = 0, ""
    units = {"h": 3600, "m": 60, "s": 1}
    for ch in text:
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in units:
            total += float(number) * units[ch]
            number = ""
        else:
            raise ValueError(f"unsupported duration {text!r}")
    if number:
        raise ValueError(f"duration {text!r} has no unit")
    return int(total * 1_000_000_000)


def container_request(inputs: dict[str, Any], image_id: str) -> tuple[dict, list[dict]]:
    """The ContainerCreate body the provider builds from these inputs, and the networks to connect."""
    unknown = set(inputs) - CONTAINER_INPUTS
    for key, allowed in NESTED_INPUTS.items():
        value = inputs.get(key)
        for item in value if isinstance(value, list) else [value] if isinstance(value, dict) else []:
            unknown |= {f"{key}.{k}" for k in set(item) - allowed}
    if unknown:
        raise NotImplementedError(f"container input(s) {sorted(unknown)} are not applied by tests/deploy/engine.py")
    hc = inputs.get("healthcheck")
    ports = inputs.get("ports") or []
    host = {
        "RestartPolicy": {"Name": inputs.get("restart", "no")},
        "LogConfig": {"Type": inputs.get("logDriver", "json-file"), "Config": inputs.get("logOpts") or {}},
        "SecurityOpt": inputs.get("securityOpts") or None,
        "Privileged": bool(inputs.get("privileged", False)),
        "CapAdd": (inputs.get("capabilities") or {}).get("adds") or None,
        "Binds": [f"{v['volumeName']}:{v['containerPath']}" for v in inputs.get("volumes") or []] or None,
        "PortBindings": {
            f"{int(p['internal'])}/{p.get('protocol', 'tcp')}": [{"HostIp": p.get("ip", "0.0.0.0"), "HostPort": str(int(p["external"]))}]
            for p in ports
        } or None,
        "ExtraHosts": [f"{h['host']}:{h['ip']}" for h in inputs.get("hosts") or []] or None,
        "Init": False,  # hostConfig.Init = &init, default false (funcs.go:367-368)
    }
    if "memory" in inputs:
        host["Memory"] = int(inputs["memory"]) * MIB
    if "memorySwap" in inputs:
        swap = int(inputs["memorySwap"])
        host["MemorySwap"] = swap * MIB if swap > 0 else swap
    if inputs.get("shmSize"):
        host["ShmSize"] = int(inputs["shmSize"]) * MIB
    if "cpus" in inputs:
        host["NanoCpus"] = round(float(inputs["cpus"]) * 1_000_000_000)
    # network_mode has Default "bridge" (resource_docker_container.go:901-907), so the provider always sends
    # one (funcs.go:392-398); networks_advanced then moves the container off "bridge" after create.
    host["NetworkMode"] = inputs.get("networkMode") or "bridge"
    config = {
        "Image": image_id,
        "Cmd": inputs.get("command") or None,
        "Entrypoint": inputs.get("entrypoints") or None,
        "Env": inputs.get("envs") or None,
        "ExposedPorts": {f"{int(p['internal'])}/{p.get('protocol', 'tcp')}": {} for p in ports} or None,
        "StopSignal": inputs.get("stopSignal") or None,
        # GetOk: an unset or 0 stop_timeout is not sent, leaving Docker's default (funcs.go:54-58).
        "StopTimeout": int(inputs["stopTimeout"]) if inputs.get("stopTimeout") else None,
    }
    config = {k: v for k, v in config.items() if v is not None}
    config["HostConfig"] = {k: v for k, v in host.items() if v is not None}
    if hc:
        config["Healthcheck"] = {
            "Test": hc["tests"],
            "Interval": go_duration_ns(hc.get("interval", "0s")),
            "Timeout": go_duration_ns(hc.get("timeout", "0s")),
            "Retries": int(hc.get("retries", 0)),
            "StartPeriod": go_duration_ns(hc.get("startPeriod", "0s")),
        }
    return config, list(inputs.get("networksAdvanced") or [])


def random_text(inputs: dict[str, Any]) -> str:
    """terraform-provider-random's character rules: the enabled sets, each min_* met, then shuffled."""
    length = int(inputs["length"])
    sets = {
        "upper": (inputs.get("upper", True), int(inputs.get("minUpper", 0)), string.ascii_uppercase),
        "lower": (inputs.get("lower", True), int(inputs.get("minLower", 0)), string.ascii_lowercase),
        "numeric": (inputs.get("numeric", inputs.get("number", True)), int(inputs.get("minNumeric", 0)), string.digits),
        "special": (inputs.get("special", True), int(inputs.get("minSpecial", 0)),
                    inputs.get("overrideSpecial") or "!@#$%&*()-_=+[]{}<>:?"),
    }
    chars = [secrets.choice(alphabet) for on, low, alphabet in sets.values() if on for _ in range(low)]
    pool = "".join(alphabet for on, _, alphabet in sets.values() if on)
    chars += [secrets.choice(pool) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


@dataclass
class Created:
    type: str
    name: str  # the Pulumi resource name (unique per type in this program: tests/golden)
    id: str
    inputs: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Options:
    ignore_changes: tuple[str, ...] = ()
    replace_on_changes: tuple[str, ...] = ()
    protect: bool = False
    retain_on_delete: bool = False
    delete_before_replace: bool = False


class EngineMonitor(harness.RecordingMonitor):
    """Hands each registration's options to the mocks before they act (MockResourceArgs has none)."""

    def RegisterResource(self, request):
        self.mocks.options[(request.type, request.name)] = Options(
            tuple(request.ignoreChanges), tuple(request.replaceOnChanges), request.protect, request.retainOnDelete,
            request.deleteBeforeReplace)
        return super().RegisterResource(request)


@dataclass
class EngineMocks(pulumi.runtime.Mocks):
    """pulumi.runtime.Mocks whose new_resource creates the real thing (see the module docstring)."""

    ssh_known_hosts: str | None = None  # the known_hosts file remote commands check the host key against
    previous: list[Created] = field(default_factory=list)  # the last up's resources: this run is a second up
    created: list[Created] = field(default_factory=list)  # what this stack now has, in creation order
    operations: dict[tuple[str, str], str] = field(default_factory=dict)  # (type, name) -> create/update/replace/same
    options: dict[tuple[str, str], Options] = field(default_factory=dict)
    command_log: list[tuple[str, str]] = field(default_factory=list)  # (resource name, stdout)
    # Replaced create-before-delete: the old ones, deleted after the program completes (stacks.deploy).
    replaced: list[Created] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _fallback: harness.RecordingMocks = field(default_factory=harness.RecordingMocks)

    def call(self, args: pulumi.runtime.MockCallArgs):
        return self._fallback.call(args)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if not args.custom:  # a ComponentResource: nothing exists on the engine for it
            return f"{args.name}-component", dict(args.inputs)
        inputs = harness.unwrap(args.inputs)
        key = (args.typ, args.name)
        before = next((c for c in self.previous if (c.type, c.name) == key), None)
        if before is None:
            operation = "create"
        elif args.typ.startswith("pulumi:providers:"):
            operation = "same"
        else:
            opts = self.options.get(key, Options())
            changes = planned_changes(read_back(before.inputs, REGISTRY[args.typ]), inputs, REGISTRY[args.typ],
                                      ignore_changes=list(opts.ignore_changes),
                                      replace_on_changes=list(opts.replace_on_changes))
            operation = outcome(changes) or "same"
        with self._lock:
            self.operations[key] = operation
        # dropped: the new value lands in state only; state: a setting of the provider's own. Neither touches
        # the engine, but both are a change a real preview shows, so they stay visible in `operations`.
        if operation in ("same", "dropped", "state"):
            kept = Created(before.type, before.name, before.id, inputs, before.state)
            with self._lock:
                self.created.append(kept)
            return before.id, before.state
        if operation == "update":
            return self._update(before, inputs)
        if operation == "replace":
            opts = self.options.get(key, Options())
            if opts.protect:  # the engine refuses: "unable to replace resource ... as it is currently marked for protection"
                raise RuntimeError(f"{args.typ} {args.name} is protected and this change would replace it")
            if opts.delete_before_replace:
                # The new one needs its names and ports; a retained one is left on the engine.
                destroy([before], retained_names={before.name} if opts.retain_on_delete else set())
            else:
                with self._lock:
                    self.replaced.append(before)
        rid, state = self._create(args, inputs)
        return rid, state

    def _update(self, before: Created, inputs: dict[str, Any]):
        state = dict(before.state) | inputs
        if before.type == "docker:index/container:Container":
            body = {"RestartPolicy": {"Name": inputs.get("restart", "no")}}
            if "memory" in inputs:
                body["Memory"] = int(inputs["memory"]) * MIB
            if "memorySwap" in inputs:
                swap = int(inputs["memorySwap"])
                body["MemorySwap"] = swap * MIB if swap > 0 else swap  # funcs.go:1060-1064
            api.call("POST", f"/containers/{before.id}/update", body)
        elif before.type in ("command:local:Command", "command:remote:Command"):
            script = inputs.get("update") or inputs["create"]
            run = self._run_local if before.type == "command:local:Command" else self._run_remote
            state |= run(before.name, inputs | {"create": script})
        with self._lock:
            self.created.append(Created(before.type, before.name, before.id, inputs, state))
        return before.id, state

    def removed(self) -> list[Created]:
        """What the last up had and this program no longer declares: a second up deletes it."""
        now = {(c.type, c.name) for c in self.created}
        return [c for c in self.previous if (c.type, c.name) not in now]

    def _create(self, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any]):
        typ = args.typ
        state = dict(inputs)
        if typ.startswith("pulumi:providers:"):
            rid = f"{args.name}-provider"  # configuring a provider touches nothing (provider.go:201-255@v4.5.0)
        elif typ == "docker:index/network:Network":
            rid = api.call("POST", "/networks/create", {"Name": inputs["name"], "Driver": inputs.get("driver", "bridge"),
                                                        "CheckDuplicate": True, "Labels": {TEST_LABEL: "1"}})["Id"]
        elif typ == "docker:index/volume:Volume":
            rid = api.call("POST", "/volumes/create", {"Name": inputs["name"], "Labels": {TEST_LABEL: "1"}})["Name"]
        elif typ == "docker:index/remoteImage:RemoteImage" and inputs.get("build"):
            # Built on the engine from the repository's context: relative to the project directory, where
            # the engine starts providers (components/container.ImageBuild).
            build = inputs["build"]
            rid = api.build(str(harness.ROOT / build["context"]), tag=inputs["name"], buildargs=build.get("buildArgs") or {},
                            platform=build.get("platform"), labels={TEST_LABEL: "1"})
            state |= {"imageId": rid, "repoDigest": ""}
        elif typ == "docker:index/remoteImage:RemoteImage":
            rid = api.image_id(inputs["name"])
            if rid is None:
                raise RuntimeError(f"image {inputs['name']} is not on this engine and there is no registry: run scripts/build-images")
            state |= {"imageId": rid, "repoDigest": ""}
        elif typ == "docker:index/container:Container":
            return self._run_container(args.name, inputs, state), state
        elif typ == "command:local:Command":
            state |= self._run_local(args.name, inputs)
            rid = f"{args.name}-{secrets.token_hex(4)}"
        elif typ == "command:remote:Command":
            state |= self._run_remote(args.name, inputs)
            rid = f"{args.name}-{secrets.token_hex(4)}"
        elif typ in ("random:index/randomPassword:RandomPassword", "random:index/randomString:RandomString"):
            state["result"] = random_text(inputs)
            rid = args.name
        else:
            raise NotImplementedError(f"{typ} is not applied by tests/deploy/engine.py")
        with self._lock:
            self.created.append(Created(typ, args.name, rid, inputs, state))
        return rid, state

    def _run_container(self, name: str, inputs: dict[str, Any], state: dict[str, Any]) -> str:
        config, networks = container_request(inputs, inputs["image"])
        config["Labels"] = {TEST_LABEL: "1"}
        cid = api.call("POST", "/containers/create", config, query={"name": inputs["name"]})["Id"]
        with self._lock:  # recorded before start, so a failed start is still cleaned up
            self.created.append(Created("docker:index/container:Container", name, cid, inputs, state))
        if networks:
            try:
                api.call("POST", "/networks/bridge/disconnect", {"Container": cid, "Force": False})
            except api.EngineError as err:
                if "is not connected" not in str(err):
                    raise
            for net in networks:
                api.call("POST", f"/networks/{net['name']}/connect",
                         {"Container": cid, "EndpointConfig": {"Aliases": net.get("aliases") or []}})
        for up in inputs.get("uploads") or []:
            mode = 0o744 if up.get("executable") else 0o644
            api.upload(cid, up["file"], up["content"].encode(), mode)
        api.call("POST", f"/containers/{cid}/start")
        if inputs.get("wait"):
            self._wait_healthy(inputs["name"], cid, int(inputs.get("waitTimeout", 60)))
        return cid

    @staticmethod
    def _wait_healthy(name: str, cid: str, timeout_s: int) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = api.inspect_container(cid)["State"]
            if state.get("Health", {}).get("Status") == "healthy":
                return
            time.sleep(1)
        logs = subprocess.run(["docker", "logs", "--tail", "30", cid], capture_output=True, text=True)
        health = (api.inspect_container(cid)["State"].get("Health") or {}).get("Log", [])[-2:]
        raise RuntimeError(
            f"container {name} failed to be in healthy state in {timeout_s} s\n"
            f"last health checks: {health}\nlogs:\n{logs.stdout}{logs.stderr}"
        )

    def _run_local(self, name: str, inputs: dict[str, Any]) -> dict[str, str]:
        argv = list(inputs.get("interpreter") or ["/bin/sh", "-c"]) + [inputs["create"]]
        env = os.environ | {k: str(v) for k, v in (inputs.get("environment") or {}).items()}
        return self._finish(name, subprocess.run(argv, input=inputs.get("stdin"), capture_output=True, text=True,
                                                 env=env, timeout=600))

    def _run_remote(self, name: str, inputs: dict[str, Any]) -> dict[str, str]:
        """The script over SSH with the connection the program declares: its host, port, user and private key
        (written to a 0600 file for ssh), the host key checked against ``ssh_known_hosts``."""
        conn = inputs["connection"]
        with tempfile.TemporaryDirectory() as tmp:
            key = Path(tmp) / "key"
            key.write_text(conn["privateKey"])
            key.chmod(0o600)
            argv = ["ssh", "-p", str(int(conn.get("port", 22))), "-i", str(key), "-o", "BatchMode=yes",
                    "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes"]
            if self.ssh_known_hosts:
                argv += ["-o", f"UserKnownHostsFile={self.ssh_known_hosts}"]
            argv += [f"{conn['user']}@{conn['host']}", inputs["create"]]
            done = subprocess.run(argv, input=inputs.get("stdin"), capture_output=True, text=True, timeout=600)
        return self._finish(name, done)

    def _finish(self, name: str, done: subprocess.CompletedProcess) -> dict[str, str]:
        if done.returncode != 0:
            raise RuntimeError(f"command {name} exited {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}")
        with self._lock:
            self.command_log.append((name, done.stdout))
        return {"stdout": done.stdout, "stderr": done.stderr}


def destroy(created: list[Created], retained_names: set[str]) -> None:
    """`pulumi destroy` in reverse creation order: containers stopped with their grace period and removed
    (with their anonymous volumes: remove_volumes defaults to true), networks removed, named volumes removed
    unless retained (retain_on_delete). Images are kept (keep_locally)."""
    for item in reversed(created):
        if item.type == "docker:index/container:Container":
            grace = int(item.inputs.get("destroyGraceSeconds", 0))
            api.call("POST", f"/containers/{item.id}/stop", query={"t": grace}, ok_missing=True, timeout=grace + 60)
            api.call("DELETE", f"/containers/{item.id}", query={"v": "true", "force": "true"}, ok_missing=True)
        elif item.type == "docker:index/network:Network":
            api.call("DELETE", f"/networks/{item.id}", ok_missing=True)
        elif item.type == "docker:index/volume:Volume" and item.name not in retained_names:
            api.call("DELETE", f"/volumes/{item.id}", ok_missing=True)
