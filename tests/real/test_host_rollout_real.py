"""Zero-downtime rollouts under host networking, through the real Caddy 2.11.7 and real shells.

On the VM and an existing host every revision of an app shares the host's loopback, so each listens
on its own port, apps[].port or apps[].rolloutPort (components/app.py). Here, in the engine's order:

0. the rendered slot picker (renderers/app_slot.pick_slot_command) runs in a real shell, dash (the
   Debian/Raspberry Pi OS /bin/sh) and bash (an SSH login shell), with `docker` a stand-in that runs
   the in-container read under busybox on the very file Caddy reads; it prints the new revision's port;
1. the new app server starts on that port beside the old one (binding the old one's port fails, which
   is the reason for the two slots) and passes the app's healthcheck command, run by sh with the
   host's wget/curl on that port, as Docker runs it in the container on the host's network;
2. the rendered switch script (with_port) writes `127.0.0.1:<port>` into the gateway's upstream file
   under busybox, as `docker exec` runs it in the alpine image;
3. only then does the old server stop.

The Caddyfile is the program's, rendered once (the route dials the file's whole address,
Route.host_file_has_port): a rollout does not reload Caddy. A client loops requests through the
gateway on fresh TLS connections, a second on one keep-alive connection, never retrying, across
several rollouts in a row. A new revision that fails its healthcheck never gets the switch (its
create fails: tests/test_host_rollout.py), and the old one keeps serving.
"""
from __future__ import annotations

import errno
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from components.app import http_healthcheck
from renderers.app_slot import parse_slot, pick_slot_command
from renderers.caddyfile import Route, render_caddyfile, switch_upstream_script

from .caddy_process import Gateway, busybox_bin as make_busybox_bin, caddy_binary, caddy_env, gateway_ready, loopback_config, running_caddy
from .processes import free_tcp_ports
from .processes import serving_in_thread
from .test_app_rollout_real import HEALTH_PATH, KeepAliveClient, LOOP_SECONDS_AFTER, _app_handler, looping_client, wait_for

class AppProcess(ThreadingHTTPServer):
    """An app revision's server; ``kill`` ends it as its container's process ends: listener and connections."""

    daemon_threads = True

    def __init__(self, *args, **kwargs) -> None:
        self.connections: set[socket.socket] = set()
        super().__init__(*args, **kwargs)

    def get_request(self):
        conn, address = super().get_request()
        self.connections.add(conn)
        return conn, address

    def kill(self) -> None:
        self.shutdown()
        self.server_close()
        for conn in list(self.connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()


@contextmanager
def app_server(name: str, address: str, port: int, *, healthy: bool = True) -> Iterator[AppProcess]:
    server = AppProcess((address, port), _app_handler(name, healthy))
    with serving_in_thread(server):
        yield server


ROLLOUTS = 6  # an even number: back on the first slot, having used each slot three times
GATEWAY = "gateway-caddy"

# `docker` as the picker uses it: `container inspect <gw>` says whether the gateway container exists,
# `exec <gw> sh -c <script> sh <file>` runs the read in it. FAKE_GATEWAY: running, stopped or absent.
FAKE_DOCKER = """#!/bin/sh
case "$1 $2" in
"container inspect")
\t[ "$FAKE_GATEWAY" != absent ] && [ "$3" = gateway-caddy ]; exit;;
esac
if [ "$1" = exec ]; then
\t[ "$FAKE_GATEWAY" = running ] || { echo "Error response from daemon: container $2 is not running" >&2; exit 1; }
\tshift 2
\texec "$BUSYBOX" "$@"
fi
echo "fake docker: unexpected $*" >&2
exit 2
"""


@pytest.fixture(scope="module")
def docker_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bindir = tmp_path_factory.mktemp("docker-bin")
    (bindir / "docker").write_text(FAKE_DOCKER)
    (bindir / "docker").chmod(0o755)
    return bindir


@pytest.fixture(scope="module")
def busybox_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_busybox_bin(tmp_path_factory.mktemp("busybox-bin"), caddy_binary())


# dash: Debian's and Raspberry Pi OS's /bin/sh; bash: the usual SSH login shell; busybox ash: a minimal host.
SHELL_ARGV = {"dash": ["/usr/bin/dash"], "bash": ["/usr/bin/bash"], "busybox": ["/usr/bin/busybox", "sh"]}
SHELLS = list(SHELL_ARGV)


def pick(docker_bin: Path, host_file: Path, slots: tuple[int, int], *, shell: str = "dash",
         gateway: str = "running") -> subprocess.CompletedProcess[str]:
    """The rendered picker, as the remote Command runs it on the host."""
    script = pick_slot_command(gateway_container=GATEWAY, host_file=str(host_file), slots=slots)
    busybox = shutil.which("busybox")
    assert busybox, "busybox not installed (apt-get install busybox): the gateway's read runs on busybox"
    path = f"{docker_bin}:/usr/bin:/bin"
    return subprocess.run(
        [*SHELL_ARGV[shell], "-c", script],
        env={"PATH": path, "FAKE_GATEWAY": gateway, "BUSYBOX": busybox},
        capture_output=True, text=True, timeout=30, check=False,
    )




@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(
    "content, picked",
    [
        ("127.0.0.1:3100\n", 3101),  # the running revision on port: the next on rolloutPort
        ("127.0.0.1:3101\n", 3100),  # and back
        ("127.0.0.1:3101", 3100),  # no trailing newline
        ("127.0.0.1:9000\n", 3100),  # a slot from before rolloutPort changed: the first of the current two
        (None, 3101),  # no file: an app from rollout: replace still holds port
    ],
)
def test_the_picker_prints_the_slot_the_file_does_not_point_at(tmp_path, docker_bin, shell, content, picked):
    host_file = tmp_path / "upstream.web"
    if content is not None:
        host_file.write_text(content)
    result = pick(docker_bin, host_file, (3100, 3101), shell=shell)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{picked}\n" and parse_slot(result.stdout, (3100, 3101)) == picked
    # It only reads.
    assert (host_file.read_text() if content is not None else None) == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if content is None else ["upstream.web"])


