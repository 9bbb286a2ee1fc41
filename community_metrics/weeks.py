"""Weeks: the one definition of the project's time axis. Plain Python: no Dagster.

A week runs Monday to Sunday in UTC and is keyed by its Monday (`2026-11-16`). Only completed
weeks exist: on Monday 2026-11-23 the latest closed week is 2026-11-16. `partitions.py` builds
Dagster's weekly partitions from these same facts, so the CLI, the API and the assets agree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

# A Monday: the first week the pipeline computes, the first full week of ClickPy's archive of
# PyPI downloads (from 2016-01-01), so `backfill --from 2016-01-04` can fill the whole history.
FIRST_WEEK = dt.date(2016, 1, 4)
WEEK_DAYS = 7
_LAST_DAY = dt.timedelta(days=WEEK_DAYS - 1)


class WeekError(ValueError):
    """A week key or range that does not name completed Monday-based weeks."""


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def today() -> dt.date:
    """Today's date in UTC: the day the sources have not finished counting yet."""
    return now().date()


def monday_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def week_key(day: dt.date) -> str:
    """The key of the week containing `day`."""
    return monday_of(day).isoformat()


def parse_week_key(key: str) -> dt.date:
    """The Monday a key names; anything else is a WeekError saying what a key looks like."""
    try:
        monday = dt.date.fromisoformat(key)
    except (TypeError, ValueError):
        raise WeekError(f"{key!r} is not a week: use the Monday's date, YYYY-MM-DD") from None
    if monday.weekday() != 0:
        raise WeekError(f"{key} is a {monday:%A}: weeks are keyed by their Monday")
    return monday


def week_range(key: str) -> tuple[dt.date, dt.date]:
    """(Monday, Sunday) of the week `key`, both days included."""
    monday = parse_week_key(key)
    return monday, monday + _LAST_DAY


def keys_range(keys: Sequence[str]) -> tuple[dt.date, dt.date]:
    """(first Monday, last Sunday) spanned by consecutive week keys, such as a run's range."""
    if not keys:
        raise WeekError("no weeks given")
    return week_range(keys[0])[0], week_range(keys[-1])[1]


def latest_closed_week(at: dt.datetime | None = None) -> dt.date:
    """The Monday of the last week that has ended by `at` (default: now)."""
    at = at or now()
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC)
    return monday_of(at.date()) - dt.timedelta(days=WEEK_DAYS)


def week_keys(first: dt.date, last: dt.date, at: dt.datetime | None = None) -> list[str]:
    """Keys of the completed weeks containing a day of `first`..`last`, from FIRST_WEEK on."""
    start = max(monday_of(first), FIRST_WEEK)
    end = min(monday_of(last), latest_closed_week(at))
    keys = []
    while start <= end:
        keys.append(start.isoformat())
        start += dt.timedelta(days=WEEK_DAYS)
    return keys


def closed_weeks(count: int, at: dt.datetime | None = None) -> list[str]:
    """The last `count` completed weeks at `at`, oldest first."""
    latest = latest_closed_week(at)
    first = max(latest - dt.timedelta(days=WEEK_DAYS * (count - 1)), FIRST_WEEK)
    return week_keys(first, latest, at)


def ranges(partitions: list[str]) -> list[tuple[str, str]]:
    """Consecutive week keys grouped as (first, last) ranges, oldest first."""
    out: list[tuple[str, str]] = []
    for key in sorted(set(partitions)):
        if out and parse_week_key(key) - parse_week_key(out[-1][1]) == dt.timedelta(weeks=1):
            out[-1] = (out[-1][0], key)
        else:
            out.append((key, key))
    return out


def describe_weeks(partitions: list[str]) -> str:
    """'2026-11-16', or '2026-11-02..2026-11-16 (3 weeks)' for a range."""
    if not partitions:
        return "no week"
    parts = [a if a == b else f"{a}..{b}" for a, b in ranges(partitions)]
    count = len(set(partitions))
    return ", ".join(parts) + (f" ({count} weeks)" if count > 1 else "")
