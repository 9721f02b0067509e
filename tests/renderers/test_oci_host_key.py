"""The hostKeyCommand text: one paste-safe line calling exactly the OCI CLI commands checked against oci-cli."""
from __future__ import annotations

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renderers.oci_host_key import (
    CONSOLE_KEY_AWK,
    CONSOLE_LENGTH,
    NOT_FOUND,
    console_key_filter,
    host_key_command,
    printed_key_problem,
)
from tests import harness

instance_ids = st.from_regex(r"ocid1\.instance\.oc1\.[a-z]{2}-[a-z]+-[1-9]\.[a-z0-9]{1,60}", fullmatch=True)
regions = st.from_regex(r"[a-z]{2}-[a-z]{3,12}-[1-9]", fullmatch=True)


@given(instance_ids, regions)
def test_one_line_two_oci_calls_then_the_filter(instance_id, region):
    command = host_key_command(instance_id, region)
    assert "\n" not in command and "\r" not in command
    capture, rest = command.split(" && ", 1)
    content, awk = rest.split(" | ", 1)
    assert capture == (
        f"history_id=$(oci compute console-history capture --region {region} --instance-id {instance_id} "
        "--wait-for-state SUCCEEDED --max-wait-seconds 300 --query data.id --raw-output)"
    )
    assert shlex.split(content) == [
        "oci", "compute", "console-history", "get-content", "--region", region,
        "--instance-console-history-id", "$history_id", "--length", str(CONSOLE_LENGTH), "--file", "-",
    ]  # fmt: skip
    assert awk == console_key_filter() and shlex.split(awk) == ["awk", CONSOLE_KEY_AWK]


def test_the_awk_program_needs_no_quoting_beyond_its_single_quotes():
    # Inside '...' a shell leaves everything as it is but a single quote; the message is an awk string literal.
    assert "'" not in CONSOLE_KEY_AWK
    assert not set('"\\') & set(NOT_FOUND)
    # At least what the API takes (10240) and what a capture holds (up to a megabyte).
    assert CONSOLE_LENGTH >= 10240 and CONSOLE_LENGTH >= 1_000_000


@pytest.mark.parametrize(
    ("instance_id", "region"),
    [
        ("ocid1.instance.oc1..x; rm -rf ~", "eu-frankfurt-1"),
        ("$(id)", "eu-frankfurt-1"),
        ("ocid1.instance.oc1.eu-frankfurt-1.x", "eu-frankfurt-1 --profile other"),
        ("", "eu-frankfurt-1"),
    ],
)
def test_values_a_shell_would_read_as_syntax_are_refused(instance_id, region):
    with pytest.raises(ValueError):
        host_key_command(instance_id, region)


def test_the_printed_key_must_be_an_ed25519_key_both_paths_take():
    assert printed_key_problem(harness.MOCK_HOST_KEY) is None
    assert printed_key_problem("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY=") is not None
    assert printed_key_problem("ssh-ed25519 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY=") is not None
