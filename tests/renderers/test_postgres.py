"""The rendered guard, upgrade steps and password rotation are valid shell that says what it should, for any config.

tests/real/test_postgres_upgrade_real.py and test_postgres_password_real.py run them against real servers.
"""
from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.container import image_ref
from renderers.postgres import (
    CONFIG_KEY,
    GUARD_VOLUME_ROOT,
    PostgresSettings,
    major_upgrade_commands,
    major_upgrade_steps,
    major_version_guard_command,
    major_version_guard_script,
    password_rotation_command,
    password_rotation_inner_script,
)

TIMEOUT_S = 30
# What config/model.py accepts, and the names components/database.py derives from a resource name.
VERSIONS = st.from_regex(r"\A\d{2}\.\d{1,3}(@sha256:[0-9a-f]{64})?\Z")
IDENTIFIERS = st.from_regex(r"\A[a-z_][a-z0-9_]{0,62}\Z")
NAMES = st.from_regex(r"\A[a-zA-Z0-9][a-zA-Z0-9_.-]{0,40}\Z")
SETTINGS = st.builds(
    PostgresSettings, version=VERSIONS, user=IDENTIFIERS, database=IDENTIFIERS, port=st.integers(1, 65535)
)
SHELLS = ["dash", "busybox"]


def _syntax_ok(script: str) -> None:
    for shell in SHELLS:
        argv = [shutil.which(shell) or shell, *(["sh"] if shell == "busybox" else []), "-n", "-c", script]
        checked = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
        assert checked.returncode == 0, f"{shell}: {checked.stderr}\n{script}"


def _after_exec(command: str) -> list[str]:
    """The argv of the command's last line, `exec <argv>` (its quoted script may span lines)."""
    head, sep, tail = command.rpartition("\nexec ")
    assert sep, command
    return shlex.split(tail)


@settings(max_examples=60, deadline=None)
@given(s=SETTINGS, container=NAMES, volume=NAMES)
def test_guard_command_is_valid_shell_and_carries_the_script_intact(
    s: PostgresSettings, container: str, volume: str
) -> None:
    image = image_ref("postgres", s.version, "alpine")
    command = major_version_guard_command(s, container=container, volume=volume, image=image)
    _syntax_ok(command)
    script = major_version_guard_script(s, container=container, volume=volume)
    _syntax_ok(script)
    assert _after_exec(command) == [
        "docker", "run", "--rm", "--network", "none", "-v", f"{volume}:{GUARD_VOLUME_ROOT}:ro",
        "--entrypoint", "sh", image, "-c", script, "major-version-guard", GUARD_VOLUME_ROOT,
    ]


@settings(max_examples=60, deadline=None)
@given(s=SETTINGS, container=NAMES, volume=NAMES, old=st.integers(10, 30))
def test_every_upgrade_step_is_valid_shell_and_printed(s: PostgresSettings, container: str, volume: str, old: int):
    steps = major_upgrade_steps(s, container=container, volume=volume, old_major=old)
    c = major_upgrade_commands(s, container=container, volume=volume, old_major=old)
    for command in (c.revert, c.counts_before, c.dump, c.stop, c.move_aside, c.set_new, c.restore, c.counts_after,
                    c.delete_aside):
        _syntax_ok(command)
        for line in command.splitlines():
            assert f"\n       {line}\n" in steps + "\n"
    move = shlex.split(c.move_aside)
    _syntax_ok(move[move.index("-c") + 1])
    assert f"database.version {s.version}" in c.set_new


def test_the_guard_message_names_the_key_the_value_and_the_way_out() -> None:
    s = PostgresSettings(version="18.1", user="app", database="app")
    script = major_version_guard_script(s, container="db-postgres", volume="db-data")
    assert f"{CONFIG_KEY} is 18.1 (PostgreSQL 18)" in script
    assert "Nothing was changed: db-postgres and db-data are as they were." in script
    assert major_upgrade_steps(s, container="db-postgres", volume="db-data", old_major="@OLD@") in script


