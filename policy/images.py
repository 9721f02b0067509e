"""Image references: which service an image is, whether it is pinned, and the rules about that."""
from __future__ import annotations

from dataclasses import dataclass

from pulumi_policy import ReportViolation, ResourceValidationArgs

from .props import known
from .resource_types import DOCKER_CONTAINER, DOCKER_REMOTE_IMAGE

# The services whose ports must never leave loopback, by image repository. This is the
# one list; rules that need to recognise a database, cache or object store use it.
DATA_SERVICE_REPOSITORIES = frozenset(
    {"postgres", "redis", "versity/versitygw", "clickhouse/clickhouse-server", "influxdb", "ghcr.io/cloudnative-pg/pgbouncer"}
)

# Docker Hub's implicit prefixes: "postgres", "library/postgres" and
# "docker.io/library/postgres" are the same repository.
_HUB_PREFIXES = ("index.docker.io/", "docker.io/", "library/")


@dataclass(frozen=True)
class ImageRef:
    repository: str  # Docker Hub prefixes removed
    tag: str | None  # None: Docker pulls "latest"
    digest: str | None  # "sha256:..."


def parse_image(reference: str) -> ImageRef:
    name, _, digest = reference.partition("@")
    # A ':' after the last '/' starts the tag; one before it belongs to a registry's port.
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    tag = None
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1 :]
    for prefix in _HUB_PREFIXES:
        name = name.removeprefix(prefix)
    return ImageRef(repository=name, tag=tag, digest=digest or None)


def is_image_id(reference: str) -> bool:
    """A content-addressed image ID (what a container gets from a RemoteImage), pinned by nature."""
    return reference.startswith("sha256:")


def pin_problem(reference: str) -> str | None:
    """Why ``reference`` may pull different images over time, or None when it cannot.

    A digest pins the content. Without one, the tag must name a version: "latest",
    no tag at all, or a word like "alpine" or "stable" moves with every release.
    """
    ref = parse_image(reference)
    if ref.tag == "latest":
        return f"{reference!r} uses the 'latest' tag"
    if ref.digest is not None:
        return None
    if ref.tag is None:
        return f"{reference!r} has no tag, so Docker pulls 'latest'"
    if not any(c.isdigit() for c in ref.tag):
        return f"{reference!r}: tag {ref.tag!r} names no version, so it moves with every release"
    return None


def _references(args: ResourceValidationArgs) -> list[str]:
    """The image references a resource names in plain text.

    A container made from a RemoteImage gets the image's ID, known only after the
    pull (unknown in a preview): the RemoteImage's own name is checked instead.
    """
    if args.resource_type == DOCKER_REMOTE_IMAGE:
        return [str(args.props.get("name"))]
    if args.resource_type == DOCKER_CONTAINER:
        image = known(args.props, "image")
        if isinstance(image, str) and not is_image_id(image):
            return [image]
    return []


def images_pinned(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for reference in _references(args):
        problem = pin_problem(reference)
        if problem is not None:
            report_violation(f"{args.name}: {problem}; use a version tag like 'postgres:18.1-alpine'")


def images_pinned_by_digest(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """A tag can be re-pushed; only a digest makes every pull the same bytes."""
    for reference in _references(args):
        if parse_image(reference).digest is None:
            report_violation(f"{args.name}: {reference!r} is not pinned by digest (append '@sha256:<digest>')")
