"""The slot picker's text (renderers/app_slot.py): its input checks, and its choice for any two ports.

The whole rendered command against a real upstream file, with the gateway present, absent or
stopped, runs in tests/real/test_host_rollout_real.py.
"""
from __future__ import annotations

import re
import shlex
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renderers.app_slot import READ_IN_GATEWAY, keep_slot_lines, parse_slot, pick_slot_command, pick_slot_lines

ports = st.integers(min_value=1, max_value=65535)


# The kernel's listener tables as proc(5) prints them; here a test's own, so the machine's listeners play no part.
TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


# Tables with no listener at all, for the choice alone; removed when the interpreter exits.
_NO_LISTENERS = tempfile.TemporaryDirectory(prefix="proc-net-")
(Path(_NO_LISTENERS.name) / "tcp").write_text(TCP_HEADER)
(Path(_NO_LISTENERS.name) / "tcp6").write_text(TCP_HEADER)


def listening(port: int, *, v6: bool = False) -> str:
    address = "0" * 31 + "1" if v6 else "0100007F"
    return f"   0: {address}:{port:04X} {'0' * len(address)}:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1\n"


def choose(current: str, slots: tuple[int, int], proc_net: Path | None = None) -> subprocess.CompletedProcess[str]:
    if proc_net is None:
        proc_net = Path(_NO_LISTENERS.name)
    script = "\n".join(["set -eu", f"current={shlex.quote(current)}", *pick_slot_lines(slots, proc_net=str(proc_net))])
    return subprocess.run(["/usr/bin/dash", "-c", script], capture_output=True, text=True, timeout=10, check=False)


@given(slots=st.lists(ports, min_size=2, max_size=2, unique=True), other=ports)
@settings(max_examples=40, deadline=None)
def test_the_choice_is_always_the_slot_the_file_does_not_point_at(slots, other):
    first, second = slots
    assert choose(f"127.0.0.1:{first}", (first, second)).stdout == f"{second}\n"
    assert choose(f"127.0.0.1:{second}", (first, second)).stdout == f"{first}\n"
    # No file: apps[].port is taken to be held (an app from rollout: replace), so rolloutPort.
    assert choose("", (first, second)).stdout == f"{second}\n"
    # A port that is neither (rolloutPort changed since): the first slot, never the one the file names.
    expected = second if other == first else first
    assert choose(f"127.0.0.1:{other}", (first, second)).stdout == f"{expected}\n"


