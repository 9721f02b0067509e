"""A block-volume backup schedule that stays inside Oracle's Always Free allowance.

Always Free covers 5 volume backups per tenancy. Oracle's predefined policies keep
more than that: "bronze", the smallest, keeps 12 monthly incrementals plus a yearly
one for 5 years. So the stack brings its own policy: one weekly full backup and a
few daily incrementals, with retentions that never leave more than the allowance alive.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

FREE_VOLUME_BACKUPS = 5
DAY_SECONDS = 24 * 60 * 60
WEEK_SECONDS = 7 * DAY_SECONDS
# OCI retention is a duration, not a count. Expiring each backup half a day before its
# replacement is due keeps old and new from overlapping even when a run starts hours late.
EXPIRY_MARGIN_SECONDS = 12 * 60 * 60

Weekday = Literal["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]


@dataclass(frozen=True, kw_only=True)
class BackupPlan:
    weekly_full: int = 1
    daily_incremental: int = FREE_VOLUME_BACKUPS - 1
    hour_utc: int = 3
    weekday: Weekday = "SUNDAY"

    def __post_init__(self) -> None:
        if self.weekly_full < 1:
            raise ValueError(f"weekly_full: {self.weekly_full} must be at least 1 (incrementals need a full base)")
        if self.daily_incremental < 0:
            raise ValueError(f"daily_incremental: {self.daily_incremental} must not be negative")
        if not 0 <= self.hour_utc <= 23:
            raise ValueError(f"hour_utc: {self.hour_utc} must be 0..23")
        alive = most_backups_alive(backup_schedules(self))
        if alive > FREE_VOLUME_BACKUPS:
            raise ValueError(
                f"{self.weekly_full} weekly + {self.daily_incremental} daily backups keep up to {alive} alive, "
                f"more than Always Free's {FREE_VOLUME_BACKUPS} volume backups"
            )


def backup_schedules(plan: BackupPlan) -> list[dict[str, Any]]:
    """``schedules`` for ``oci.core.VolumeBackupPolicy`` (pulumi-oci's dict form)."""
    schedules = [
        {
            "backup_type": "FULL",
            "period": "ONE_WEEK",
            "offset_type": "STRUCTURED",
            "day_of_week": plan.weekday,
            "hour_of_day": plan.hour_utc,
            "time_zone": "UTC",
            "retention_seconds": plan.weekly_full * WEEK_SECONDS - EXPIRY_MARGIN_SECONDS,
        }
    ]
    if plan.daily_incremental:
        schedules.append(
            {
                "backup_type": "INCREMENTAL",
                "period": "ONE_DAY",
                "offset_type": "STRUCTURED",
                "hour_of_day": plan.hour_utc,
                "time_zone": "UTC",
                "retention_seconds": plan.daily_incremental * DAY_SECONDS - EXPIRY_MARGIN_SECONDS,
            }
        )
    return schedules


def most_backups_alive(schedules: list[dict[str, Any]]) -> int:
    """The largest number of backups the schedules can keep at once."""
    periods = {"ONE_DAY": DAY_SECONDS, "ONE_WEEK": WEEK_SECONDS}
    total = 0
    for schedule in schedules:
        period = periods[schedule["period"]]
        # Backups taken every `period`, each alive for `retention`: at most ceil(retention / period) overlap.
        total += -(-schedule["retention_seconds"] // period)
    return total
