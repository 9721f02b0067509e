"""Every system log the server's config.xml enables ends up with a TTL once the rendered file is merged in.

tests/upstream/clickhouse_config_system_logs.xml is the recorded copy of config.xml's enabled <*_log> sections (its
header says from which commit, and why not the tag). The merge here is ConfigProcessor's by element, as the
real-binary test shows it for the Debian server (tests/real/test_clickhouse_real.py): a section of the config.d file
merges into config.xml's section of the same name, and a leaf of it replaces the leaf of the same name or is added.
"""
from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from renderers.clickhouse import (
    ENABLED_SYSTEM_LOGS,
    MAX_SYSTEM_LOG_TTL_DAYS,
    OPENTELEMETRY_SPAN_LOG_ENGINE,
    ClickHouseSettings,
    render_clickhouse_system_logs,
)

UPSTREAM = Path(__file__).resolve().parent.parent / "upstream" / "clickhouse_config_system_logs.xml"
_DAYS = re.compile(r"^(event_date|finish_date) \+ INTERVAL (\d+) DAY( DELETE)?$")


def upstream() -> ET.Element:
    return ET.parse(UPSTREAM).getroot()


def merged(config: ET.Element, override: ET.Element) -> ET.Element:
    out = copy.deepcopy(config)
    for section in override:
        if not isinstance(section.tag, str):
            continue
        base = out.find(section.tag)
        assert base is not None, f"<{section.tag}> is not enabled upstream: the file would turn it on"
        for leaf in section:
            old = base.find(leaf.tag)
            if old is None:
                old = ET.SubElement(base, leaf.tag)
            old.text = leaf.text
    return out


def _fold(text: str | None) -> str:
    return " ".join((text or "").split())


def retention(section: ET.Element) -> tuple[str, int] | None:
    """(column, days) of the table's TTL, as the server builds its engine from the section; None: no TTL."""
    engine = section.find("engine")
    if engine is not None:
        # getEngineDefinitionFromConfig.cpp refuses a <ttl> beside an <engine> at start.
        assert section.find("ttl") is None, f"<{section.tag}>: <engine> and <ttl> together stop the server"
        _, _, ttl = _fold(engine.text).partition(" TTL ")
    else:
        ttl = _fold(section.findtext("ttl"))
    if not ttl:
        return None
    found = _DAYS.match(ttl)
    assert found, f"<{section.tag}>: TTL {ttl!r} is not of the form this test reads"
    return found.group(1), int(found.group(2))


def problems(config: ET.Element, days: int) -> list[str]:
    """What is wrong with the merged config: a log without a TTL, or one kept longer than `days` would allow."""
    out = []
    for section in config:
        if not isinstance(section.tag, str):
            continue
        kept = retention(section)
        if kept is None:
            out.append(f"{section.tag}: no TTL")
            continue
        column, kept_days = kept
        upstream_days = retention(upstream().find(section.tag))
        expected = min(days, upstream_days[1]) if upstream_days else days
        if kept_days != expected:
            out.append(f"{section.tag}: kept {kept_days} days, expected {expected}")
        if column != ("finish_date" if section.tag == "opentelemetry_span_log" else "event_date"):
            out.append(f"{section.tag}: TTL on {column}")
    return out


def test_the_program_knows_exactly_the_logs_config_xml_enables() -> None:
    assert ENABLED_SYSTEM_LOGS == tuple(s.tag for s in upstream() if isinstance(s.tag, str))
    assert "session_log" not in ENABLED_SYSTEM_LOGS  # commented out in config.xml


def test_upstream_alone_leaves_fifteen_logs_unbounded() -> None:
    """The recorded config without the rendered file: the problem the file solves (and the check can fail)."""
    unbounded = sorted(p.split(":")[0] for p in problems(upstream(), MAX_SYSTEM_LOG_TTL_DAYS) if p.endswith("no TTL"))
    assert unbounded == sorted(set(ENABLED_SYSTEM_LOGS) - {"processors_profile_log", "asynchronous_insert_log",
                                                           "blob_storage_log"})
    assert len(unbounded) == 15


@settings(max_examples=200, deadline=None)
@given(days=st.integers(1, MAX_SYSTEM_LOG_TTL_DAYS))
def test_every_enabled_log_has_a_ttl_of_at_most_the_configured_days(days: int) -> None:
    rendered = ET.fromstring(render_clickhouse_system_logs(ClickHouseSettings(system_log_ttl_days=days)))
    assert problems(merged(upstream(), rendered), days) == []


def test_a_log_left_out_of_the_file_is_caught() -> None:
    rendered = ET.fromstring(render_clickhouse_system_logs(ClickHouseSettings(system_log_ttl_days=7)))
    for dropped in ("latency_log", "opentelemetry_span_log", "crash_log"):
        partial = copy.deepcopy(rendered)
        partial.remove(partial.find(dropped))
        assert problems(merged(upstream(), partial), 7) == [f"{dropped}: no TTL"]


def test_upstreams_own_shorter_ttls_are_kept_and_longer_ones_cut() -> None:
    week = ET.fromstring(render_clickhouse_system_logs(ClickHouseSettings(system_log_ttl_days=7)))
    # asynchronous_insert_log keeps 3 days upstream: no section, so its table definition is not changed.
    assert week.find("asynchronous_insert_log") is None
    assert week.findtext("processors_profile_log/ttl") == "event_date + INTERVAL 7 DAY DELETE"
    day = ET.fromstring(render_clickhouse_system_logs(ClickHouseSettings(system_log_ttl_days=1)))
    assert day.findtext("asynchronous_insert_log/ttl") == "event_date + INTERVAL 1 DAY DELETE"
    long = ET.fromstring(render_clickhouse_system_logs(ClickHouseSettings(system_log_ttl_days=90)))
    assert {s.tag for s in long} == set(ENABLED_SYSTEM_LOGS) - {"processors_profile_log", "asynchronous_insert_log",
                                                                 "blob_storage_log"}


def test_opentelemetry_span_log_keeps_upstreams_engine_with_the_ttl_inside() -> None:
    assert _fold(upstream().findtext("opentelemetry_span_log/engine")) == OPENTELEMETRY_SPAN_LOG_ENGINE
    rendered = ET.fromstring(render_clickhouse_system_logs(ClickHouseSettings(system_log_ttl_days=5)))
    section = rendered.find("opentelemetry_span_log")
    assert [c.tag for c in section] == ["engine"]
    assert section.findtext("engine") == f"{OPENTELEMETRY_SPAN_LOG_ENGINE} TTL finish_date + INTERVAL 5 DAY DELETE"
    # The other sections add only a <ttl> (and text_log its <level>): an <engine> there would refuse the <ttl>.
    for other in rendered:
        if isinstance(other.tag, str) and other.tag != "opentelemetry_span_log":
            assert {c.tag for c in other} <= {"ttl", "level"}, other.tag