@pytest.mark.parametrize("v6", [False, True])
def test_a_listener_on_the_chosen_slot_fails_the_pick(tmp_path, v6):
    """A revision whose rollout failed keeps its port; the next one could not bind it (and its healthcheck would be
    answered by the failed one)."""
    (tmp_path / "tcp").write_text(TCP_HEADER + ("" if v6 else listening(3101)))
    (tmp_path / "tcp6").write_text(TCP_HEADER + (listening(3101, v6=True) if v6 else ""))
    result = choose("127.0.0.1:3100", (3100, 3101), tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert "something already listens on port 3101" in result.stderr and "docker rm -f" in result.stderr
    # The running revision's own port is no obstacle: it is not the one chosen.
    (tmp_path / "tcp").write_text(TCP_HEADER + listening(3100) + listening(31010))
    (tmp_path / "tcp6").write_text(TCP_HEADER)
    assert choose("127.0.0.1:3100", (3100, 3101), tmp_path).stdout == "3101\n"


def test_a_connection_from_the_slot_port_is_not_a_listener(tmp_path):
    (tmp_path / "tcp").write_text(TCP_HEADER + listening(3101).replace(" 0A ", " 06 "))  # TIME_WAIT
    (tmp_path / "tcp6").write_text(TCP_HEADER)
    assert choose("127.0.0.1:3100", (3100, 3101), tmp_path).stdout == "3101\n"


@pytest.mark.parametrize("current", ["web-app-0123456789", "127.0.0.1:", "10.0.0.2:3100", "127.0.0.1:3100 x"])
def test_anything_but_a_loopback_port_is_refused(current):
    result = choose(current, (3100, 3101))
    assert result.returncode == 1 and result.stdout == "" and "slot pick aborted" in result.stderr


@pytest.mark.parametrize("slots", [(3100, 3100), (3100,), (0, 3101), (3100, 70000), ("3100", 3101)])
def test_slots_must_be_two_distinct_ports(slots):
    with pytest.raises(ValueError, match="slots"):
        pick_slot_command(gateway_container="gateway-caddy", host_file="/etc/caddy/upstream.web", slots=slots)


@pytest.mark.parametrize("kwargs", [{"gateway_container": "-x"}, {"gateway_container": "a;b"}, {"host_file": "etc/x"},
                                    {"host_file": "/etc/$(id)"}])
def test_the_container_and_file_are_checked(kwargs):
    with pytest.raises(ValueError):
        pick_slot_command(**{"gateway_container": "gateway-caddy", "host_file": "/etc/caddy/upstream.web", **kwargs},
                          slots=(3100, 3101))


def test_the_command_reads_the_file_in_the_named_gateway_and_writes_nothing():
    command = pick_slot_command(gateway_container="gateway-caddy", host_file="/etc/caddy/upstream.web", slots=(3100, 3101))
    assert f"docker exec gateway-caddy sh -c {shlex.quote(READ_IN_GATEWAY)} sh /etc/caddy/upstream.web" in command
    assert "docker container inspect gateway-caddy" in command
    writes = re.sub(r'echo "[^"]*"', "", command).replace(">/dev/null 2>&1", "").replace(">&2", "").replace("2>/dev/null", "")
    assert ">" not in writes, "no redirection writes a file"


@pytest.mark.parametrize("stdout, port", [("3101\n", 3101), ("3100", 3100), (" 3101 \n", 3101)])
def test_parse_slot_takes_the_stripped_port(stdout, port):
    assert parse_slot(stdout, (3100, 3101)) == port


@pytest.mark.parametrize("stdout", [None, "", "3102\n", "abc", "3100\n3101\n"])
def test_parse_slot_refuses_anything_else(stdout):
    with pytest.raises(ValueError, match="slot picker printed"):
        parse_slot(stdout, (3100, 3101))


def keep(current: str, slots: tuple[int, int]) -> subprocess.CompletedProcess[str]:
    script = "\n".join(["set -eu", f"current={shlex.quote(current)}",
                        *keep_slot_lines(slots, proc_net=_NO_LISTENERS.name)])
    return subprocess.run(["/usr/bin/dash", "-c", script], capture_output=True, text=True, timeout=10, check=False)


@given(slots=st.lists(ports, min_size=2, max_size=2, unique=True), other=ports)
@settings(max_examples=40, deadline=None)
def test_the_update_keeps_the_slot_the_gateway_routes_to_and_else_picks(slots, other):
    """The picker's `update` (a new connection or script text, no new revision): the serving revision's port, so
    no rollout starts; where no slot of these is served (no file, other slots since), the same choice as a pick."""
    first, second = slots
    assert keep(f"127.0.0.1:{first}", (first, second)).stdout == f"{first}\n"
    assert keep(f"127.0.0.1:{second}", (first, second)).stdout == f"{second}\n"
    assert keep("", (first, second)).stdout == choose("", (first, second)).stdout
    if other not in slots:
        assert keep(f"127.0.0.1:{other}", (first, second)).stdout == choose(f"127.0.0.1:{other}", (first, second)).stdout
    assert keep("junk", (first, second)).returncode == 1


def test_the_update_script_differs_from_the_pick_only_in_keeping():
    where = {"gateway_container": "gateway-caddy", "host_file": "/etc/caddy/upstream.web", "slots": (8080, 8090)}
    pick, kept = pick_slot_command(**where), pick_slot_command(**where, keep=True)
    assert pick != kept and "\n".join(keep_slot_lines((8080, 8090))) in kept
    assert pick.replace("\n".join(pick_slot_lines((8080, 8090))), "") == kept.replace("\n".join(keep_slot_lines((8080, 8090))), "")
