"""Which port a zero-downtime app's next revision listens on, under host networking.

On the VM and an existing host every container shares the host's network stack, so a new revision
cannot bind the port the running one holds. Such an app has two ports (apps[].port and
apps[].rolloutPort, config/model.py), its slots, and each revision takes the one the running revision
does not use: blue/green on one host. The program cannot see the running container, so the choice is
made on the host at deploy time by the script below (a pulumi-command Command, components/app.py),
from the one place that says which revision serves: the gateway's upstream file for the app
(renderers/caddyfile.upstream_host_file), which holds `127.0.0.1:<port>` (Route.host_file_has_port).

The script prints the first slot that is not the port the file points at, unless something already
listens on it (a revision whose rollout failed keeps its port: then it fails, saying so). With no file (a gateway
created before this app rolled out zero-downtime, or no gateway container yet: a first `up`) the
current port is taken to be apps[].port: an app that ran with rollout: replace listens there, so the
new revision takes rolloutPort and can start beside it. A gateway container that exists but cannot
run the read (stopped, restarting) fails the script, and with it the `up`, before any new container:
guessing there could start the new revision on the port the old one holds, where the new one's
healthcheck would be answered by the old one.

POSIX sh with only `docker` and shell builtins, as on the Pi and the VM; the read inside the gateway
container is busybox sh in caddy:<version>-alpine. It writes nothing; the switch
(renderers/caddyfile.switch_upstream_command) moves the file only once the new revision is healthy.
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from renderers.app_health import LOOPBACK

_CONTAINER_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_PATH_RE = re.compile(r"(/[A-Za-z0-9._-]+)+")

# The read run inside the gateway: the file's first line, or nothing when there is no file. `$1` is the path.
READ_IN_GATEWAY = 'if [ -e "$1" ]; then cat "$1"; fi'


def _check(slots: Sequence[int]) -> tuple[int, int]:
    if len(slots) != 2 or len(set(slots)) != 2 or not all(isinstance(p, int) and 1 <= p <= 65535 for p in slots):
        raise ValueError(f"slots must be two distinct TCP ports, got {slots!r}")
    return slots[0], slots[1]


def pick_slot_lines(slots: Sequence[int], *, proc_net: str = "/proc/net") -> list[str]:
    """The choice itself, on ``$current`` (the file's first line, or empty): prints the port, exits 1 on junk
    or when something already listens on the chosen port (``proc_net``: the host's /proc/net; a test's own)."""
    first, second = _check(slots)
    if _PATH_RE.fullmatch(proc_net) is None:
        raise ValueError(f"proc_net must be an absolute path, got {proc_net!r}")
    net = shlex.quote(proc_net)
    return [
        'case "$current" in',
        f'\t"") current_port={first};;',
        f'\t{LOOPBACK}:*) current_port="${{current##*:}}";;',
        '\t*) current_port="";;',
        "esac",
        'case "$current_port" in',
        f'\t""|*[!0-9]*) echo "slot pick aborted: the gateway\'s upstream file holds \'$current\', not {LOOPBACK}:<port>" >&2; exit 1;;',
        "esac",
        f'if [ "$current_port" = {first} ]; then next={second}; else next={first}; fi',
        # A listener on the chosen port (state 0A, LISTEN, in the kernel's tables, proc(5) /proc/net/tcp: local
        # address and port in hex) is most likely a revision whose rollout failed: it keeps running under its
        # revision's name and port. A new revision there could not bind it, and its healthcheck would be answered
        # by that one; refuse instead.
        "hex=$(printf '%04X' \"$next\")",
        f'if grep -Eq "^ *[0-9]+: [0-9A-F]+:$hex [0-9A-F]+:[0-9A-F]+ 0A " {net}/tcp {net}/tcp6 2>/dev/null; then',
        '\techo "slot pick aborted: something already listens on port $next, the slot the next revision needs;'
        ' a revision whose rollout failed? find it with docker ps and remove it (docker rm -f <name>-app-<revision>)" >&2',
        "\texit 1",
        "fi",
        'echo "$next"',
    ]


def keep_slot_lines(slots: Sequence[int], *, proc_net: str = "/proc/net") -> list[str]:
    """On ``$current``: print the slot the gateway routes to when it is one of ``slots`` (the serving revision
    listens there: no listener check); otherwise (no file, junk, a port of other slots) pick as pick_slot_lines."""
    first, second = _check(slots)
    return [
        'case "$current" in',
        f"\t{LOOPBACK}:{first}) echo {first}; exit 0;;",
        f"\t{LOOPBACK}:{second}) echo {second}; exit 0;;",
        "esac",
        *pick_slot_lines(slots, proc_net=proc_net),
    ]


def pick_slot_command(*, gateway_container: str, host_file: str, slots: Sequence[int], keep: bool = False) -> str:
    """POSIX sh for the Docker host: print the port the next revision listens on (see the module docstring).

    ``keep``: print the port of the revision the gateway routes to instead, the picker's `update`. pulumi-command
    runs `update` when an input other than `triggers` changes (a new connection: a pinned host key, another key
    file; a new text of this script in a later program version), and its stdout replaces the old one
    (remote/commandController.go:63-83@v1.2.1); printing the other slot there would start a rollout nobody asked
    for. The previous stdout cannot be echoed back: pulumi-command passes it as PULUMI_COMMAND_STDOUT through
    ssh's Setenv (remote/commandOutputs.go:51-60@v1.2.1), which sshd drops unless its AcceptEnv names it
    (Debian's sshd_config accepts only LANG and LC_*)."""
    _check(slots)
    if _CONTAINER_RE.fullmatch(gateway_container) is None:
        raise ValueError(f"gateway_container must be a Docker container name, got {gateway_container!r}")
    if _PATH_RE.fullmatch(host_file) is None:
        raise ValueError(f"host_file must be an absolute path, got {host_file!r}")
    gateway, path = shlex.quote(gateway_container), shlex.quote(host_file)
    return "\n".join([
        "set -eu",
        f"if docker container inspect {gateway} >/dev/null 2>&1; then",
        f"\tif ! text=$(docker exec {gateway} sh -c {shlex.quote(READ_IN_GATEWAY)} sh {path}); then",
        f'\t\techo "slot pick aborted: the gateway container {gateway_container} exists but its {host_file} could not be'
        f' read (is it running?); start it (docker start {gateway_container}) and run pulumi up again" >&2',
        "\t\texit 1",
        "\tfi",
        "else",
        # No gateway container yet: nothing routes to the app; a first `up`.
        '\ttext=""',
        "fi",
        # The first line, without its newline; `|| true`: read fails on a last line with no newline.
        'current=""',
        'if [ -n "$text" ]; then current=$(printf \'%s\\n\' "$text" | { read -r line || true; printf \'%s\' "$line"; }); fi',
        *(keep_slot_lines(slots) if keep else pick_slot_lines(slots)),
        "",
    ])


def parse_slot(stdout: str | None, slots: Sequence[int]) -> int:
    """The picker's stdout (stripped) as the port; anything else is the script's bug, refused loudly."""
    text = (stdout or "").strip()
    if not text.isdigit() or int(text) not in slots:
        raise ValueError(f"the slot picker printed {stdout!r}, not one of the ports {list(slots)}")
    return int(text)
