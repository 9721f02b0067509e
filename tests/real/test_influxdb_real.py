"""The extra-buckets init script, run by the real shells and run-parts the image uses, against a stand-in influx CLI.

No InfluxDB 2.x server or influx CLI installs here: Debian bookworm has influxdb 1.6.7 (1.x: no /api/v2, no
buckets), PyPI and npm only clients. So `influx` is a stand-in that records its argv and keeps buckets in a file,
answering as influx-cli v2.7.5 does (clients/bucket/list.go, create.go): `bucket list --hide-headers` prints
tab-padded rows ID, Name, Retention, Shard group duration, Organization ID, Schema Type; `bucket create` of an
existing name fails. The script runs under dash (Debian's /bin/sh) and busybox sh (the alpine image's /bin/sh),
and through `run-parts` with the entrypoint's own arguments (entrypoint.sh line 347).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renderers.influxdb import (
    EXTRA_BUCKETS_SCRIPT_PATH,
    InfluxSettings,
    render_app_token_script,
    render_extra_buckets_script,
    retention_flag,
)

pytestmark = pytest.mark.real_binary

SHELLS = ["dash", "busybox"]
ORG = "homeiq"

_SHIM = r'''#!{python}
"""Stand-in influx CLI: argv to $SHIM_LOG, buckets in $SHIM_STATE (JSON {{org: [[name, listed retention], ...]}})."""
import json, os, re, sys
args = sys.argv[1:]
with open(os.environ["SHIM_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
state_path = os.environ["SHIM_STATE"]
state = json.load(open(state_path))
def flag(name):
    return args[args.index(name) + 1] if name in args else None
UNITS = {{"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}}
def listed(retention):
    # pkg/duration (w, d, h, m, s) in, clients/bucket/client.go's Go time.Duration.String() out.
    if retention == "0":
        return "infinite"
    parts = re.findall(r"(\d+)([wdhms])", retention)
    assert "".join(n + u for n, u in parts) == retention, f"shim: bad duration {{retention}}"
    seconds = sum(int(n) * UNITS[u] for n, u in parts)
    h, rest = divmod(seconds, 3600)
    return f"{{h}}h{{rest // 60}}m{{rest % 60}}s" if h else f"{{rest // 60}}m{{rest % 60}}s"
if args[:2] == ["bucket", "list"]:
    if os.environ.get("SHIM_FAIL_LIST"):
        sys.exit('Error: failed to list buckets: Post "http://localhost:9999/api/v2/buckets": connection refused')
    org = flag("--org")
    if org not in state:
        sys.exit(f'Error: failed to list buckets: 404 Not Found: organization name "{{org}}" not found')
    if "--hide-headers" not in args:
        print("ID\t\t\tName\t\tRetention\tShard group duration\tOrganization ID\tSchema Type")
    for i, (name, retention) in enumerate(state[org]):
        print(f"{{i:016x}}\t{{name}}\t\t{{retention}}\t\t24h0m0s\t\t{{'0' * 15}}1\timplicit")
elif args[:2] == ["bucket", "create"]:
    org, name, retention = flag("--org"), flag("--name"), flag("--retention")
    if os.environ.get("SHIM_FAIL_CREATE") or any(n == name for n, _ in state.get(org, [])):
        sys.exit(f'Error: failed to create bucket: 422 Unprocessable Entity: bucket with name {{name}} already exists')
    state.setdefault(org, []).append([name, listed(retention)])
    json.dump(state, open(state_path, "w"))
    print(f"{{len(state[org]):016x}}\t{{name}}\t{{listed(retention)}}")
elif args[:2] == ["bucket", "update"]:
    # cmd/influx/bucket.go: --id is required, --name would rename; the ID is the list's first column.
    bucket_id, retention = flag("--id"), flag("--retention")
    if bucket_id is None or "--name" in args or "-n" in args or os.environ.get("SHIM_FAIL_UPDATE"):
        sys.exit(f"Error: failed to update bucket {{bucket_id!r}}: {{args}}")
    rows = [row for org_rows in state.values() for row in org_rows]
    index = int(bucket_id, 16)
    if not 0 <= index < len(rows):
        sys.exit(f'Error: failed to update bucket "{{bucket_id}}": 404 Not Found: bucket not found')
    rows[index][1] = listed(retention)
    json.dump(state, open(state_path, "w"))
elif args[:1] == ["auth"]:
    # clients/auth/auth.go printAuth: ID, Description, Token, User Name, User ID, Permissions.
    auths_path = os.environ["SHIM_AUTHS"]
    auths = json.load(open(auths_path))
    def row(a):
        return f"{{a['id']}}\t{{a['description']}}\t{{a['token']}}\tadmin\t{{'0' * 15}}2\t{{a['permissions']}}"
    if args[1] == "list":
        for a in auths:
            print(row(a))
    elif args[1] == "create":
        ids = [args[i + 1] for i, a in enumerate(args) if a in ("--read-bucket", "--write-bucket")]
        if flag("--org") is None or flag("--description") is None or not ids:
            sys.exit(f"shim: auth create without org, description or buckets: {{args}}")
        new = {{"id": f"{{len(auths) + 100:016x}}", "description": flag("--description"),
                "token": f"AppToken{{len(auths) + 100}}==",
                "permissions": sorted((a, args[i + 1]) for i, a in enumerate(args) if a in ("--read-bucket", "--write-bucket"))}}
        auths.append(new)
        json.dump(auths, open(auths_path, "w"))
        print(row(new))
    elif args[1] == "delete":
        auths = [a for a in auths if a["id"] != flag("--id")]
        json.dump(auths, open(auths_path, "w"))
    else:
        sys.exit(f"shim: unexpected arguments {{args}}")
else:
    sys.exit(f"shim: unexpected arguments {{args}}")
'''


class Influx:
    def __init__(self, root: Path, buckets: dict[str, list[list[str]]]) -> None:
        self.root = root
        (root / "bin").mkdir(parents=True, exist_ok=True)
        shim = root / "bin" / "influx"
        shim.write_text(_SHIM.format(python=sys.executable))
        shim.chmod(0o755)
        self.log, self.state = root / "argv.jsonl", root / "state.json"
        self.log.write_text("")
        self.state.write_text(json.dumps(buckets))
        self.auths_path = root / "auths.json"
        self.auths_path.write_text("[]")

    def env(self, **extra: str) -> dict[str, str]:
        path = f"{self.root / 'bin'}:/usr/local/bin:/usr/bin:/bin"
        return {"PATH": path, "SHIM_LOG": str(self.log), "SHIM_STATE": str(self.state),
                "SHIM_AUTHS": str(self.auths_path), **extra}

    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def creates(self) -> list[list[str]]:
        return [c for c in self.calls() if c[:2] == ["bucket", "create"]]

    def updates(self) -> list[list[str]]:
        return [c for c in self.calls() if c[:2] == ["bucket", "update"]]

    def auths(self) -> list[dict]:
        return json.loads(self.auths_path.read_text())

    def buckets(self) -> list[list[str]]:
        return json.loads(self.state.read_text())[ORG]


def _run(shell: str, script: str, influx: Influx, **extra: str) -> subprocess.CompletedProcess[str]:
    path = influx.root / "10-extra-buckets.sh"
    path.write_text(script)
    argv = [shutil.which(shell) or shell, *(["sh"] if shell == "busybox" else []), str(path)]
    return subprocess.run(argv, env=influx.env(**extra), capture_output=True, text=True, timeout=60, check=False)


def _settings(*extra: tuple[str, str | int]) -> InfluxSettings:
    return InfluxSettings(org=ORG, bucket="sensors", username="admin", extra_buckets=tuple(extra))


@pytest.mark.parametrize("shell", SHELLS)
def test_creates_missing_buckets_once(shell: str, tmp_path: Path) -> None:
    influx = Influx(tmp_path, {ORG: [["sensors", "infinite"]]})
    script = render_extra_buckets_script(_settings(("sensors_1h", "30d"), ("events", 0), ("audit.log", 31_536_000)))
    first = _run(shell, script, influx)
    assert first.returncode == 0, first.stderr
    assert influx.creates() == [
        ["bucket", "create", "--org", ORG, "--name", "sensors_1h", "--retention", "30d"],
        ["bucket", "create", "--org", ORG, "--name", "events", "--retention", "0"],
        ["bucket", "create", "--org", ORG, "--name", "audit.log", "--retention", "31536000s"],
    ]
    second = _run(shell, script, influx)
    assert second.returncode == 0, second.stderr
    assert len(influx.creates()) == 3, "a second run must create nothing"
    assert second.stdout.count("left as it is") == 3, second.stdout
    assert [name for name, _ in influx.buckets()] == ["sensors", "sensors_1h", "events", "audit.log"]


@pytest.mark.parametrize("shell", SHELLS)
def test_an_existing_bucket_gets_its_configured_retention_and_lookalikes_are_not_mistaken_for_it(shell: str, tmp_path: Path) -> None:
    # "metrics" exists with another retention; "raw" appears only inside other names and columns.
    influx = Influx(tmp_path, {ORG: [["metrics", "168h0m0s"], ["raw_data", "infinite"], ["x.raw", "1h0m0s"]]})
    result = _run(shell, render_extra_buckets_script(_settings(("metrics", "30d"), ("raw", "7d"), ("implicit", "1h"))), influx)
    assert result.returncode == 0, result.stderr
    assert influx.creates() == [
        ["bucket", "create", "--org", ORG, "--name", "raw", "--retention", "7d"],
        ["bucket", "create", "--org", ORG, "--name", "implicit", "--retention", "1h"],
    ]
    # By the ID in the list's first column (metrics is row 0), never --name (which would rename it).
    assert influx.updates() == [["bucket", "update", "--id", f"{0:016x}", "--retention", "30d"]]
    assert "metrics retention changed from 168h0m0s to 30d" in result.stdout
    assert influx.buckets() == [["metrics", "720h0m0s"], ["raw_data", "infinite"], ["x.raw", "1h0m0s"],
                                ["raw", "168h0m0s"], ["implicit", "1h0m0s"]], "other buckets are untouched"
    again = _run(shell, render_extra_buckets_script(_settings(("metrics", "30d"), ("raw", "7d"), ("implicit", "1h"))), influx)
    assert again.returncode == 0 and len(influx.updates()) == 1, "an applied retention is not sent again"
    assert again.stdout.count("left as it is") == 3, again.stdout


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(("before", "configured", "listed"), [
    ("720h0m0s", 0, "infinite"), ("infinite", "90d", "2160h0m0s"), ("2160h0m0s", "1w2d", "216h0m0s"),
    ("1h0m0s", 5400, "1h30m0s"),
])
def test_a_changed_retention_in_extra_buckets_reaches_the_server(shell: str, tmp_path: Path, before: str, configured, listed: str) -> None:
    influx = Influx(tmp_path, {ORG: [["sensors", "infinite"], ["daily", before]]})
    result = _run(shell, render_extra_buckets_script(_settings(("daily", configured))), influx)
    assert result.returncode == 0, result.stderr
    assert influx.updates() == [["bucket", "update", "--id", f"{1:016x}", "--retention", retention_flag(configured)]]
    assert influx.buckets()[1] == ["daily", listed]
    assert influx.creates() == []


@pytest.mark.parametrize("shell", SHELLS)
def test_a_failed_update_fails_the_script(shell: str, tmp_path: Path) -> None:
    influx = Influx(tmp_path, {ORG: [["a", "24h0m0s"], ["b", "48h0m0s"]]})
    result = _run(shell, render_extra_buckets_script(_settings(("a", "2d"), ("b", "3d"))), influx, SHIM_FAIL_UPDATE="1")
    assert result.returncode != 0, "`up` must not report success with the old retention in place"
    assert len(influx.updates()) == 1, "stops at the first failure"


@pytest.mark.parametrize("shell", SHELLS)
def test_unlistable_buckets_fail_the_script_before_anything_is_created(shell: str, tmp_path: Path) -> None:
    influx = Influx(tmp_path, {ORG: []})
    result = _run(shell, render_extra_buckets_script(_settings(("a", "1d"))), influx, SHIM_FAIL_LIST="1")
    assert result.returncode != 0
    assert "cannot list the buckets of org homeiq" in result.stderr
    assert influx.creates() == []


@pytest.mark.parametrize("shell", SHELLS)
def test_a_failed_create_fails_the_script(shell: str, tmp_path: Path) -> None:
    influx = Influx(tmp_path, {ORG: []})
    result = _run(shell, render_extra_buckets_script(_settings(("a", "1d"), ("b", "2d"))), influx, SHIM_FAIL_CREATE="1")
    assert result.returncode != 0, "run-parts --exit-on-error must see the failure so setup is retried"
    assert len(influx.creates()) == 1, "stops at the first failure"


def test_run_parts_runs_the_script_as_the_entrypoint_does(tmp_path: Path) -> None:
    """entrypoint.sh line 347: run-parts --regex ".*sh$" --report --exit-on-error /docker-entrypoint-initdb.d."""
    run_parts = shutil.which("run-parts")
    assert run_parts, "run-parts (debianutils) not found"
    influx = Influx(tmp_path, {ORG: []})
    init_dir = tmp_path / "initdb"
    init_dir.mkdir()
    script = init_dir / Path(EXTRA_BUCKETS_SCRIPT_PATH).name
    script.write_text(render_extra_buckets_script(_settings(("a", "1d"))))
    argv = [run_parts, "--regex", ".*sh$", "--report", "--exit-on-error", str(init_dir)]
    skipped = subprocess.run(argv, env=influx.env(), capture_output=True, text=True, timeout=60, check=False)
    assert skipped.returncode == 0 and influx.creates() == [], "run-parts runs executable files only"
    script.chmod(0o755)
    ran = subprocess.run(argv, env=influx.env(), capture_output=True, text=True, timeout=60, check=False)
    assert ran.returncode == 0, ran.stderr
    assert influx.creates() == [["bucket", "create", "--org", ORG, "--name", "a", "--retention", "1d"]]


NAMES = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    wanted=st.lists(NAMES, min_size=1, max_size=4, unique=True),
    present=st.lists(NAMES, max_size=4, unique=True),
    retention=st.sampled_from(["30d", "1w2d", "0", 7200]),
)
def test_creates_exactly_the_missing_buckets_for_any_names(
    tmp_path_factory: pytest.TempPathFactory, wanted: list[str], present: list[str], retention
) -> None:
    wanted = [n for n in wanted if n != "sensors"] or ["other"]
    for shell in SHELLS:
        influx = Influx(tmp_path_factory.mktemp(shell), {ORG: [[n, "infinite"] for n in present]})
        result = _run(shell, render_extra_buckets_script(_settings(*((n, retention) for n in wanted))), influx)
        assert result.returncode == 0, result.stderr
        created = [c[5] for c in influx.creates()]
        assert created == [n for n in wanted if n not in present], (shell, result.stdout)
        assert all(c[7] == retention_flag(retention) for c in influx.creates())


def test_the_shells_are_the_ones_named() -> None:
    for shell in SHELLS:
        assert shutil.which(shell), f"{shell} not installed (scripts/install-test-binaries)"
    assert os.path.exists("/bin/sh")


# --- the apps' token ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shell", SHELLS)
def test_the_app_token_reads_and_writes_exactly_the_configured_buckets_and_is_all_that_is_printed(shell: str, tmp_path: Path) -> None:
    influx = Influx(tmp_path, {ORG: [["other", "infinite"], ["sensors", "infinite"], ["daily", "8760h0m0s"]]})
    script = render_app_token_script(_settings(("daily", "365d")))
    first = _run(shell, script, influx)
    assert first.returncode == 0, first.stderr
    (auth,) = influx.auths()
    assert first.stdout == f"{auth['token']}\n", "stdout becomes the apps' token: nothing else may be on it"
    # sensors is row 1, daily row 2; "other" (row 0) is not granted.
    ids = [f"{1:016x}", f"{2:016x}"]
    assert auth["permissions"] == sorted([["--read-bucket", i] for i in ids] + [["--write-bucket", i] for i in ids])
    assert [c for c in influx.calls() if c[:2] == ["auth", "create"]][0][:6] == [
        "auth", "create", "--org", ORG, "--description", auth["description"]]
    again = _run(shell, script, influx)
    assert again.returncode == 0 and again.stdout == first.stdout, "a rerun keeps the apps' token"
    assert len(influx.auths()) == 1 and len([c for c in influx.calls() if c[:2] == ["auth", "create"]]) == 1


@pytest.mark.parametrize("shell", SHELLS)
def test_another_bucket_set_gets_a_new_token_and_the_old_one_is_deleted(shell: str, tmp_path: Path) -> None:
    influx = Influx(tmp_path, {ORG: [["sensors", "infinite"], ["daily", "8760h0m0s"]]})
    first = _run(shell, render_app_token_script(_settings()), influx)
    assert first.returncode == 0, first.stderr
    second = _run(shell, render_app_token_script(_settings(("daily", "365d"))), influx)
    assert second.returncode == 0, second.stderr
    (auth,) = influx.auths()
    assert second.stdout == f"{auth['token']}\n" != first.stdout
    assert "deleted the token of another bucket set" in second.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_a_missing_bucket_fails_the_app_token_and_prints_no_token(shell: str, tmp_path: Path) -> None:
    influx = Influx(tmp_path, {ORG: [["sensors", "infinite"]]})
    result = _run(shell, render_app_token_script(_settings(("daily", "365d"))), influx)
    assert result.returncode != 0 and result.stdout == ""
    assert "org homeiq has no bucket daily" in result.stderr
    assert influx.auths() == []


def test_the_app_token_is_never_an_operator_or_all_access_token(tmp_path: Path) -> None:
    script = render_app_token_script(_settings(("daily", "365d")))
    assert "--operator" not in script and "--all-access" not in script
