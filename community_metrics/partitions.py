"""The ONE weekly partitions definition shared by every weekly asset.

Monday-based (day_offset=1), UTC, completed weeks only (end_offset=0). A single shared object
keeps single-run backfills in one run: assets with different partition starts split them.
"""

from __future__ import annotations

import datetime as dt
import warnings

import dagster as dg

# Single-run backfills are the design (one run per range), not an experiment: the beta notice
# would otherwise print in every process that loads the code location.
warnings.filterwarnings("ignore", message=".*backfill_policy.*", category=dg.BetaWarning)

FIRST_WEEK = dt.date(2022, 1, 3)

WEEKLY = dg.WeeklyPartitionsDefinition(
    start_date=FIRST_WEEK.isoformat(), day_offset=1, timezone="UTC", end_offset=0
)


def monday_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def week_keys(first: dt.date, last: dt.date) -> list[str]:
    """Partition keys of the weeks containing `first` .. `last`, limited to completed weeks."""
    start, end = monday_of(first), monday_of(last)
    return [k for k in WEEKLY.get_partition_keys() if start.isoformat() <= k <= end.isoformat()]