@pytest.mark.parametrize("shell", SHELLS)
def test_no_gateway_container_yet_is_a_first_up(tmp_path, docker_bin, shell):
    result = pick(docker_bin, tmp_path / "upstream.web", (3100, 3101), shell=shell, gateway="absent")
    assert result.returncode == 0 and result.stdout == "3101\n", result.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_a_gateway_that_cannot_be_read_fails_the_pick_saying_so(tmp_path, docker_bin, shell):
    host_file = tmp_path / "upstream.web"
    host_file.write_text("127.0.0.1:3101\n")
    result = pick(docker_bin, host_file, (3100, 3101), shell=shell, gateway="stopped")
    assert result.returncode == 1 and result.stdout == ""
    assert "slot pick aborted" in result.stderr and "docker start gateway-caddy" in result.stderr


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("content", ["web-app-0123456789\n", "127.0.0.1:\n", "127.0.0.1:31x0\n", "$(id)\n"])
def test_a_file_that_holds_no_loopback_port_fails_the_pick(tmp_path, docker_bin, shell, content):
    host_file = tmp_path / "upstream.web"
    host_file.write_text(content)
    result = pick(docker_bin, host_file, (3100, 3101), shell=shell)
    assert result.returncode == 1 and result.stdout == "", result.stdout
    assert "slot pick aborted" in result.stderr


def healthcheck_passes(port: int) -> bool:
    """The app container's CMD-SHELL healthcheck on its slot, run by sh on the host's loopback."""
    kind, command = http_healthcheck(port, HEALTH_PATH)
    assert kind == "CMD-SHELL" and f"127.0.0.1:{port}" in command
    return subprocess.run(["sh", "-c", command], capture_output=True, timeout=10).returncode == 0


def switch(home: Path, busybox: Path, host_file: Path, dial: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [busybox / "sh", "-c", switch_upstream_script(host_file=str(host_file), with_port=True)],
        input=dial + "\n", env={**caddy_env(home), "PATH": str(busybox)},
        capture_output=True, text=True, timeout=60, check=False,
    )


@contextmanager
def gateway_on(home: Path, port: int, first_port: int) -> Iterator[tuple[Gateway, Path]]:
    host_file = home / "upstream.web"
    # The program's route under host networking: the app's address, its whole dial from the file.
    cfg = loopback_config(home, routes=(Route(path="/app/*", upstream=f"127.0.0.1:{port}", host_file=str(host_file),
                                              host_file_has_port=True),))
    host_file.write_text(f"127.0.0.1:{first_port}\n")  # the gateway container's first-boot upload
    gw = Gateway(cfg=cfg, home=home)
    caddyfile = render_caddyfile(cfg)
    assert f"vars upstream_dial {{file.{host_file}}}" in caddyfile and "reverse_proxy {http.vars.upstream_dial} {" in caddyfile
    with running_caddy(caddyfile, home, ready=lambda: gateway_ready(gw)) as caddy:
        yield gw, host_file
        assert caddy.config.read_text() == caddyfile, "nothing reloaded Caddy"


