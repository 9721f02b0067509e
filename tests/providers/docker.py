"""kreuzwerker/terraform-provider-docker v4.5.0 (commit 5074970c), the upstream of pulumi-docker 5.x.

Paths are under internal/provider/; C = resource_docker_container.go, F = its _funcs.go.
Create ends with Read (F:673), so what Read stores is the state the next `up` diffs against.
Update applies only restart, max_retry_count, cpu_shares, memory, memory_reservation,
cpu_set, memory_swap and device limits, in one ContainerUpdate call (F:1016-1068).
"""
from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from tests.providers.model import Fact, ResourceFacts

TAG = "@v4.5.0"


def _src(where: str) -> str:
    return f"{where}{TAG}"


def nano_cpus_to_decimal_string(nano: int) -> str:
    """Python twin of nanoInt64ToDecimalString (helpers.go:133-149): how Read stores `cpus`.

    ``big.Rat.FloatString(9)``, then "1.0" when the string holds exactly nine zeros,
    else trailing zeros trimmed: 1 -> "1.0", 0.5 -> "0.5", 10 -> "10.", 1.25 -> "1.25".
    """
    if nano == 0:
        return "0"
    exact = Decimal(nano) / Decimal(10**9)
    nine = f"{exact:.9f}"
    if nine.count("0") == 9:
        # big.Rat.FloatString rounds halves away from zero: 0.05 -> "0.1".
        return str(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    return nine.rstrip("0")


def cpus_read_back(sent: str) -> str:
    # ParseCPUs (docker/cli opts) turns the string into NanoCPUs exactly (big.Rat), F:354-360.
    return nano_cpus_to_decimal_string(int(Fraction(sent) * 10**9))


def _duration_read_back(sent: str) -> str:
    """time.ParseDuration on create, Duration.String() on read (F:139-164, F:960-971): "90s" -> "1m30s"."""
    units = {"h": 3600, "m": 60, "s": 1}
    seconds = sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([hms])", sent))
    assert re.fullmatch(r"(\d+[hms])+", sent), f"not a whole-second Go duration: {sent!r}"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _healthcheck_read_back(sent: dict) -> dict:
    durations = ("interval", "timeout", "startPeriod")
    return {k: _duration_read_back(v) if k in durations else v for k, v in sent.items()}


def _holds_data(inputs) -> str | None:
    volumes = inputs.get("volumes") or []
    if volumes:
        names = ", ".join(sorted(v["volumeName"] for v in volumes))
        return f"runs on data volume(s) {names}: a replacement restarts it, the data stays"
    return None


REPLACE = "replace"

CONTAINER = ResourceFacts(
    type="docker:index/container:Container",
    stateful=_holds_data,
    fields={
        "name": Fact(REPLACE, _src("C:50-55")),
        "image": Fact(REPLACE, _src("C:141-146; F:837-845 (a sha256: id is stored as sent)")),
        "command": Fact(REPLACE, _src("C:163-170; F:849")),
        "entrypoints": Fact(REPLACE, _src("C:172-179; F:850")),
        "envs": Fact(REPLACE, _src("C:590-598 (set; never re-read, F:893-898)"), unordered=True),
        "restart": Fact("update", _src("C:230-236; F:1052-1057")),
        "wait": Fact("state", _src("C:79-84; used by create only, F:590-628")),
        "waitTimeout": Fact("state", _src("C:86-91; F:614")),
        # Neither force-new nor in the update list: a changed healthcheck never reached the
        # container (fixed upstream only after v4.5.0, issue #988 / PR #989). The program sets
        # replace_on_changes on it (components/container.py).
        "healthcheck": Fact("dropped", _src("C:1045-1096; F:139-164"), read_back=_healthcheck_read_back),
        "memory": Fact("update", _src("C:842-847; F:932, F:1034")),
        # Read stores what Docker reports; -1 on a host without swap-limit support (moby
        # daemon_unix.go:429-431). Ubuntu 24.04 and Docker Desktop have it: an assumption, see README.
        "memorySwap": Fact("update", _src("C:856-861; F:940-944, F:1060-1067")),
        "cpus": Fact(REPLACE, _src("C:1158-1163 (ForceNew, no DiffSuppressFunc); F:946-948; helpers.go:133-149"), read_back=cpus_read_back),
        "logDriver": Fact(REPLACE, _src("C:886-892; F:951")),
        # The daemon merges daemon.json log-opts in when the driver is its default (moby daemon/logs.go:199-205);
        # the VM's daemon.json sets the same two keys the program sends, so nothing extra appears.
        "logOpts": Fact(REPLACE, _src("C:894-899; F:952, F:983-989")),
        "securityOpts": Fact(REPLACE, _src("C:291-299; F:854"), unordered=True),
        "privileged": Fact(REPLACE, _src("C:656-661; F:900")),
        "capabilities": Fact(REPLACE, _src("C:262-290; F:870-878")),
        "shmSize": Fact(REPLACE, _src("C:863-870; F:945 (MB)")),
        "destroyGraceSeconds": Fact("state", _src("C:827-831; used on delete, F:1085-1098")),
        "stopTimeout": Fact(REPLACE, _src("C:321-327; F:54-58, F:978")),
        # Read stores the engine's Config.StopSignal, which moby keeps as the text it was given.
        "stopSignal": Fact(REPLACE, _src("C:314-320; F:75, F:977")),
        "volumes": Fact(REPLACE, _src("C:434-481 (never re-read, F:882)"), unordered=True),
        "uploads": Fact(REPLACE, _src("C:987-1043"), unordered=True),
        "networksAdvanced": Fact(REPLACE, _src("C:909-972 (kept as sent, F:786-796)"), unordered=True),
        # Sorted by internal port on read, reordering suppressed (C:534). With network_mode
        # host Docker drops the bindings and Read stores [] (F:797-806): never sent then.
        "ports": Fact(REPLACE, _src("C:487-535; F:797-806"), unordered=True),
        "hosts": Fact(REPLACE, _src("C:537-559; F:884-886"), unordered=True),
        # "container:<name or short id>" reads back as the full 64-hex id (moby daemon_unix.go:385-412);
        # the program sends container.id, the full id.
        "networkMode": Fact(REPLACE, _src("C:901-907; F:954")),
    },
)

IMAGE = ResourceFacts(
    type="docker:index/remoteImage:RemoteImage",
    fields={
        "name": Fact(REPLACE, _src("resource_docker_image.go:36-41")),
        # Force-new, but a re-create finds the tag already local and does not pull again
        # (resource_docker_image_funcs.go:343-378): only a new name reliably pulls.
        "platform": Fact(REPLACE, _src("resource_docker_image.go:90-96")),
        "keepLocally": Fact("update", _src("resource_docker_image.go:55-59; funcs 187-192")),
        # A set of one block whose every field is force-new (context 344-348, build_args 285-289,
        # platform 428-432); Read never touches it (resource_docker_image_funcs.go:103-132), so it
        # reads back as sent. A changed build replaces the image, and the new image ID the container.
        "build": Fact(REPLACE, _src("resource_docker_image.go:76-82")),
    },
)


def _volume_data(inputs) -> str:
    return f"docker volume {inputs.get('name')}: replacing or deleting it loses its data"


VOLUME = ResourceFacts(
    type="docker:index/volume:Volume",
    stateful=_volume_data,
    fields={"name": Fact(REPLACE, _src("resource_docker_volume.go:41-47"))},
)

NETWORK = ResourceFacts(
    type="docker:index/network:Network",
    fields={
        # No UpdateContext at all (resource_docker_network.go:17-20): every field is force-new.
        "name": Fact(REPLACE, _src("resource_docker_network.go:25-30")),
        "driver": Fact(REPLACE, _src("resource_docker_network.go:40-46")),
    },
)

# Provider config: the schema has no ForceNew field (provider.go, grep), and configuring never
# dials the engine (provider.go:201-255). A changed host or ssh_opts is a provider update.
PROVIDER = ResourceFacts(
    type="pulumi:providers:docker",
    fields={
        "host": Fact("update", _src("provider.go:45")),
        "sshOpts": Fact("update", _src("provider.go:65")),
        # A set of blocks; read by configure only (provider.go:239-245), no resource holds it.
        "registryAuth": Fact("update", _src("provider.go:104-160"), unordered=True),
    },
)

ALL = (CONTAINER, IMAGE, VOLUME, NETWORK, PROVIDER)
