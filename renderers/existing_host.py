"""How the deploy reaches a machine the team already runs (a Raspberry Pi, a VPS): Docker over SSH.

Nothing is installed or changed on the machine besides the containers: it must already run Docker, and the
SSH user must be in its `docker` group (Kamal's `kamal server bootstrap` or get.docker.com do both).
"""
from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import shlex
import struct

from renderers.names import LINUX_USER
from renderers.remote_host import sslip_domain

_HOSTNAME = re.compile(r"(?=.{1,253}\Z)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")

# Run over SSH before anything is deployed: a clear failure instead of the docker provider's dial error.
_ENGINE_COMMAND = (
    "command -v docker >/dev/null || { echo 'Docker is not installed on this host: install it first "
    "(curl -fsSL https://get.docker.com | sh), then add this user to the docker group' >&2; exit 1; }; "
    "docker info >/dev/null || { echo \"$(id -un) cannot reach the Docker engine: sudo usermod -aG docker "
    "$(id -un), log in again, and run pulumi up again\" >&2; exit 1; }"
)

# What `uname -m` (docker info's Architecture, daemon/info.go:65@v28.5.2 platform.Architecture()) says
# on a machine that runs each host.platform's images.
ENGINE_ARCHITECTURES = {"linux/arm64": ("aarch64", "arm64"), "linux/amd64": ("x86_64", "amd64")}

# What every container's limits need from the engine, read from `docker info --format '{{json .}}'`
# (field names: api/types/system/info.go:22-49@v28.5.2, CPUCfsQuota as "CpuCfsQuota"). Without the
# memory cgroup (Raspberry Pi OS boots with cgroup_disable=memory) Docker discards each memory limit
# with a warning and runs the container unlimited (daemon/daemon_unix.go:423-426@v28.5.2), reads back
# memory 0, and every refresh shows a diff; without swap accounting it drops the swap cap ("Memory
# limited without swap", :428-430); without CFS bandwidth it refuses --cpus. The limits are what the
# capacity checks count on (config/capacity.py), so a machine that cannot enforce them is refused here.
_LIMIT_CHECKS = (
    (
        '"MemoryLimit":true',
        "the kernel has no memory cgroup, so Docker would drop every container's memory limit. On Raspberry "
        "Pi OS add 'cgroup_enable=memory cgroup_memory=1' to the one line of /boot/firmware/cmdline.txt "
        "(/boot/cmdline.txt before bookworm), reboot, and run pulumi up again",
    ),
    (
        '"SwapLimit":true',
        "the kernel has no swap accounting, so Docker would not cap containers' swap at their memory limit. "
        "Enable the memory cgroup as above; on a cgroup v1 kernel also add 'swapaccount=1' to the kernel "
        "command line, reboot, and run pulumi up again",
    ),
    (
        '"CpuCfsQuota":true',
        "the kernel has no CPU CFS quota (CONFIG_CFS_BANDWIDTH), so Docker refuses CPU limits: run a kernel "
        "built with it, reboot, and run pulumi up again",
    ),
)


def ready_command(platform: str, *, clickhouse: bool = False) -> str:
    """POSIX sh, run over SSH before anything is deployed: Docker answers and can enforce the limits,
    and with ClickHouse to run, the CPU can run its image (clickhouse_cpu_check).

    Every failed check prints its fix; all of them are printed before the command exits 1. The JSON is
    matched as text (no jq on a stock Pi): docker prints it compact, so `"Key":value` has no spaces.
    """
    architectures = ENGINE_ARCHITECTURES[platform]
    checks = "".join(
        f"case $info in *{shlex.quote(needle)}*) ;; *) echo {shlex.quote('Not ready: ' + fix)} >&2; ok=1 ;; esac; "
        for needle, fix in _LIMIT_CHECKS
    )
    wanted = " or ".join(architectures)
    arch_fix = (
        f"host.platform is {platform}, so images are pulled for it, but this engine runs on $arch: set "
        "host.platform to the machine's platform (linux/arm64 for aarch64, linux/amd64 for x86_64), or install "
        f"the 64-bit OS the images need ({wanted})"
    )
    return (
        f"{_ENGINE_COMMAND}; "
        "info=$(docker info --format '{{json .}}') || exit 1; ok=0; "
        f"{checks}"
        r"""arch=$(printf '%s\n' "$info" | sed -n 's/.*"Architecture":"\([^"]*\)".*/\1/p'); """
        f"case $arch in {'|'.join(architectures)}) ;; *) echo \"Not ready: {arch_fix}\" >&2; ok=1 ;; esac; "
        + (f"{clickhouse_cpu_check()}; " if clickhouse else "")
        + "exit $ok"
    )


