"""Test-session rules: in CI nothing may be skipped."""
from __future__ import annotations

import os
import sys
from pathlib import Path

# Imported here, at the session's start, not first by the hypothesis plugin at the terminal summary: a program that
# failed under the mock runtime (a rollout whose new container never turns healthy) leaves its executor threads
# importing, and that late import's ast.parse under pytest's rewrite hook then fails now and then with CPython
# 3.11.7's "AST constructor recursion depth mismatch" (the counter is shared by threads: python/cpython#106905),
# an INTERNALERROR after every test passed (seen running tests/deploy/test_rollout_deploy.py with another file).
import hypothesis  # noqa: F401
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI") != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        reporter.write_line(f"CI: {skipped} test(s) were skipped; every test must run in CI", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/real runs a real program, everything under tests/deploy the real Docker engine
    and CLI: mark them so they can be selected or left out (`-m "not real_engine"`)."""
    real, deploy = ROOT / "tests" / "real", ROOT / "tests" / "deploy"
    for item in items:
        parents = Path(item.fspath).parents
        if real in parents:
            item.add_marker(pytest.mark.real_binary)
        if deploy in parents:
            item.add_marker(pytest.mark.real_engine)
