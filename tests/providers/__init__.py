"""The real providers' behaviour, as read from their pinned source: one registry for every test."""
from tests.providers import docker, oci, others
from tests.providers.model import Registry

REGISTRY = Registry()
REGISTRY.add(*docker.ALL, *oci.ALL, *others.ALL)