# ClickHouse's arm64 packages (and so the image) are compiled with
# ``-march=armv8.2-a+simd+crypto+dotprod+ssbs+rcpc+bf16`` unless built with NO_ARMV81_OR_HIGHER, whose comment names
# the Raspberry Pi 4 as the hardware only that compat profile runs on (cmake/cpu_features.cmake as the search index
# holds it, a version with X86_ARCH_LEVEL whose commit it does not name; the copy stored at ClickHouse/ClickHouse@002c8d3a
# predates the aarch64 profiles). Issues #50852 and #66021 (clickhouse-server image on a Pi 4: "Illegal instruction"
# from its entrypoint) and #54911 (a maintainer: the DEB and RPM packages are built only for modern servers).
# The same file's own build-host check greps /proc/cpuinfo for ``atomic``. The features below are how the arm64
# kernel's /proc/cpuinfo names three the compiler may use anywhere: atomics (LSE, ARMv8.1), asimddp (dotprod),
# lrcpc (RCpc, LDAPR). A Pi 4's Cortex-A72 and a Pi 3's Cortex-A53 (ARMv8.0) have none of them; a Pi 5's
# Cortex-A76 and Ampere's Neoverse N1 have all three. (ssbs and bf16 are not checked: Neoverse N1, the OCI VM's
# CPU, lists no bf16, and the compiler emits BF16 instructions only for code written with them.)
CLICKHOUSE_CPU_FEATURES = ("atomics", "asimddp", "lrcpc")
CPUINFO = "/proc/cpuinfo"


def clickhouse_cpu_check(cpuinfo: str = CPUINFO) -> str:
    """Shell that fails, saying what to change, on an arm64 CPU ClickHouse's image cannot run on.

    Only ARM kernels write ``Features`` lines (x86's are ``flags``): elsewhere the check passes. ``cpuinfo`` is a
    parameter for the tests, which run it on sample files of real boards.
    """
    if not re.fullmatch(r"/[A-Za-z0-9._/-]+", cpuinfo):
        raise ValueError(f"cpuinfo: {cpuinfo!r} is not an absolute path of [A-Za-z0-9._/-]")
    features = " ".join(CLICKHOUSE_CPU_FEATURES)
    return (
        f"if grep -q '^Features' {cpuinfo}; then missing=; for f in {features}; do "
        f"grep -Eq '^Features[[:space:]]*:.*[[:space:]]'\"$f\"'([[:space:]]|$)' {cpuinfo} || missing=\"$missing $f\"; "
        "done; if [ -n \"$missing\" ]; then echo \"This host's CPU lacks$missing, which ClickHouse's arm64 image is "
        "built for (ARMv8.2: a Raspberry Pi 4 or 3 is ARMv8.0 and ClickHouse dies there with SIGILL). Turn it off: "
        "pulumi config set --path analytics.enabled false (and host.board raspberry-pi-4 so the next preview "
        "refuses it), or run ClickHouse on a Pi 5 or another ARMv8.2 machine.\" >&2; exit 1; fi; fi"
    )


def _check(user: str, address: str) -> None:
    if not LINUX_USER.fullmatch(user):
        raise ValueError(f"user: {user!r} is not a valid Linux user name")
    if not _HOSTNAME.fullmatch(address):
        ipaddress.ip_address(address)  # raises for anything that is neither a host name nor an IP address


def docker_host(user: str, address: str, port: int) -> str:
    """The docker provider's ``host``: ssh://user@host[:port] (docker's connhelper reads the port from it)."""
    _check(user, address)
    host = f"[{address}]" if ":" in address else address
    return f"ssh://{user}@{host}" + (f":{port}" if port != 22 else "")


