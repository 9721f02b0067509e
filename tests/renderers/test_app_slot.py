"""The slot picker's text (renderers/app_slot.py): its input checks, and its choice for any two ports.

The whole rendered command against a real upstream file, with the gateway present, absent or
stopped, runs in tests/real/test_host_rollout_real.py.
"""
from __future__ import annotations

import shlex
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renderers.app_slot import READ_IN_GATEWAY, parse_slot, pick_slot_command, pick_slot_lines

ports = st.integers(min_value=1, max_value=65535)


def choose(current: str, slots: tuple[int, int]) -> subprocess.CompletedProcess[str]:
    script = "\n".join(["set -eu", f"current={shlex.quote(current)}", *pick_slot_lines(slots)])
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
    writes = command.replace(">/dev/null 2>&1", "").replace(">&2", "").replace("<port>", "")
    assert ">" not in writes, "no redirection writes a file"


@pytest.mark.parametrize("stdout, port", [("3101\n", 3101), ("3100", 3100), (" 3101 \n", 3101)])
def test_parse_slot_takes_the_stripped_port(stdout, port):
    assert parse_slot(stdout, (3100, 3101)) == port


@pytest.mark.parametrize("stdout", [None, "", "3102\n", "abc", "3100\n3101\n"])
def test_parse_slot_refuses_anything_else(stdout):
    with pytest.raises(ValueError, match="slot picker printed"):
        parse_slot(stdout, (3100, 3101))
