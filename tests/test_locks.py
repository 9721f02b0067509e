"""The lock files: every install comes from one, and each one still matches its inputs.

- scripts/lock, run on a copy of the inputs with the committed locks as its starting point, writes exactly
  the committed locks (a lock that no longer matches its input fails here, naming the file and the diff);
  adding a requirement to an input does change its lock, so the check can fail.
- every hash in a lock is one the index serves for that version (uv keeps an existing lock's hashes when it
  keeps its pins, so the comparison above cannot see a wrong one);
- scripts/venv-from-lock installs only hashed pins, and does nothing when the venv already has the lock;
- scripts/test, scripts/up, .ci/run and the workflow's preview jobs make ./venv and policy/venv from the locks.
The re-resolving tests need uv (scripts/install-lock-tools; .ci/run installs it) and the package index.
"""
from __future__ import annotations

import base64
import difflib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.harness import ROOT

# input -> lock, in the order scripts/lock writes them.
LOCKS = {
    "requirements-dev.txt": "requirements-dev.lock",
    "requirements.txt": "requirements.lock",
    "policy/requirements.txt": "policy/requirements.lock",
}
# Not in any lock: adding it must change the lock of the input it is added to.
ADDED = "tomli-w>=1"
ADDED_PIN = "tomli-w=="


# --- reading a lock ------------------------------------------------------------------------------


def lock_entries(text: str) -> dict[str, set[str]]:
    """Each requirement line of a lock (`name==version`, with its marker if any) -> its hashes."""
    entries: dict[str, set[str]] = {}
    for line in text.replace("\\\n", " ").splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        hashes = set(re.findall(r"--hash=(\S+)", line))
        entries[re.sub(r"\s*--hash=\S+", "", line).strip()] = hashes
    return entries


def pins(text: str) -> dict[str, set[str]]:
    """Package name -> the versions a lock pins for it (two where the lock forks on a marker)."""
    found: dict[str, set[str]] = {}
    for requirement in lock_entries(text):
        name, version = requirement.split(";", 1)[0].strip().split("==", 1)
        found.setdefault(name, set()).add(version)
    return found


def included(relative: str) -> list[str]:
    """An input and the files it includes (-r/-c), relative to the repository root."""
    found = [relative]
    for line in (ROOT / relative).read_text().splitlines():
        m = re.match(r"\s*(?:-r|-c|--requirement|--constraint)\s*=?\s*(\S+)", line)
        if m:
            found += included(str(Path(relative).parent / m.group(1)))
    return found


# --- running scripts/lock on a copy --------------------------------------------------------------


