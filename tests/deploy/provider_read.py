"""What the docker provider's Read stores for a container, computed from the real engine's inspect output.

A transcription of resourceDockerContainerRead's d.Set calls for the fields this program sends
(kreuzwerker/terraform-provider-docker internal/provider/resource_docker_container_funcs.go:836-978,
resource_docker_container_structures.go:35-58 flattenContainerPorts, :441-452 flattenExtraHosts,
helpers.go:133-149 nanoInt64ToDecimalString, all @v4.5.0). Fields Read never sets (envs, volumes,
uploads, networks_advanced once set, and the provider's own wait/destroy_grace_seconds) keep what was sent.

The tests put it next to the provider model's read_back (tests/providers/docker.py): where the real engine's
values make this disagree with the model, the model is wrong.
"""
from __future__ import annotations

from typing import Any

from tests.providers.docker import nano_cpus_to_decimal_string

MIB = 1024 * 1024
NEVER_READ = {"envs", "volumes", "uploads", "networksAdvanced", "wait", "waitTimeout", "destroyGraceSeconds"}


def go_duration_string(ns: int) -> str:
    """time.Duration.String() for whole seconds and below (what healthchecks use)."""
    if ns == 0:
        return "0s"
    seconds, rest = divmod(ns, 1_000_000_000)
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    frac = f".{rest:09d}".rstrip("0") if rest else ""
    if hours:
        return f"{hours}h{minutes}m{secs}{frac}s"
    if minutes:
        return f"{minutes}m{secs}{frac}s"
    return f"{secs}{frac}s"


def read_state(inspect: dict, sent: dict[str, Any]) -> dict[str, Any]:
    """The state Read leaves for ``sent``'s fields, from ``inspect`` (GET /containers/{id}/json)."""
    cfg, host, net = inspect["Config"], inspect["HostConfig"], inspect.get("NetworkSettings") or {}
    state: dict[str, Any] = {k: v for k, v in sent.items() if k in NEVER_READ}
    state["name"] = inspect["Name"].lstrip("/")  # F:823 strings.TrimLeft(container.Name, "/")
    # F:837-845: a sent sha256: id is replaced by .Image, anything else by .Config.Image.
    state["image"] = inspect["Image"] if str(sent.get("image", "")).startswith("sha256:") else cfg["Image"]
    state["command"] = cfg.get("Cmd")
    state["entrypoints"] = cfg.get("Entrypoint")
    state["securityOpts"] = host.get("SecurityOpt")
    state["restart"] = host["RestartPolicy"]["Name"]
    if host.get("CapAdd") or host.get("CapDrop"):
        state["capabilities"] = {"adds": host.get("CapAdd"), "drops": host.get("CapDrop")}
    state["hosts"] = [{"host": h.split(":")[0], "ip": h.split(":")[1]} for h in host.get("ExtraHosts") or []]
    state["privileged"] = host["Privileged"]
    state["memory"] = host["Memory"] // MIB
    swap = host["MemorySwap"]
    state["memorySwap"] = swap // MIB if swap > 0 else swap
    state["shmSize"] = host["ShmSize"] // MIB
    if host.get("NanoCpus", 0) > 0:
        state["cpus"] = nano_cpus_to_decimal_string(host["NanoCpus"])
    state["logDriver"] = host["LogConfig"]["Type"]
    if "logOpts" in sent:  # containerLogOptsForState: only when log_opts is configured
        state["logOpts"] = host["LogConfig"].get("Config") or {}
    state["networkMode"] = host["NetworkMode"]
    hc = cfg.get("Healthcheck")
    if hc:
        state["healthcheck"] = {
            "tests": hc["Test"],
            "interval": go_duration_string(hc.get("Interval", 0)),
            "timeout": go_duration_string(hc.get("Timeout", 0)),
            "startPeriod": go_duration_string(hc.get("StartPeriod", 0)),
            "startInterval": go_duration_string(hc.get("StartInterval", 0)),
            "retries": hc.get("Retries", 0),
        }
    state["stopSignal"] = cfg.get("StopSignal")
    state["stopTimeout"] = cfg.get("StopTimeout")
    # F:797-806: when running or must_run (default true, which this program never changes), and ports is set.
    if "ports" in sent:
        ports = []
        for key in sorted(net.get("Ports") or {}, key=lambda k: (int(k.split("/")[0]), k.split("/")[1])):
            for binding in (net["Ports"][key] or []):
                port, proto = key.split("/")
                ports.append({"internal": int(port), "external": int(binding["HostPort"]), "ip": binding["HostIp"], "protocol": proto})
        state["ports"] = ports
    return state


# Schema defaults Read can store for a field the program leaves unset (resource_docker_container.go@v4.5.0).
DEFAULTS = {"networkMode": "bridge"}  # :901-907
HEALTHCHECK_DEFAULTS = {"startInterval": "0s"}  # :1080-1086


def integral(value: Any) -> Any:
    """Engine-form inputs carry integers as floats (the mocks' wire form); the provider's schema types them int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral(v) for v in value]
    return value


def second_up_disagreements(containers) -> list[str]:
    """For every field the program sends, the value Read stores (from the real inspect output) must equal
    the provider model's read-back (tests/providers/docker.py), and, for a field that updates or replaces,
    equal what the program sends again: otherwise a second `up` would change the container.
    ``containers``: tests/deploy/engine.py Created records."""
    from tests.deploy import engine_api as api
    from tests.providers import docker as docker_facts
    from tests.providers.model import _equal, flatten, read_back

    facts = docker_facts.CONTAINER
    found = []
    for c in containers:
        sent = integral(c.inputs) | {k: v for k, v in DEFAULTS.items() if k not in c.inputs}
        if "healthcheck" in sent:
            sent = sent | {"healthcheck": HEALTHCHECK_DEFAULTS | sent["healthcheck"]}
        observed = flatten(read_state(api.inspect_container(c.id), sent), facts)
        again = flatten(sent, facts)
        for path, model_value in read_back(sent, facts).items():
            fact = facts.fact(path)
            real = observed.get(path)
            if not _equal(fact, real, model_value):
                found.append(f"{c.name} {path}: the engine gives {real!r}, the model {model_value!r} ({fact.source})")
            elif fact.change in ("replace", "update") and not _equal(fact, real, again[path]):
                found.append(f"{c.name} {path}: stored {real!r} differs from what the program sends {again[path]!r}")
    return found
