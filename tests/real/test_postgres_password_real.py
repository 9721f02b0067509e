"""Changing databasePassword: the rendered rotation command against a real server.

Debian's PostgreSQL is initialised like the image's entrypoint with the first password. `docker` is a stand-in
that runs `exec` here with only the container's env (POSTGRES_PASSWORD = the password the container was started
with), under dash or busybox ash; psql and sed inside the "container" are wrappers that log their argv, so the
test sees every argv the password could have leaked into.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.secrets import url_quoted
from renderers.postgres import PostgresSettings, password_rotation_command

from .postgres_process import (
    postgres_server,
    CLIENT_TIMEOUT_S,
    Cluster,
    client_env,
    install_busybox_applets,
    install_docker_shim,
    pg_bin,
    psql,
    run_host_command,
)
from .processes import free_tcp_ports

CONTAINER = "db-postgres"
FIRST = "first-Password-A1"
# Everything a shell, psql's \set, SQL or a URL could take for syntax.
NASTY = "it's \"q\" \\ back\\\\slash $HOME `id` @host/path:x%41 ;&|*?~ \\"
BUSYBOX = shutil.which("busybox") or "busybox"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    cluster: Cluster
    password: str  # what the server has now

    @property
    def settings(self) -> PostgresSettings:
        return self.cluster.settings


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    (port,) = free_tcp_ports(1)
    s = PostgresSettings(version="18.1", user="app_owner", database="app", port=port, listen_address="127.0.0.1")
    with postgres_server(s, FIRST) as cluster:
        yield Server(cluster, FIRST)


@pytest.fixture
def db(server: Server) -> Server:
    """The server back on the first password, as if just deployed."""
    if server.password != FIRST:
        reset = psql(server.cluster, f"ALTER ROLE app_owner PASSWORD '{FIRST}'", password=server.password)
        assert reset.returncode == 0, reset.stderr
        server.password = FIRST
    return server


@pytest.fixture(scope="module")
def busybox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_busybox_applets(tmp_path_factory.mktemp("busybox"))


def url(s: PostgresSettings, password: str) -> str:
    """Built like the Database component's `url` output."""
    return f"postgresql://{s.user}:{url_quoted(password)}@127.0.0.1:{s.port}/{s.database}"


def test_url_is_built_like_the_component_builds_it() -> None:
    source = (ROOT / "components" / "database.py").read_text()
    assert '"postgresql://{0}:{1}@127.0.0.1:{2}/{3}", args.user, password.apply(url_quoted)' in source, (
        "components/database.py builds `url` differently now: update url() here")


def connect(s: PostgresSettings, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(pg_bin() / "psql"), "-w", "-X", "-At", "-d", url(s, password), "-c", "SELECT current_user"],
        env=client_env(None), capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S, check=False,
    )


@dataclass
class Rotation:
    done: subprocess.CompletedProcess[str]
    argv: str  # every argv the stand-in docker, psql and sed were run with


class DockerHost:
    def __init__(self, tmp: Path, busybox: Path, shell: str) -> None:
        self.tmp = tmp
        self.recorders = tmp / "recorders"
        self.recorders.mkdir(exist_ok=True)
        tools = busybox if shell == "busybox-ash" else Path("/usr/bin")
        for name, real in (("psql", pg_bin() / "psql"), ("sed", tools / "sed")):
            wrapper = self.recorders / name
            wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$0 $*" >> {tmp}/argv.log\nexec {real} "$@"\n')
            wrapper.chmod(0o755)
        tail = str(busybox) if shell == "busybox-ash" else "/usr/bin:/bin"
        self.container_path = f"{self.recorders}:{pg_bin()}:{tail}"
        self.shell = [BUSYBOX, "sh"] if shell == "busybox-ash" else ["dash"]
        (tmp / "docker-bin").mkdir(exist_ok=True)

    def rotate(self, s: PostgresSettings, new: str, *, started_with: str | None, running: bool = True) -> Rotation:
        """The command as Pulumi runs it on the host: the new password on stdin, nothing in the host's env."""
        containers = {} if started_with is None else {CONTAINER: {"running": running, "env": {
            "PATH": self.container_path, "POSTGRES_PASSWORD": started_with, "POSTGRES_USER": s.user,
            "POSTGRES_DB": s.database, "PGPORT": str(s.port), "LANG": "C.UTF-8",
            "PGPASSFILE": os.path.join(os.devnull, "pgpass"),
        }}}
        config = {"log": str(self.tmp / "docker.log"), "shell": self.shell, "containers": containers, "volumes": {}}
        env = {**install_docker_shim(self.tmp / "docker-bin", config), "HOME": str(self.tmp)}
        env["PATH"] = f"{self.tmp / 'docker-bin'}:/usr/bin:/bin"
        for log in ("docker.log", "argv.log"):
            (self.tmp / log).write_text("")
        done = run_host_command(password_rotation_command(s, CONTAINER), env=env, cwd=self.tmp, stdin=new + "\n")
        argv = "\n".join((self.tmp / log).read_text() for log in ("docker.log", "argv.log"))
        return Rotation(done, argv)