def default_domain(address: str) -> str:
    """What the gateway serves when no domain is configured: the host's name, or <ip>.sslip.io for an IPv4."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    return sslip_domain(str(ip)) if ip.version == 4 else address


# The host key types both SSH paths pin the same way. pulumi-command parses `hostKey` with
# ssh.ParseAuthorizedKey and then offers only that key's type (HostKeyAlgorithms = publicKey.Type(),
# provider/pkg/provider/remote/connection.go:88-94@v1.2.1), which golang.org/x/crypto sends as it is
# (ssh/handshake.go:165-168, :546@v0.48.0, provider/go.mod:14@v1.2.1). For RSA that is "ssh-rsa", the
# SHA-1 signature OpenSSH's sshd no longer offers by default (myproposal.h:41-57 KEX_DEFAULT_PK_ALG has
# only rsa-sha2-*@V_9_2_P1), so RSA is not taken: every sshd since OpenSSH 6.5 has an ed25519 host key.
# A mismatch is x/crypto's "ssh: host key mismatch" (ssh/client.go:258-266@v0.48.0) on the
# pulumi-command path and OpenSSH's "Host key verification failed." on docker's (tests/real/test_ssh_real.py).
HOST_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")


def host_key_problem(line: str) -> str | None:
    """Why ``line`` is not an OpenSSH public host key both SSH paths accept, or None.

    The key blob starts with its own type as an SSH string (RFC 4253 section 6.6); a pasted line whose
    blob disagrees with its type name would pass a pattern but fail ssh.ParseAuthorizedKey at `up`.
    """
    parts = line.split()
    if len(parts) < 2:
        return "expected '<type> <base64 key>', e.g. a line of `ssh-keyscan -t ed25519 <address>` without the address"
    kind, blob = parts[0], parts[1]
    if kind not in HOST_KEY_TYPES:
        return f"the key type must be one of {', '.join(HOST_KEY_TYPES)} (`ssh-keyscan -t ed25519 <address>`)"
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return "the key is not valid base64"
    if len(raw) < 4:
        return "the key is too short"
    (size,) = struct.unpack(">I", raw[:4])
    if raw[4 : 4 + size] != kind.encode():
        return f"the key's data is not a {kind} key"
    return None


def pinned_host_key(line: str) -> str:
    """``<type> <base64>``: the line without its comment, as both paths are given it."""
    problem = host_key_problem(line)
    if problem is not None:
        raise ValueError(f"host key: {problem}")
    kind, blob = line.split()[:2]
    return f"{kind} {blob}"


# ssh's ControlPersist: how long the shared connection stays open after its last session ends.
CONTROL_PERSIST_SECONDS = 60
# The control socket's name: %C is 40 hex digits (a SHA-1), and while binding, the master adds a
# 17-character random suffix (mux.c muxserver_listen@V_9_2_P1). A socket path has at most 103 characters
# on macOS (sun_path[104]; 107 on Linux), and a longer one makes ssh exit 255 ("too long for Unix domain
# socket", seen in tests/real/test_ssh_real.py), so the name is short and the directory is checked.
CONTROL_SOCKET_NAME = "bs-%C"
_SUN_PATH_MAX = 103


def control_dir_fits(directory: str) -> bool:
    """Whether ssh can bind the control socket in ``directory`` (already ~-expanded) on macOS and Linux alike."""
    return len(directory.rstrip("/")) + 1 + len("bs-") + 40 + 17 <= _SUN_PATH_MAX


def docker_ssh_opts(*, host_key: str, private_key_file: str | None, control_dir: str | None) -> list[str]:
    """The docker provider's ``ssh_opts``: OpenSSH verifying the pinned key, over one shared connection.

    docker's ssh helper runs ``ssh -l USER [-p PORT] <these> -o ConnectTimeout=30 -T -- HOST docker system
    dial-stdio`` with this process's environment (cli/connhelper/ssh/ssh.go:103-135, connhelper.go:48-62,
    commandconn/commandconn.go:49-52@v28.5.2), each element one argument.

    Host key: no known_hosts file is read (the user's may hold an old key for the address, or none);
    KnownHostsCommand prints the one pinned line for the name ssh looks up (%H), split into arguments
    without a shell (sshconnect.c:868-888@V_9_2_P1; OpenSSH >= 8.5), and StrictHostKeyChecking=yes
    refuses any other key instead of prompting. HostKeyAlgorithms offers only the pinned key's type,
    as pulumi-command does. BatchMode: never prompt (there is no terminal under `pulumi up`).

    Multiplexing: every docker API call dials anew through ssh; in a parallel `up` that is many
    handshakes at once, which sshd's MaxStartups (default 10:30:100) starts dropping
    (kreuzwerker/terraform-provider-docker#262). ControlMaster=auto makes the first ssh the master
    and the rest sessions on its connection; a stale socket is unlinked and replaced
    (mux.c:2285@V_9_2_P1). %C is a hash of the local host, remote host, port and user, so stacks
    and machines do not share a master. Without a directory short enough for the socket (``control_dir``
    None), each call has its own connection, as before.

    Authentication: with a key file, only that key (IdentitiesOnly); ssh still signs with the agent when
    it holds that key, which is how a key with a passphrase works. Without one (host.sshAgent), the
    agent's keys.
    """
    kind = pinned_host_key(host_key).split()[0]
    opts = [
        "-o", "StrictHostKeyChecking=yes",
        "-o", "UserKnownHostsFile=/dev/null",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", f"KnownHostsCommand=/bin/echo %H {pinned_host_key(host_key)}",
        "-o", f"HostKeyAlgorithms={kind}",
        "-o", "BatchMode=yes",
    ]  # fmt: skip
    if control_dir is not None:
        opts += [
            "-o", "ControlMaster=auto",
            "-o", f"ControlPath={control_dir.rstrip('/')}/{CONTROL_SOCKET_NAME}",
            "-o", f"ControlPersist={CONTROL_PERSIST_SECONDS}",
        ]  # fmt: skip
    if private_key_file is not None:
        opts += ["-o", "IdentitiesOnly=yes", "-i", private_key_file]
    return opts


def mdns_name_problem(address: str) -> str | None:
    """Why ``address`` cannot be the one address both SSH paths dial, or None.

    pulumi-command is built with CGO_ENABLED=0, so Go's own resolver answers it: /etc/hosts and DNS,
    never mDNS; docker's ssh path uses the system resolver (getaddrinfo), which on a laptop resolves
    `.local` over mDNS. A `.local` name would reach the machine on one path and fail (or reach another)
    on the other; an IP address is the same for both.
    """
    if address.rstrip(".").endswith(".local") or address == "local":
        return (
            "a .local name is resolved over mDNS, which pulumi-command (built without cgo) cannot do: give the "
            "machine's IP address (`ping -c1 " + address + "` or the router's DHCP list shows it; reserve it there)"
        )
    return None
