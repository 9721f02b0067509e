"""Renaming database.user or database.name: the pre-replace check against a real server.

The entrypoint creates POSTGRES_USER and POSTGRES_DB only on an empty data directory, so
the check must refuse a rename the running cluster does not have, before the container
goes. `docker` is the test stand-in from postgres_process (exec runs here with the
container's env); psql and the server are real.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from renderers.postgres import NAME_KEY, USER_KEY, PostgresSettings, login_check_command

from .postgres_process import (
    postgres_server,
    Cluster,
    install_docker_shim,
    pg_bin,
    psql,
    run_host_command,
)
from .processes import free_tcp_ports

CONTAINER = "database-postgres"
PASSWORD = "Login-check-Pw1"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    (port,) = free_tcp_ports(1)
    s = PostgresSettings(version="18.1", user="app", database="app", port=port, listen_address="127.0.0.1")
    with postgres_server(s, PASSWORD) as created:
        yield created


def check(cluster: Cluster, tmp: Path, configured: PostgresSettings, *, container: bool = True, running: bool = True):
    """Run the rendered host command as Pulumi would, against the container the cluster was created by."""
    initial = cluster.settings
    containers = {}
    if container:
        containers[CONTAINER] = {"running": running, "env": {
            "PATH": f"{pg_bin()}:/usr/bin:/bin", "POSTGRES_PASSWORD": PASSWORD, "POSTGRES_USER": initial.user,
            "POSTGRES_DB": initial.database, "PGPORT": str(initial.port),
            "PGPASSFILE": os.path.join(os.devnull, "pgpass"),
        }}
    config = {"log": str(tmp / "docker.log"), "shell": ["dash"], "containers": containers, "volumes": {}}
    env = {**install_docker_shim(tmp, config), "HOME": str(tmp)}
    env["PATH"] = f"{tmp}:/usr/bin:/bin"
    return run_host_command(login_check_command(configured, CONTAINER), env=env, cwd=tmp)


def test_the_names_the_cluster_has_pass(cluster, tmp_path):
    done = check(cluster, tmp_path, cluster.settings)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize("field,key", [("user", USER_KEY), ("database", NAME_KEY)])
def test_a_rename_the_cluster_lacks_is_refused_naming_the_key(cluster, tmp_path, field, key):
    done = check(cluster, tmp_path, replace(cluster.settings, **{field: "shop"}))
    assert done.returncode == 1
    assert key in done.stderr and "Nothing was changed" in done.stderr, done.stderr
    assert "POSTGRES_USER=app" in done.stderr and "ALTER DATABASE app RENAME TO" in done.stderr


def test_a_database_renamed_by_hand_first_then_passes(cluster, tmp_path):
    renamed = psql(cluster, "CREATE DATABASE shop OWNER app", password=PASSWORD)
    assert renamed.returncode == 0, renamed.stderr
    try:
        done = check(cluster, tmp_path, replace(cluster.settings, database="shop"))
        assert (done.returncode, done.stderr) == (0, "")
    finally:
        psql(cluster, "DROP DATABASE shop", password=PASSWORD)


@pytest.mark.parametrize("container,running", [(False, False), (True, False)], ids=["first-deploy", "stopped"])
def test_nothing_to_check_without_a_running_container(cluster, tmp_path, container, running):
    done = check(cluster, tmp_path, replace(cluster.settings, user="shop"), container=container, running=running)
    assert (done.returncode, done.stderr) == (0, "")


def test_a_port_change_is_checked_against_the_port_the_old_container_listens_on(cluster, tmp_path):
    (other,) = free_tcp_ports(1)
    done = check(cluster, tmp_path, replace(cluster.settings, port=other))
    assert (done.returncode, done.stderr) == (0, "")