def _stored_verifier(server: Server) -> str:
    sql = f"SELECT rolpassword FROM pg_authid WHERE rolname = '{server.settings.user}'"
    found = psql(server.cluster, sql, password=server.password)
    assert found.returncode == 0, found.stderr
    return found.stdout.strip()


def _in_argv(password: str, argv: str) -> bool:
    # The docker log is JSON: look for the password as JSON would write it too.
    return password in argv or json.dumps(password)[1:-1] in argv


@pytest.mark.parametrize("new", [NASTY, " leading and trailing spaces ", "plain"], ids=["nasty", "spaces", "plain"])
@pytest.mark.parametrize("shell", ["dash", "busybox-ash"])
def test_rotation_sets_the_password_the_url_carries(db: Server, tmp_path: Path, busybox: Path, shell: str, new: str):
    rotation = DockerHost(tmp_path, busybox, shell).rotate(db.settings, new, started_with=FIRST)
    assert rotation.done.returncode == 0, rotation.done.stderr
    db.password = new
    assert "has the new password" in rotation.done.stdout
    ok = connect(db.settings, new)
    assert (ok.returncode, ok.stdout.strip()) == (0, db.settings.user), ok.stderr
    old = connect(db.settings, FIRST)
    assert old.returncode != 0 and "password authentication failed" in old.stderr, old.stderr
    assert "/recorders/psql " in rotation.argv, "the recorders saw nothing: the argv check would be blind"
    assert not _in_argv(new, rotation.argv), "the new password is in a process's argv"
    assert not _in_argv(FIRST, rotation.argv), "the old password is in a process's argv"


def test_rerun_after_success_changes_nothing(db: Server, tmp_path: Path, busybox: Path) -> None:
    """The container was not replaced after the first run: it still has the old POSTGRES_PASSWORD."""
    host = DockerHost(tmp_path, busybox, "busybox-ash")
    assert host.rotate(db.settings, NASTY, started_with=FIRST).done.returncode == 0
    db.password = NASTY
    verifier = _stored_verifier(db)
    again = host.rotate(db.settings, NASTY, started_with=FIRST)
    assert again.done.returncode == 0, again.done.stderr
    assert "already has the new password; nothing changed" in again.done.stdout
    assert _stored_verifier(db) == verifier
    assert connect(db.settings, NASTY).returncode == 0


def test_unchanged_password_changes_nothing(db: Server, tmp_path: Path, busybox: Path) -> None:
    verifier = _stored_verifier(db)
    same = DockerHost(tmp_path, busybox, "dash").rotate(db.settings, FIRST, started_with=FIRST)
    assert same.done.returncode == 0 and "nothing changed" in same.done.stdout, same.done.stderr
    assert _stored_verifier(db) == verifier


def test_first_deploy_has_no_container_and_does_nothing_and_says_so(db: Server, tmp_path: Path, busybox: Path) -> None:
    rotation = DockerHost(tmp_path, busybox, "dash").rotate(db.settings, NASTY, started_with=None)
    assert (rotation.done.returncode, rotation.done.stderr) == (0, "")
    # Not a success it did not have: a reused volume's cluster keeps its own password (the healthcheck says so).
    assert rotation.done.stdout.startswith(f"password rotation: no container {CONTAINER}, so no server's password "
                                           "was changed."), rotation.done.stdout
    assert not _in_argv(NASTY, rotation.done.stdout)
    assert '"exec"' not in rotation.argv
    assert connect(db.settings, FIRST).returncode == 0


@pytest.mark.parametrize(
    ("started_with", "running", "stdin_password", "rc", "message"),
    [
        (FIRST, False, NASTY, 1, "exists but is not running"),
        ("not-what-the-server-has", True, NASTY, 1, "accepts neither the container's POSTGRES_PASSWORD nor the new"),
        (FIRST, True, "", 2, "no new password on standard input"),
    ],
    ids=["stopped-container", "neither-password-works", "empty-stdin"],
)
def test_failures_say_why_and_change_nothing(
    db: Server, tmp_path: Path, busybox: Path, started_with: str, running: bool, stdin_password: str, rc: int,
    message: str,
) -> None:
    verifier = _stored_verifier(db)
    rotation = DockerHost(tmp_path, busybox, "busybox-ash").rotate(
        db.settings, stdin_password, started_with=started_with, running=running)
    assert rotation.done.returncode == rc, rotation.done.stderr
    assert message in rotation.done.stderr
    assert NASTY not in rotation.done.stderr + rotation.done.stdout
    assert _stored_verifier(db) == verifier


# Any printable text without NUL or line breaks (a password is one line on stdin).
PASSWORDS = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(new=PASSWORDS)
def test_any_printable_password_round_trips(server: Server, tmp_path: Path, busybox: Path, new: str) -> None:
    host = DockerHost(tmp_path, busybox, "busybox-ash")
    rotation = host.rotate(server.settings, new, started_with=server.password)
    assert rotation.done.returncode == 0, rotation.done.stderr
    server.password = new
    connected = connect(server.settings, new)
    assert connected.returncode == 0, connected.stderr