@pytest.mark.parametrize(("new", "in_volume"), [("18.1", True), ("19.0", True), ("17.6", False), ("16.4", False)])
def test_old_clusters_stay_in_the_volume_only_when_pgdata_is_a_subdirectory(new: str, in_volume: bool) -> None:
    """Before 18 PGDATA is the volume's root and initdb wants it empty, so the old cluster must leave the volume."""
    c = major_upgrade_commands(PostgresSettings(version=new, user="app", database="app"),
                               container="db-postgres", volume="db-data", old_major=15)
    assert ("-v db-data-pg15:/aside" not in c.move_aside) is in_volume
    assert c.delete_aside == ("docker run --rm --network none -v db-data:/v alpine:3.22 rm -rf /v/pre-upgrade/pg15"
                              if in_volume else "docker volume rm db-data-pg15")


@settings(max_examples=60, deadline=None)
@given(s=SETTINGS, container=NAMES)
def test_password_rotation_is_valid_shell_and_carries_the_inner_script_intact(s: PostgresSettings, container: str):
    command = password_rotation_command(s, container)
    _syntax_ok(command)
    inner = password_rotation_inner_script(s)
    _syntax_ok(inner)
    assert _after_exec(command) == ["docker", "exec", "-i", container, "sh", "-c", inner]


STUB = '#!/bin/sh\necho "$STUB_MESSAGE" >&2\nexit 1\n'


@pytest.mark.parametrize(
    ("message", "rc"),
    [
        ("Error: No such {what}: {name}", 0),
        ("Error response from daemon: No such {what}: {name}", 0),
        ("Error response from daemon: get {name}: no such {what}", 0),
        ("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", 1),
    ],
    ids=["old-cli", "daemon-capitalised", "daemon-lowercase", "daemon-down"],
)
@pytest.mark.parametrize("what", ["volume", "container"])
def test_only_a_missing_volume_or_container_counts_as_a_first_deploy(
    tmp_path: Path, what: str, message: str, rc: int
) -> None:
    s = PostgresSettings(version="18.1", user="app", database="app")
    if what == "volume":
        name = "db-data"
        command = major_version_guard_command(s, container="db-postgres", volume=name, image="postgres:18.1-alpine")
    else:
        name = "db-postgres"
        command = password_rotation_command(s, name)
    (tmp_path / "docker").write_text(STUB)
    (tmp_path / "docker").chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "STUB_MESSAGE": message.format(what=what, name=name)}
    done = subprocess.run(["/bin/sh", "-c", command], env=env, input="new-password\n", capture_output=True,
                          text=True, timeout=TIMEOUT_S, check=False)
    assert done.returncode == rc, done.stderr
    assert (done.stderr == "") is (rc == 0), "a real Docker error must be shown"


def test_shared_preload_libraries_is_passed_only_when_some_are_needed() -> None:
    from renderers.postgres import postgres_server_args

    plain = postgres_server_args(PostgresSettings(version="18.1", user="app", database="app"))
    assert not any("shared_preload_libraries" in arg for arg in plain)
    loaded = postgres_server_args(PostgresSettings(version="18.1", user="app", database="app",
                                                   shared_preload_libraries=("pg_stat_statements", "auto_explain")))
    assert loaded[-2:] == ["-c", "shared_preload_libraries=pg_stat_statements,auto_explain"]
    assert loaded[:-2] == plain


@given(port=st.integers(1, 65535), user=st.from_regex(r"\A[a-z_][a-z0-9_]{0,62}\Z"),
       database=st.from_regex(r"\A[a-z_][a-z0-9_]{0,62}\Z"))
def test_healthcheck_logs_in_as_the_role_with_the_containers_password(port: int, user: str, database: str) -> None:
    from renderers.postgres import postgres_healthcheck

    kind, script = postgres_healthcheck(PostgresSettings(version="18.1", user=user, database=database, port=port))
    assert kind == "CMD-SHELL"
    # The password comes from the container's env at check time: never its text, never an argv.
    assert script.startswith(f'out=$(PGPASSWORD="$POSTGRES_PASSWORD" PGCONNECT_TIMEOUT=3 psql -X -q -w -At '
                             f"-h 127.0.0.1 -p {port} -U {user} -d {database} -c \"SELECT 1\" 2>&1) && exit 0; ")
    assert script.endswith("esac; exit 1")
