"""The backup schedule never keeps more backups alive than Always Free covers, even when runs start late."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renderers.oci_backup import (
    DAY_SECONDS,
    EXPIRY_MARGIN_SECONDS,
    FREE_VOLUME_BACKUPS,
    WEEK_SECONDS,
    BackupPlan,
    backup_schedules,
    most_backups_alive,
)

PERIODS = {"ONE_DAY": DAY_SECONDS, "ONE_WEEK": WEEK_SECONDS}
HORIZON_DAYS = 42


def test_default_plan_is_a_weekly_full_and_daily_incrementals_in_utc() -> None:
    weekly, daily = backup_schedules(BackupPlan())
    assert (weekly["backup_type"], weekly["period"], weekly["day_of_week"]) == ("FULL", "ONE_WEEK", "SUNDAY")
    assert (daily["backup_type"], daily["period"]) == ("INCREMENTAL", "ONE_DAY")
    assert weekly["time_zone"] == daily["time_zone"] == "UTC"
    assert weekly["offset_type"] == daily["offset_type"] == "STRUCTURED"
    assert weekly["retention_seconds"] == WEEK_SECONDS - EXPIRY_MARGIN_SECONDS
    assert daily["retention_seconds"] == 4 * DAY_SECONDS - EXPIRY_MARGIN_SECONDS
    assert most_backups_alive(backup_schedules(BackupPlan())) == FREE_VOLUME_BACKUPS


def test_no_incrementals_means_one_schedule() -> None:
    assert [s["backup_type"] for s in backup_schedules(BackupPlan(daily_incremental=0))] == ["FULL"]


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ({"weekly_full": 2, "daily_incremental": 4}, "more than Always Free"),
        ({"daily_incremental": 5}, "more than Always Free"),
        ({"weekly_full": 0}, "at least 1"),
        ({"daily_incremental": -1}, "must not be negative"),
        ({"hour_utc": 24}, "0..23"),
    ],
)
def test_plans_beyond_the_allowance_or_malformed_are_refused(plan: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BackupPlan(**plan)


def _alive_peak(schedules: list[dict], lateness: list[int]) -> int:
    """Largest number of backups alive at once when run k of each schedule starts lateness[k] seconds late."""
    events = []
    for schedule in schedules:
        period = PERIODS[schedule["period"]]
        for k in range(HORIZON_DAYS * DAY_SECONDS // period):
            start = k * period + lateness[k % len(lateness)]
            events += [(start, 1), (start + schedule["retention_seconds"], -1)]
    alive = peak = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):  # an expiry at t frees its slot before a start at t
        alive += delta
        peak = max(peak, alive)
    return peak


@settings(max_examples=200)
@given(st.lists(st.integers(min_value=0, max_value=EXPIRY_MARGIN_SECONDS - 1), min_size=1, max_size=HORIZON_DAYS))
def test_late_runs_never_push_past_the_allowance(lateness: list[int]) -> None:
    assert _alive_peak(backup_schedules(BackupPlan()), lateness) <= FREE_VOLUME_BACKUPS


def test_the_simulation_can_detect_an_overrun() -> None:
    # Without the margin, a full 4-day retention overlaps the fifth daily run.
    schedules = [
        dict(s, retention_seconds=s["retention_seconds"] + EXPIRY_MARGIN_SECONDS) for s in backup_schedules(BackupPlan())
    ]
    assert _alive_peak(schedules, [0, 3600]) > FREE_VOLUME_BACKUPS
