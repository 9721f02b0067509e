"""Environment for a team's own app containers: `${service.output}` references, resolved.

Values in `apps[].env` may name another service's output, e.g.
`DATABASE_URL: ${database.url}`; everything else is taken literally. The loader refuses
a reference to an unknown name or to a service that is turned off, so resolving never fails
for a config it let through.

Another app is referenced by its name: `${apps.config-service.url}` is the internal http URL that
app is reached at on this target (its alias on a bridge network, 127.0.0.1 with host networking).
"""
from __future__ import annotations

import re
from collections.abc import Mapping

# The variable an app is told to listen at (apps[].bindAddress). Apps choose their own listen
# address; HOST is the name SvelteKit's adapter-node server reads by itself (svelte.dev/docs/kit/adapter-node:
# "HOST=127.0.0.1 PORT=4000 node build"), and any other app reads it in its command (`--host "$HOST"`).
APP_BIND_ADDRESS_ENV = "HOST"
# The variable a zero-downtime app under host networking is told to listen on (apps[].rolloutPort): its
# revisions alternate between apps[].port and apps[].rolloutPort (renderers/app_slot.py). PORT is the name
# Heroku, Cloud Run and Kamal-style platforms set, which Node (`process.env.PORT`), SvelteKit's adapter-node and
# many frameworks read by themselves; any other app reads it in its command (`--port "$PORT"`).
APP_PORT_ENV = "PORT"

# `${service.output}`, or `${apps.<app name>.<output>}` (app names are DNS labels, so they may hold '-').
REFERENCE = re.compile(r"\$\{(apps\.[A-Za-z0-9-]+\.[A-Za-z0-9]+|[A-Za-z0-9]+\.[A-Za-z0-9]+)\}")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Every name an app may reference, and the service (config section) that provides it.
# URLs and addresses are the container's view: the service's alias on a laptop's bridge
# network, 127.0.0.1 on the VM's host network.
PROVIDERS = {
    "database.url": "database",
    "database.host": "database",
    "database.port": "database",
    "database.name": "database",
    "database.user": "database",
    "database.password": "database",
    "database.poolerUrl": "database.pooler",
    "cache.url": "cache",
    "s3.endpoint": "objectStore",
    "s3.region": "objectStore",
    "s3.bucket": "objectStore",
    "s3.accessKey": "objectStore",
    "s3.secretKey": "objectStore",
    "livekit.url": "mediaServer",
    "livekit.apiKey": "mediaServer",
    "livekit.apiSecret": "mediaServer",
    "public.url": "gateway",
    "analytics.url": "analytics",
    "timeSeries.url": "timeSeries",
    "timeSeries.token": "timeSeries",
    "timeSeries.org": "timeSeries",
    "timeSeries.bucket": "timeSeries",
}


# What an app offers other apps: `${apps.<name>.<output>}`.
APP_OUTPUTS = ("url",)


def app_reference(ref: str) -> tuple[str, str] | None:
    """(app name, output) of an `apps.<name>.<output>` reference; None for a service's."""
    head, _, rest = ref.partition(".")
    if head != "apps":
        return None
    name, _, output = rest.rpartition(".")
    return name, output


def app_url(address: str) -> str:
    """The URL another app reaches an app at: plain http to its `host:port` (the gateway terminates TLS)."""
    return f"http://{address}"


def references(value: str) -> list[str]:
    return REFERENCE.findall(value)


def resolve_env(env: Mapping[str, str], values: Mapping[str, str]) -> list[str]:
    """Docker's `KEY=value` list, every reference replaced by its value."""
    resolved = []
    for name, template in env.items():
        if not ENV_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not an environment variable name")
        text = REFERENCE.sub(lambda m: values[m.group(1)], template)
        if "\x00" in text:
            raise ValueError(f"{name}: a value cannot hold NUL")
        resolved.append(f"{name}={text}")
    return resolved