def test_revisions_alternate_between_the_two_ports_and_not_one_request_fails(tmp_path_factory, docker_bin, busybox_bin):
    home = tmp_path_factory.mktemp("gw")
    slots = tuple(free_tcp_ports(2))
    with ExitStack() as stack:
        # The first revision, as a first `up` left it: the picker printed rolloutPort, the gateway booted on it.
        first = pick(docker_bin, home / "upstream.web", slots, gateway="absent")
        current = parse_slot(first.stdout, slots)
        assert current == slots[1]
        old = stack.enter_context(app_server(f"rev0@{current}", "127.0.0.1", current))
        gw, host_file = stack.enter_context(gateway_on(home, slots[0], current))
        client = stack.enter_context(looping_client(gw))
        keep_alive = stack.enter_context(looping_client(gw, KeepAliveClient))
        wait_for(lambda: len(client.answers) >= 10 and len(keep_alive.answers) >= 10)
        served_order = [f"rev0@{current}"]
        for n in range(1, ROLLOUTS + 1):
            # 0. The picker on the host, reading the file Caddy reads.
            picked = pick(docker_bin, host_file, slots)
            assert picked.returncode == 0, picked.stderr
            port = parse_slot(picked.stdout, slots)
            assert port != current
            # Why two slots: the running revision's port cannot be bound beside it.
            with pytest.raises(OSError) as err:
                stack.enter_context(app_server("clash", "127.0.0.1", current))
            assert err.value.errno == errno.EADDRINUSE
            # 1. The new revision on its slot, healthy first.
            name = f"rev{n}@{port}"
            new = stack.enter_context(app_server(name, "127.0.0.1", port))
            assert healthcheck_passes(port)
            # 2. The switch writes the slot.
            switched = switch(home, busybox_bin, host_file, f"127.0.0.1:{port}")
            assert switched.returncode == 0, switched.stderr
            assert host_file.read_text() == f"127.0.0.1:{port}\n"
            wait_for(lambda: client.served_by()[-1:] == keep_alive.served_by()[-1:] == [f"app={name}"])
            # 3. Only then the old one goes, its connections with it, as its container's process does: two rollouts
            # on, the same port is another revision's, and Caddy's pooled connections must not reach the old one.
            old.kill()
            seen = len(client.answers)
            time.sleep(LOOP_SECONDS_AFTER)
            assert len(client.answers) > seen + 5, "the client kept going"
            old, current = new, port
            served_order.append(name)
        client.stop.set()
        keep_alive.stop.set()

    for looping in (client, keep_alive):
        assert looping.failures() == [], (type(looping).__name__, looping.failures()[:5])
        order = looping.served_in_order()
        assert order == served_order, (type(looping).__name__, order)
    # The two ports, alternating: rolloutPort, port, rolloutPort, ...
    assert [int(s.split("@")[1]) for s in served_order] == [slots[(i + 1) % 2] for i in range(ROLLOUTS + 1)]
    assert keep_alive.connections == 1, "the gateway never closed the keep-alive connection"


def test_a_new_revision_that_fails_its_healthcheck_leaves_the_old_one_serving(tmp_path_factory, docker_bin):
    home = tmp_path_factory.mktemp("gw")
    slots = tuple(free_tcp_ports(2))
    with ExitStack() as stack:
        stack.enter_context(app_server("old", "127.0.0.1", slots[1]))
        gw, host_file = stack.enter_context(gateway_on(home, slots[0], slots[1]))
        client = stack.enter_context(looping_client(gw))
        port = parse_slot(pick(docker_bin, host_file, slots).stdout, slots)
        assert port == slots[0]
        broken = stack.enter_context(app_server("broken", "127.0.0.1", port, healthy=False))
        # Docker's `wait` times out on this: the create fails, the switch never runs.
        assert not healthcheck_passes(port)
        time.sleep(LOOP_SECONDS_AFTER * 2)
        assert host_file.read_text() == f"127.0.0.1:{slots[1]}\n", "the upstream file is untouched"
        # The failed revision keeps running on its slot (its container stays): the next pick, reading this machine's
        # own /proc/net/tcp, refuses rather than start the next revision where it cannot bind.
        retry = pick(docker_bin, host_file, slots)
        assert retry.returncode == 1 and f"something already listens on port {port}" in retry.stderr, retry
        # Removed (`docker rm -f`), the slot is free again and the pick avoids the serving one still.
        broken.kill()
        assert parse_slot(pick(docker_bin, host_file, slots).stdout, slots) == slots[0]
        client.stop.set()

    assert client.failures() == [], client.failures()[:5]
    assert len(client.answers) > 10 and set(client.served_by()) == {"app=old"}