@pytest.fixture(scope="module")
def uv() -> str:
    path = subprocess.run(
        [ROOT / "scripts" / "install-lock-tools", "--path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if not os.access(path, os.X_OK):
        pytest.fail(f"uv is not installed at {path}: run scripts/install-lock-tools (.ci/run does)")
    return path


def copy_for_locking(dest: Path) -> None:
    """scripts/lock, every input with what it includes, and the committed locks, laid out as in the repo."""
    files = {"scripts/lock", *LOCKS.values()}
    for source in LOCKS:
        files.update(included(source))
    for relative in files:
        (dest / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, dest / relative)


def run_lock(root: Path, uv: str, *args: str) -> dict[str, str]:
    result = subprocess.run(
        [root / "scripts" / "lock", *args], env={**os.environ, "UV": uv}, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"scripts/lock failed:\n{result.stdout}{result.stderr}"
    return {lock: (root / lock).read_text() for lock in LOCKS.values()}


def differences(relocked: dict[str, str]) -> dict[str, str]:
    """Each lock whose re-resolved text differs from the committed one -> the unified diff."""
    found = {}
    for lock, text in relocked.items():
        committed = (ROOT / lock).read_text()
        if text != committed:
            found[lock] = "".join(
                difflib.unified_diff(
                    committed.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    fromfile=f"{lock} (committed)",
                    tofile=f"{lock} (scripts/lock now)",
                )
            )
    return found


@pytest.fixture(scope="module")
def relocked(uv, tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("relock")
    copy_for_locking(root)
    return run_lock(root, uv)


@pytest.mark.parametrize("source,lock", LOCKS.items())
def test_the_committed_lock_matches_its_input(relocked, source, lock):
    diff = differences(relocked).get(lock)
    assert diff is None, (
        f"{lock} no longer matches {source} (or what it includes): run `scripts/lock` and commit the result\n{diff}"
    )


@pytest.mark.parametrize("source,lock", LOCKS.items())
def test_an_added_requirement_changes_the_lock(uv, tmp_path, source, lock):
    assert ADDED_PIN not in (ROOT / lock).read_text()
    copy_for_locking(tmp_path)
    with (tmp_path / source).open("a") as f:
        f.write(f"{ADDED}\n")
    found = differences(run_lock(tmp_path, uv))
    assert lock in found, f"adding {ADDED!r} to {source} left {lock} as it was: the check could never fail"
    assert f"+{ADDED_PIN}" in found[lock]


def test_relocking_keeps_a_pin_the_inputs_still_allow(uv, tmp_path):
    """Why a new upstream release does not fail the check: the existing pin wins while it satisfies the input."""
    copy_for_locking(tmp_path)
    dev = tmp_path / "requirements-dev.lock"
    assert "\niniconfig==2.3.1 " in dev.read_text()
    dev.write_text(dev.read_text().replace("\niniconfig==2.3.1 ", "\niniconfig==2.3.0 "))
    assert pins(run_lock(tmp_path, uv)["requirements-dev.lock"])["iniconfig"] == {"2.3.0"}


@pytest.fixture(scope="module")
def served_hashes(uv, tmp_path_factory) -> dict[str, dict[str, set[str]]]:
    """Each lock's pins resolved afresh (no existing lock to take hashes from), with the index's hashes."""
    work = tmp_path_factory.mktemp("hashes")
    served = {}
    for i, lock in enumerate(LOCKS.values()):
        pinned = work / f"pins-{i}.txt"
        pinned.write_text("".join(f"{r}\n" for r in lock_entries((ROOT / lock).read_text())))
        fresh = work / f"fresh-{i}.txt"
        result = subprocess.run(
            [uv, "pip", "compile", "--quiet", "--universal", "--python-version", "3.11", "--generate-hashes",
             "--no-deps", "--no-header", "--no-annotate", "-o", fresh, pinned],
            capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, result.stderr
        served[lock] = lock_entries(fresh.read_text())
    return served


def unserved(lock_text: str, served: dict[str, set[str]]) -> dict[str, set[str]]:
    """Requirement -> the hashes in the lock that the index does not serve for it."""
    found = {}
    for requirement, hashes in lock_entries(lock_text).items():
        extra = hashes - served.get(requirement, set())
        if extra:
            found[requirement] = extra
    return found


@pytest.mark.parametrize("lock", LOCKS.values())
def test_every_hash_in_the_lock_is_one_the_index_serves(served_hashes, lock):
    # Subset, not equal: a wheel uploaded later for a pinned version adds a hash the lock lacks, and pip
    # only installs files whose hash the lock lists.
    bad = unserved((ROOT / lock).read_text(), served_hashes[lock])
    assert not bad, f"{lock} has hashes the index does not serve: {bad}; run `scripts/lock` and commit"


def test_a_wrong_hash_is_found(served_hashes):
    text = (ROOT / "requirements.lock").read_text()
    first = re.search(r"--hash=sha256:([0-9a-f]{64})", text).group(1)
    tampered = text.replace(first, "0" * 64, 1)
    assert len(unserved(tampered, served_hashes["requirements.lock"])) == 1


# --- the locks themselves --------------------------------------------------------------------------


@pytest.mark.parametrize("lock", LOCKS.values())
def test_every_entry_is_an_exact_pin_with_hashes(lock):
    entries = lock_entries((ROOT / lock).read_text())
    assert entries
    for requirement, hashes in entries.items():
        assert re.fullmatch(r"[a-z0-9][a-z0-9._-]*==[^\s;]+( ; .+)?", requirement), f"{lock}: {requirement!r}"
        assert hashes and all(h.startswith("sha256:") for h in hashes), f"{lock}: {requirement} has no sha256"


@pytest.mark.parametrize("lock", ["requirements.lock", "policy/requirements.lock"])
def test_deploys_and_the_policy_pack_run_the_versions_the_tests_run(lock):
    """scripts/lock constrains these two by the dev lock: a package has one version everywhere."""
    dev = pins((ROOT / "requirements-dev.lock").read_text())
    for name, versions in pins((ROOT / lock).read_text()).items():
        assert versions <= dev.get(name, set()), f"{lock} pins {name} {versions}, requirements-dev.lock {dev.get(name)}"


def test_the_locks_are_resolved_for_the_python_ci_runs():
    workflow = yaml.safe_load((ROOT / ".github/workflows/pull-request.yml").read_text())
    versions = {
        step["with"]["python-version"]
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("actions/setup-python")
    }
    assert versions == {"3.11"}
    assert "--python-version 3.11" in (ROOT / "scripts" / "lock").read_text()


# --- scripts/venv-from-lock ------------------------------------------------------------------------


def make_wheel(directory: Path, name: str, version: str) -> Path:
    """A one-module wheel, so the installs below need no index."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": f"VERSION = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, content in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(content.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(content.encode())}")
    files[f"{dist}/RECORD"] = "\n".join(record + [f"{dist}/RECORD,,"]) + "\n"
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, content in files.items():
            z.writestr(path, content)
    return wheel


def write_lock(path: Path, name: str, wheel: Path, digest: str | None = None) -> Path:
    digest = digest or hashlib.sha256(wheel.read_bytes()).hexdigest()
    path.write_text(f"{name} @ {wheel.as_uri()} \\\n    --hash=sha256:{digest}\n")
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def made_venv(tmp_path_factory) -> dict:
    """A venv venv-from-lock made from nothing; the tests below reuse it (each installs its own package):
    making one takes seconds."""
    work = tmp_path_factory.mktemp("probe")
    venv, lock = work / "venv", work / "first.lock"
    write_lock(lock, "probe_first", make_wheel(work, "probe_first", "1.0"))
    result = venv_from_lock(venv, lock)
    return {
        "venv": venv, "result": result, "lock_sha256": sha256_of(lock),
        "stamp": (venv / ".lock-sha256").read_text().strip() if (venv / ".lock-sha256").exists() else None,
        "version": installed_version(venv, "probe_first"),
    }


@pytest.fixture
def probe_venv(made_venv) -> Path:
    assert made_venv["result"].returncode == 0, made_venv["result"].stderr
    return made_venv["venv"]


def venv_from_lock(venv: Path, lock: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ROOT / "scripts" / "venv-from-lock", venv, lock],
        env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True, timeout=300,
    )


def installed_version(venv: Path, name: str) -> str | None:
    result = subprocess.run(
        [venv / "bin" / "python", "-c", f"import {name}; print({name}.VERSION)"], capture_output=True, text=True
    )
    return result.stdout.strip() if result.returncode == 0 else None


def test_venv_from_lock_makes_a_venv_and_stamps_it(made_venv):
    assert made_venv["result"].returncode == 0, made_venv["result"].stderr
    assert (made_venv["venv"] / "pyvenv.cfg").exists()
    assert made_venv["version"] == "1.0"
    assert made_venv["stamp"] == made_venv["lock_sha256"]


def test_venv_from_lock_installs_a_lock_once_and_follows_a_changed_one(probe_venv, tmp_path):
    lock = tmp_path / "probe.lock"
    write_lock(lock, "probe_once", make_wheel(tmp_path, "probe_once", "1.0"))
    assert venv_from_lock(probe_venv, lock).returncode == 0
    assert installed_version(probe_venv, "probe_once") == "1.0"
    assert (probe_venv / ".lock-sha256").read_text().strip() == sha256_of(lock)

    # The venv already has this lock: a second run installs nothing (the removed module stays removed).
    next((probe_venv / "lib").glob("python3*/site-packages/probe_once.py")).unlink()
    assert venv_from_lock(probe_venv, lock).returncode == 0
    assert installed_version(probe_venv, "probe_once") is None

    write_lock(lock, "probe_once", make_wheel(tmp_path, "probe_once", "2.0"))
    assert venv_from_lock(probe_venv, lock).returncode == 0
    assert installed_version(probe_venv, "probe_once") == "2.0"
    assert (probe_venv / ".lock-sha256").read_text().strip() == sha256_of(lock)


def test_venv_from_lock_refuses_a_wrong_hash_and_an_unhashed_line(probe_venv, tmp_path):
    wheel = make_wheel(tmp_path, "probe_refused", "1.0")
    wrong = write_lock(tmp_path / "wrong.lock", "probe_refused", wheel, digest="0" * 64)
    result = venv_from_lock(probe_venv, wrong)
    assert result.returncode != 0 and "hash" in result.stderr.lower(), result.stderr
    assert not (probe_venv / ".lock-sha256").exists()
    assert installed_version(probe_venv, "probe_refused") is None

    unhashed = tmp_path / "unhashed.lock"
    unhashed.write_text(f"probe_refused @ {wheel.as_uri()}\n")
    result = venv_from_lock(probe_venv, unhashed)
    assert result.returncode != 0 and "hash" in result.stderr.lower(), result.stderr
    assert not (probe_venv / ".lock-sha256").exists()
    assert installed_version(probe_venv, "probe_refused") is None


# --- who calls it ----------------------------------------------------------------------------------

POLICY_VENV = "policy/" + yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())["runtime"]["options"][
    "virtualenv"
]


def stub_repo(tmp_path: Path, script: str) -> tuple[Path, Path, dict[str, str]]:
    """A copy of `script` whose scripts/venv-from-lock and `pulumi` only log their arguments."""
    root, log, bin_dir = tmp_path / "repo", tmp_path / "calls.log", tmp_path / "bin"
    (root / "scripts").mkdir(parents=True)
    bin_dir.mkdir()
    shutil.copy2(ROOT / script, root / script)
    shutil.copy2(ROOT / "scripts" / "stack-env.sh", root / "scripts" / "stack-env.sh")  # scripts/up sources it
    stub = f'#!/bin/sh\necho "$(basename "$0") $*" >> {log}\n'
    # venv/bin/python logs too, so scripts/test's `exec venv/bin/python -m pytest` is seen.
    (root / "venv" / "bin").mkdir(parents=True)
    for f in (root / "scripts" / "venv-from-lock", bin_dir / "pulumi", root / "venv" / "bin" / "python"):
        f.write_text(stub)
        f.chmod(0o755)
    return root, log, {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_scripts_test_makes_both_venvs_from_their_locks_before_pytest(tmp_path):
    root, log, env = stub_repo(tmp_path, "scripts/test")
    subprocess.run([root / "scripts" / "test", "-x"], env=env, check=True, timeout=60)
    assert log.read_text().splitlines() == [
        "venv-from-lock venv requirements-dev.lock",
        f"venv-from-lock {POLICY_VENV} policy/requirements.lock",
        "python -m pytest -x",
    ]


def test_scripts_up_makes_both_venvs_from_their_locks_before_pulumi(tmp_path):
    root, log, env = stub_repo(tmp_path, "scripts/up")
    subprocess.run([root / "scripts" / "up", "dev"], env=env, check=True, timeout=60)
    assert log.read_text().splitlines() == [
        "venv-from-lock venv requirements.lock",
        f"venv-from-lock {POLICY_VENV} policy/requirements.lock",
        "pulumi stack select --create dev",
        "pulumi up --stack dev --yes",
    ]


def test_ci_installs_uv_before_the_tests():
    lines = [line.split("#", 1)[0].strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    def first(text: str) -> int:
        return next(i for i, line in enumerate(lines) if text in line)

    assert first("scripts/install-lock-tools") < first("CI=true scripts/test -ra")


def test_every_preview_job_makes_both_venvs_from_their_locks_first():
    workflow = yaml.safe_load((ROOT / ".github/workflows/pull-request.yml").read_text())
    wanted = f"scripts/venv-from-lock venv requirements.lock && scripts/venv-from-lock {POLICY_VENV} policy/requirements.lock"
    previews = 0
    for name, job in workflow["jobs"].items():
        steps = job["steps"]
        runs = [str(step.get("run", "")) for step in steps]
        assert not any(re.search(r"pip install|venv/bin/pip", run) for run in runs), f"{name} installs without a lock"
        uses_pack = [i for i, s in enumerate(steps) if (s.get("with") or {}).get("policyPacks") == "policy"]
        if not uses_pack:
            continue
        previews += 1
        made = [i for i, run in enumerate(runs) if wanted in run]
        assert made and made[0] < uses_pack[0], f"job {name} runs the policy pack before making {POLICY_VENV}"
    assert previews == 2


def test_no_script_installs_from_the_loose_inputs():
    for script in ("scripts/test", "scripts/up", ".ci/run"):
        assert not re.search(r"pip install|-r requirements", (ROOT / script).read_text()), script


def test_the_policy_venv_scripts_test_made_starts_the_pack():
    """policy/venv, as scripts/test left it, runs the pack the way pulumi-language-python starts it."""
    venv = ROOT / POLICY_VENV
    if not (venv / "bin" / "python").exists():
        pytest.fail(f"{POLICY_VENV} does not exist: scripts/test makes it")
    assert (venv / ".lock-sha256").read_text().strip() == hashlib.sha256(
        (ROOT / "policy" / "requirements.lock").read_bytes()
    ).hexdigest(), f"{POLICY_VENV} was not made from the current policy/requirements.lock"
    process = subprocess.Popen(
        [venv / "bin" / "python", "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."],
        cwd=ROOT / "policy", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": ""},
    )
    try:
        import selectors

        selector = selectors.DefaultSelector()
        selector.register(process.stdout, selectors.EVENT_READ)
        assert selector.select(60), "the pack printed no port within 60 s"
        line = process.stdout.readline()
        assert line.strip().isdigit(), f"expected the pack's gRPC port, got {line!r}"
    finally:
        process.kill()
        process.wait(timeout=10)
