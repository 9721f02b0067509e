"""`eval "$(pulumi stack output databaseRestoreCommand)"`, as the README says, in a real interactive bash.

The restore's own lines use `set -eu`, an EXIT trap and `exit 1` (renderers/pg_backup.restore_script). The
output is that script in a shell of its own (restore_command), so the operator's shell survives a failed
restore and keeps its options after either outcome. `docker` is a stub here: one that fails everything, and
one that succeeds with nothing to say, so both paths run to their end without a server.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from renderers.pg_backup import BackupSettings, restore_command, restore_script

SETTINGS = BackupSettings(postgres_host="postgres", postgres_user="app", bucket="app-backups",
                          s3_endpoint="http://objectstore:9000", s3_region="us-east-1")
ARGS = {"container": "database-postgres", "uploader": "database-backup-upload", "database": "app"}
# What the operator's session does around the paste: its options and traps before and after, then proof of life.
SESSION = '''set -o > "$OUT/options-before"; trap -p > "$OUT/traps-before"
eval "$RESTORE"
echo "status=$?"
set -o > "$OUT/options-after"; trap -p > "$OUT/traps-after"
echo "shell still here"
exit 0
'''


def bash() -> str:
    found = shutil.which("bash")
    assert found, "bash is not installed"
    return found


def docker_stub(bin_dir: Path, exit_status: int) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    stub = bin_dir / "docker"
    # Like docker exec: stdin is read only with -i (never the operator's terminal otherwise).
    stub.write_text(f'#!/bin/sh\ncase " $* " in *" -i "*) cat > /dev/null ;; esac\nexit {exit_status}\n')
    stub.chmod(0o755)


def interactive_session(tmp_path: Path, command: str, docker_exit: int) -> tuple[subprocess.CompletedProcess[str], Path]:
    """bash -i (no rc files) reading the session on stdin, as a terminal would feed it."""
    out = tmp_path / f"session-{docker_exit}"
    out.mkdir()
    docker_stub(out / "bin", docker_exit)
    env = {"PATH": f"{out / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path), "OUT": str(out),
           "RESTORE": command, "TERM": "dumb"}
    result = subprocess.run([bash(), "--norc", "--noprofile", "-i"], input=SESSION, env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, check=False)
    return result, out


@pytest.mark.parametrize("docker_exit,restored", [(1, False), (0, True)], ids=["docker-fails", "docker-succeeds"])
def test_the_operators_shell_survives_and_keeps_its_options(tmp_path, docker_exit, restored):
    result, out = interactive_session(tmp_path, restore_command(SETTINGS, **ARGS), docker_exit)
    assert "shell still here" in result.stdout, (result.stdout, result.stderr)
    assert ("status=0" in result.stdout) is restored, result.stdout
    assert (out / "options-after").read_text() == (out / "options-before").read_text()
    assert (out / "traps-after").read_text() == (out / "traps-before").read_text()
    assert ("restore: app restored" in result.stdout + result.stderr) is restored
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("tmp.")], "the dump file is removed either way"


def test_the_bare_script_would_have_closed_the_shell(tmp_path):
    """The control: the same lines eval'd without their own shell end the operator's session."""
    result, _ = interactive_session(tmp_path, restore_script(SETTINGS, **ARGS), docker_exit=1)
    assert "shell still here" not in result.stdout
    assert os.path.exists(tmp_path / "session-1" / "options-before")
