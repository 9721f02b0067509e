"""The same containers as a docker-compose file, for the deploy benchmark's peer (`docker-compose up`).

Pure: the containers the program declared (their engine-form inputs, as tests/deploy/engine.py applied them)
in, the compose file's text and the upload files it mounts out. Compose file format 2.4, which Debian's
docker-compose 1.29 reads with per-service cpus, mem_limit and healthcheck start_period.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

UPLOADS_DIR = "uploads"


@dataclass(frozen=True)
class Service:
    name: str  # the container's name (the program's `name` input)
    inputs: dict[str, Any]  # engine-form inputs, secrets unwrapped
    image: str  # the image reference (the inputs carry its id)
    id: str = ""  # the container's id where it ran: another's network_mode "container:<id>" names it


def _literal(values) -> list[str]:
    """Compose interpolates `$VAR` in every string; `$$` is a literal `$` (the shell scripts keep theirs)."""
    return [str(v).replace("$", "$$") for v in values]


def _int(value: Any) -> int:
    return int(float(value))


def render(services: list[Service], network_names: list[str], volume_names: list[str]) -> tuple[str, dict[str, str]]:
    """(docker-compose.yml text, {relative path: content} of the files it bind-mounts)."""
    files: dict[str, str] = {}
    by_id: dict[str, str] = {}
    out: dict[str, Any] = {}
    for svc in services:
        i = svc.inputs
        spec: dict[str, Any] = {"image": svc.image, "container_name": svc.name, "restart": i.get("restart", "no")}
        if i.get("entrypoints"):
            spec["entrypoint"] = _literal(i["entrypoints"])
        if i.get("command"):
            spec["command"] = _literal(i["command"])
        if i.get("envs"):
            spec["environment"] = _literal(i["envs"])
        if "memory" in i:
            spec["mem_limit"] = f"{_int(i['memory'])}m"
        if "memorySwap" in i:
            spec["memswap_limit"] = f"{_int(i['memorySwap'])}m"
        if "cpus" in i:
            spec["cpus"] = float(i["cpus"])
        if i.get("shmSize"):
            spec["shm_size"] = f"{_int(i['shmSize'])}m"
        if i.get("securityOpts"):
            spec["security_opt"] = list(i["securityOpts"])
        if (i.get("capabilities") or {}).get("adds"):
            spec["cap_add"] = list(i["capabilities"]["adds"])
        if i.get("logDriver"):
            spec["logging"] = {"driver": i["logDriver"], "options": dict(i.get("logOpts") or {})}
        if i.get("stopSignal"):
            spec["stop_signal"] = i["stopSignal"]
        if "stopTimeout" in i:
            spec["stop_grace_period"] = f"{_int(i['stopTimeout'])}s"
        if i.get("hosts"):
            spec["extra_hosts"] = [f"{h['host']}:{h['ip']}" for h in i["hosts"]]
        if i.get("ports"):
            spec["ports"] = [f"{p.get('ip', '0.0.0.0')}:{_int(p['external'])}:{_int(p['internal'])}/{p.get('protocol', 'tcp')}"
                             for p in i["ports"]]
        hc = i.get("healthcheck")
        if hc:
            spec["healthcheck"] = {"test": _literal(hc["tests"]), "interval": hc.get("interval", "30s"),
                                   "timeout": hc.get("timeout", "30s"), "retries": _int(hc.get("retries", 3)),
                                   "start_period": hc.get("startPeriod", "0s")}
        volumes = [f"{v['volumeName']}:{v['containerPath']}" for v in i.get("volumes") or []]
        for n, up in enumerate(i.get("uploads") or []):
            rel = f"{UPLOADS_DIR}/{svc.name}/{n}"
            files[rel] = up["content"]
            volumes.append(f"./{rel}:{up['file']}:ro")
        if volumes:
            spec["volumes"] = volumes
        mode = i.get("networkMode") or ""
        if mode.startswith("container:"):
            target = mode.split(":", 1)[1]
            spec["network_mode"] = f"service:{by_id.get(target, target)}"
        elif mode:
            spec["network_mode"] = mode
        else:
            spec["networks"] = {n["name"]: {"aliases": list(n.get("aliases") or [])} for n in i.get("networksAdvanced") or []}
        out[svc.name] = spec
        by_id[svc.id] = svc.name
    doc = {
        "version": "2.4",
        "services": out,
        "networks": {n: {"name": n} for n in network_names},
        "volumes": {v: {"name": v} for v in volume_names},
    }
    return yaml.safe_dump(doc, sort_keys=False), files
