"""versitygw's VGW_PORT: `<ip>:<port>` or `:<port>` (cmd/versitygw/main.go:199-204@v1.7.0)."""
from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from renderers.object_store import s3_listen_address, s3_server_env


@given(st.ip_addresses(v=4), st.integers(1, 65535))
def test_an_address_reads_back_as_itself(address, port):
    host, text_port = s3_listen_address(str(address), port).rsplit(":", 1)
    assert int(text_port) == port
    assert host == ("" if address.is_unspecified else str(address))


@given(st.ip_addresses(v=6), st.integers(1, 65535))
def test_an_ipv6_address_is_bracketed(address, port):
    text = s3_listen_address(str(address), port)
    if not address.is_unspecified:
        assert ipaddress.ip_address(text.rsplit(":", 1)[0].strip("[]")) == address and text.startswith("[")


def test_host_networking_binds_loopback_and_the_bridge_keeps_its_old_text():
    assert "VGW_PORT=127.0.0.1:9000" in s3_server_env("a", "b", "us-east-1", 9000, "127.0.0.1")
    # The docker target's env as it always was: an unchanged create-only input, no replacement.
    assert "VGW_PORT=:9000" in s3_server_env("a", "b", "us-east-1", 9000)
    assert "VGW_PORT=:9000" in s3_server_env("a", "b", "us-east-1", 9000, "0.0.0.0")
