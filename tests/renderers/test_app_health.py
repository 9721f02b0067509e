"""The app TCP healthcheck's text: one sh command, each tool's branch on the same loopback port.

tests/real/test_app_tcp_check_real.py runs it under busybox sh with the real bash, node and python3.
"""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renderers.app_health import tcp_check, tcp_check_script


@given(st.integers(min_value=1, max_value=65535))
def test_every_branch_connects_to_the_same_loopback_port(port):
    script = tcp_check_script(port)
    assert f"/dev/tcp/127.0.0.1/{port}'" in script
    assert f'connect({port}, "127.0.0.1")' in script
    assert f'("127.0.0.1", {port})' in script
    # Every other number in the text is 127.0.0.1's, fd 3 / python's 3 s timeout, an exit status or a
    # redirection: no stray port.
    assert set(re.findall(r"\d+", script)) - {str(port)} <= {"127", "0", "1", "2", "3"}
    assert "\n" not in script and tcp_check(port) == ("CMD-SHELL", script)


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=1, max_value=65535))
def test_dash_parses_it(port):
    """Docker runs CMD-SHELL as `/bin/sh -c`; Debian's /bin/sh (dash) is as strict a POSIX sh as any image's."""
    dash = shutil.which("dash")
    assert dash, "dash not installed (scripts/install-test-binaries)"
    result = subprocess.run([dash, "-n", "-c", tcp_check_script(port)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_no_port_is_refused(port):
    with pytest.raises(ValueError):
        tcp_check_script(port)
