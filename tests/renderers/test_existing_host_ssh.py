"""renderers/existing_host.py's SSH rules: the pinned host key, the docker provider's ssh options, .local names."""
from __future__ import annotations

import base64
import struct

from hypothesis import given
from hypothesis import strategies as st

from renderers.existing_host import (
    HOST_KEY_TYPES,
    control_dir_fits,
    docker_ssh_opts,
    host_key_problem,
    mdns_name_problem,
    pinned_host_key,
)


def _key(kind: str, body: bytes) -> str:
    """An OpenSSH public key line: the blob starts with its type as an SSH string (RFC 4253 6.6)."""
    return f"{kind} " + base64.b64encode(struct.pack(">I", len(kind)) + kind.encode() + body).decode()


@given(st.sampled_from(HOST_KEY_TYPES), st.binary(min_size=1, max_size=96), st.text("abc@. -", max_size=20))
def test_every_well_formed_key_is_pinned_as_type_and_blob(kind, body, comment):
    line = _key(kind, body)
    assert host_key_problem(f"{line} {comment}".strip()) is None
    assert pinned_host_key(f"{line} {comment}") == line


@given(st.sampled_from(HOST_KEY_TYPES), st.sampled_from(HOST_KEY_TYPES), st.binary(min_size=1, max_size=64))
def test_a_blob_of_another_type_is_refused(named, actual, body):
    line = f"{named} {_key(actual, body).split()[1]}"
    assert (host_key_problem(line) is None) is (named == actual)


def test_rsa_and_garbage_are_refused_with_what_to_run():
    assert "ssh-keyscan -t ed25519" in host_key_problem(_key("ssh-rsa", b"x"))
    assert host_key_problem("ssh-ed25519 !!!") == "the key is not valid base64"
    assert host_key_problem("ssh-ed25519") is not None


@given(st.sampled_from(HOST_KEY_TYPES), st.binary(min_size=1, max_size=64), st.booleans(), st.sampled_from(["/run/user/1000", "~/.ssh"]))
def test_the_docker_path_is_given_only_the_pinned_key(kind, body, with_file, control):
    line = _key(kind, body)
    opts = docker_ssh_opts(host_key=line + " root@pi", private_key_file="~/.ssh/id" if with_file else None, control_dir=control)
    assert all(o == "-o" for o in opts[0:18:2]), opts  # one option per -o, as ssh takes them
    values = dict(o.split("=", 1) for o in opts[1::2] if "=" in o)
    assert values["KnownHostsCommand"] == f"/bin/echo %H {line}"
    assert values["HostKeyAlgorithms"] == kind
    assert values["StrictHostKeyChecking"] == "yes"
    assert values["ControlPath"] == f"{control}/bs-%C"
    assert ("-i" in opts) is with_file and ("IdentitiesOnly" in values) is with_file


def test_no_control_dir_no_multiplexing():
    opts = docker_ssh_opts(host_key=_key("ssh-ed25519", b"k"), private_key_file=None, control_dir=None)
    assert not [o for o in opts if o.startswith("Control")]


@given(st.integers(min_value=1, max_value=120))
def test_the_control_dir_leaves_room_for_ssh_socket_name(length):
    # <dir>/bs-<40 hex>.<16 random> within macOS's 103 usable characters of sun_path.
    assert control_dir_fits("/" + "d" * (length - 1)) is (length + 61 <= 103)


def test_local_names_are_refused_and_other_names_and_ips_are_not():
    for name in ("pi.local", "PI.LOCAL".lower(), "pi.local.", "a.b.local"):
        assert "IP address" in mdns_name_problem(name), name
    for name in ("pi.home.arpa", "192.168.1.20", "vps.example.com", "localhost", "local.example.com", "2001:db8::1"):
        assert mdns_name_problem(name) is None, name
