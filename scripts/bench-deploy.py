"""Real-deploy benchmark: the program's deploy on the Docker engine beside `docker-compose` with the same services.

    sudo venv/bin/python scripts/bench-deploy.py [STACK ...]

For dev and each Docker-target example (or the stacks named), in one run:
- the program: a cold `up` from empty until every container is healthy, a no-op `up`, `destroy`, as the real-engine
  tests deploy (tests/deploy/engine.py: the SDK's mock monitor, each registration carried out on the engine);
- docker-compose (Debian's 1.29) with a compose file of the same containers, images, healthchecks, volumes and
  uploads (tests/deploy/compose_file.py), written next to the run in a temp dir (it holds the stack's generated
  secrets, so it is never committed): `up -d` until every container is healthy (1.29 has no `--wait`), `up -d`
  again, `down -v`.
Prints each time and the ratio program/compose. Needs the engine and the images (scripts/install-deploy-tools,
scripts/build-images). Caveat, printed too: the program's side is not the Pulumi CLI and plugins (they cannot be
built here, README "Real deploys"); it shows what the program itself costs on top of the containers' own start.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import examples, harness  # noqa: E402
from tests.deploy import compose_file, engine_api as api, stacks  # noqa: E402

HEALTH_TIMEOUT_S = 300


def stacks_to_run(names: list[str]) -> list[tuple[str, dict]]:
    found = [("dev", harness.stack_config_as_user_sets_it("dev"))]
    found += [(e.stack, e.values()) for e in examples.examples() if e.target == "docker"]
    return [s for s in found if not names or s[0] in names]


def timed(fn) -> tuple[float, object]:
    start = time.monotonic()
    result = fn()
    return time.monotonic() - start, result


def wait_healthy(names: list[str]) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        states = [(api.inspect_container(n) or {}).get("State", {}) for n in names]
        if all((s.get("Health") or {}).get("Status") == "healthy" for s in states):
            return
        time.sleep(0.5)
    raise RuntimeError(f"not healthy within {HEALTH_TIMEOUT_S} s: {names}")


def compose_project(deployment: stacks.Deployment, where: Path) -> Path:
    images = {c.id: c.inputs["name"] for c in deployment.mocks.created if c.type == "docker:index/remoteImage:RemoteImage"}
    services = [compose_file.Service(c.inputs["name"], c.inputs, images[c.inputs["image"]], c.id) for c in deployment.containers()]
    nets = [c.inputs["name"] for c in deployment.mocks.created if c.type == "docker:index/network:Network"]
    vols = [c.inputs["name"] for c in deployment.mocks.created if c.type == "docker:index/volume:Volume"]
    text, files = compose_file.render(services, nets, vols)
    (where / "docker-compose.yml").write_text(text)
    for rel, content in files.items():
        (where / rel).parent.mkdir(parents=True, exist_ok=True)
        (where / rel).write_text(content)
    return where / "docker-compose.yml"


def compose(path: Path, *argv: str) -> None:
    done = subprocess.run(["docker-compose", "-p", path.parent.name, "-f", str(path), *argv], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"docker-compose {' '.join(argv)} failed ({path}):\n{done.stderr[-3000:]}")


def bench(stack: str, values: dict, workdir: Path) -> dict[str, float]:
    stacks.remove_leftovers(stack, values)
    t = {}
    t["up"], first = timed(lambda: stacks.deploy(stack, values))
    t["noop"], second = timed(lambda: stacks.deploy(stack, values, previous=first))
    where = workdir / stack.replace("-", "")
    where.mkdir()
    path = compose_project(second, where)
    names = [c.inputs["name"] for c in second.containers()]
    t["destroy"], _ = timed(second.destroy)
    stacks.remove_leftovers(stack, values)
    t["compose_up"], _ = timed(lambda: (compose(path, "up", "-d"), wait_healthy(names)))
    t["compose_noop"], _ = timed(lambda: compose(path, "up", "-d"))
    t["compose_down"], _ = timed(lambda: compose(path, "down", "-v"))
    return t


def main() -> int:
    assert api.reachable(), "no Docker engine: run scripts/install-deploy-tools"
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; Docker {api.call('GET', '/version')['Version']}; "
          f"docker-compose {subprocess.run(['docker-compose', 'version', '--short'], capture_output=True, text=True).stdout.strip()}")
    print("program = __main__.py applied by tests/deploy/engine.py (not the Pulumi CLI: README 'Real deploys')")
    print(f"{'stack':<18} {'up s':>7} {'compose':>8} {'ratio':>6} {'no-op s':>8} {'compose':>8} {'destroy s':>10} {'compose':>8} {'ratio':>6}")
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        for stack, values in stacks_to_run(sys.argv[1:]):
            t = bench(stack, values, Path(tmp))
            print(f"{stack:<18} {t['up']:7.1f} {t['compose_up']:8.1f} {t['up'] / t['compose_up']:6.2f} "
                  f"{t['noop']:8.1f} {t['compose_noop']:8.1f} {t['destroy']:10.1f} {t['compose_down']:8.1f} "
                  f"{t['destroy'] / t['compose_down']:6.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
