"""Which registry an image is pulled from, as the docker provider decides it.

The provider looks a pull's credentials up by the registry host it parses out of the image name
(parseImageOptions, internal/provider/resource_docker_image_funcs.go:294-339@v4.5.0): the first path
component when it has a '.' or ':' or is 'localhost' (or the name has more than one '/'), else Docker Hub,
as "registry-1.docker.io". Credentials are stored under the hostname of each registry_auth address
(providerSetToRegistryAuth, provider.go:303-384; canonicalizeRegistryAddress, config.go:238-245).
"""
from __future__ import annotations

DOCKER_HUB = "registry-1.docker.io"
# What people write for Docker Hub, all stored by the provider under DOCKER_HUB here.
DOCKER_HUB_NAMES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


def image_registry(image: str) -> str:
    """The registry host the provider pulls ``image`` from (its twin of parseImageOptions' Registry)."""
    slash = image.find("/")
    if image.count("/") > 1 or (slash != -1 and (any(c in image[:slash] for c in ".:") or image[:slash] == "localhost")):
        return image[:slash]
    return DOCKER_HUB


def auth_address(registry: str) -> str:
    """The registry_auth address for a configured registry host: Docker Hub under the name the provider uses."""
    return DOCKER_HUB if registry in DOCKER_HUB_NAMES else registry
