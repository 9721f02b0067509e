"""The database container's healthcheck against a real server: it passes only when the configured role logs in.

A cluster initialised with password A (postgres_process.postgres_server, as the image's entrypoint does) and the
check's CMD-SHELL script run by the shells the image can have (busybox ash as in alpine, dash), with only the env
components/database.py gives the container. Docker runs a CMD-SHELL test as `/bin/sh -c <script>` inside the
container (moby daemon/health.go:72,450-458@v28.5.2) and counts exit 0 as healthy (:50,206).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from renderers.postgres import PASSWORD_KEY, PostgresSettings, postgres_healthcheck

from .postgres_process import CLIENT_TIMEOUT_S, Cluster, pg_bin, postgres_server
from .processes import free_tcp_ports
from .test_postgres_password_real import DockerHost

A = "cluster-Password-A"
B = "new-Password-B"
BUSYBOX = shutil.which("busybox") or "busybox"
SHELLS = {"busybox-ash": [BUSYBOX, "sh", "-c"], "dash": ["dash", "-c"]}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    (port,) = free_tcp_ports(1)
    s = PostgresSettings(version="18.1", user="app_owner", database="app", port=port, listen_address="127.0.0.1")
    with postgres_server(s, A) as running:
        yield running


def container_env(s: PostgresSettings, password: str) -> dict[str, str]:
    """What components/database.py sets, plus the image's PATH (psql in it) and no ~/.pgpass."""
    return {
        "PATH": f"{pg_bin()}:/usr/bin:/bin", "POSTGRES_USER": s.user, "POSTGRES_DB": s.database,
        "POSTGRES_PASSWORD": password, "PGPORT": str(s.port), "LANG": "C.UTF-8",
        "PGPASSFILE": os.path.join(os.devnull, "pgpass"),
    }


def healthcheck(s: PostgresSettings, password: str, shell: str) -> subprocess.CompletedProcess[str]:
    kind, script = postgres_healthcheck(s)
    assert kind == "CMD-SHELL"
    return subprocess.run([*SHELLS[shell], script], env=container_env(s, password), capture_output=True, text=True,
                          timeout=CLIENT_TIMEOUT_S, check=False, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_the_password_the_cluster_has_passes(cluster: Cluster, shell: str) -> None:
    done = healthcheck(cluster.settings, A, shell)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_another_password_fails_saying_what_to_do(cluster: Cluster, shell: str) -> None:
    done = healthcheck(cluster.settings, B, shell)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "role app_owner cannot log in with this container's POSTGRES_PASSWORD" in done.stdout
    assert f"Set {PASSWORD_KEY} to that password" in done.stdout
    assert B not in done.stdout + done.stderr and A not in done.stdout + done.stderr


def test_a_server_that_does_not_answer_fails_with_psqls_own_error(cluster: Cluster) -> None:
    (port,) = free_tcp_ports(1)
    s = PostgresSettings(version="18.1", user="app_owner", database="app", port=port, listen_address="127.0.0.1")
    done = healthcheck(s, A, "busybox-ash")
    # psql's own exit status for "cannot connect" is 2, which Docker's HEALTHCHECK reserves.
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cannot log in" not in done.stdout and "127.0.0.1" in done.stdout, done.stdout


def test_a_reused_volume_with_a_new_password_is_not_reported_as_rotated(
    cluster: Cluster, tmp_path: Path, busybox_dir: Path
) -> None:
    """No container yet (a new stack on an old volume): the rotation changes nothing and says so; the new
    container, started with B on the cluster made with A, never becomes healthy."""
    rotation = DockerHost(tmp_path, busybox_dir, "dash").rotate(cluster.settings, B, started_with=None)
    assert rotation.done.returncode == 0, rotation.done.stderr
    assert "no server's password was changed" in rotation.done.stdout
    assert "has the new password" not in rotation.done.stdout
    assert healthcheck(cluster.settings, B, "busybox-ash").returncode == 1


@pytest.fixture(scope="module")
def busybox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from .postgres_process import install_busybox_applets

    return install_busybox_applets(tmp_path_factory.mktemp("busybox"))
