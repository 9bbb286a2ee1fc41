"""Weekly metrics from daily observations. Plain Python: no Dagster, no LanceDB.

Week W runs Monday W to Sunday W+6 (UTC).
- downloads: the sum of the observed days, with `days_observed` (1-7); a week with no observed
  day gets no row. Missing days are never read as zero.
- stars: the last cumulative value on or before Sunday. With none inside the week, a value
  observed on the next day (the Monday refresh's snapshot) stands for the week's end; otherwise
  the last earlier value is carried forward, flagged `is_carried_forward`, and only while a
  later observation exists, so a stale value is never extended past the newest data. A value
  from later than the next day is never copied into a past week.
When several observed a day: an API over an archive over `csv_seed`; of two equals, the
later fetch. A row's provenance names the sources of its days (`clickpy+pypistats`
for the week at pypistats' retention edge).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from community_metrics.catalog import Metric

# The seed is trusted least, then the archives (filling what an API no longer serves), then
# the sources' own APIs (pypistats, npm, cratesio, github, and `api`, their one name before):
# a day an API gave stays its figure when an archive is asked for it later.
SEED = "csv_seed"
ARCHIVES = {"clickpy", "gharchive"}
WEEK = dt.timedelta(days=6)


@dataclass
class WeeklyReport:
    """What a computation found, for materialization metadata."""

    weeks: list[dt.date]
    rows: int = 0
    missing: dict[str, list[str]] = field(default_factory=dict)
    days_observed: int = 0
    download_weeks: int = 0
    carried_forward: int = 0

    @property
    def completeness(self) -> float | None:
        """Observed download days over the days the written download weeks span."""
        if not self.download_weeks:
            return None
        return round(self.days_observed / (7 * self.download_weeks), 4)


def best_per_day(observations: Iterable[dict]) -> dict[str, dict[dt.date, dict]]:
    """metric_id -> day -> the observation to use: by trust (`_rank`), and of two equally
    trusted sources the one fetched last (a day recomputed from another source)."""
    best: dict[str, dict[dt.date, dict]] = defaultdict(dict)
    for obs in observations:
        days = best[obs["metric_id"]]
        current = days.get(obs["day"])
        if current is None or _rank(obs) > _rank(current):
            days[obs["day"]] = obs
    return best


def _rank(obs: dict) -> tuple:
    """The seed below the archives below the sources' own APIs; then the later fetch."""
    fetched = obs.get("fetched_at")
    provenance = obs["provenance"]
    trust = 0 if provenance == SEED else 1 if provenance in ARCHIVES else 2
    return (trust, fetched.timestamp() if fetched else 0.0)


def _base_row(metric: Metric, monday: dt.date) -> dict:
    return {
        "metric_id": metric.metric_id,
        "source_window": "week",
        "period_start": monday,
        "period_end": monday + WEEK,
        "unit": metric.unit,
        "recomputed": False,
        "previous_value": None,
    }


def _downloads(metric: Metric, days: dict[dt.date, dict], monday: dt.date) -> dict | None:
    inside = [days[d] for d in sorted(days) if monday <= d <= monday + WEEK]
    if not inside:
        return None
    return {
        **_base_row(metric, monday),
        "value": sum(obs["value"] for obs in inside),
        "days_observed": len(inside),
        "is_carried_forward": False,
        "observed_on": inside[-1]["day"],
        "provenance": "+".join(sorted({obs["provenance"] for obs in inside})),
    }


def _stars(metric: Metric, days: dict[dt.date, dict], ordered: list[dt.date], monday: dt.date):
    sunday = monday + WEEK
    position = bisect.bisect_right(ordered, sunday)
    last = days[ordered[position - 1]] if position else None
    carried = last is None or last["day"] < monday
    following = ordered[position] if position < len(ordered) else None
    if carried and following == sunday + dt.timedelta(days=1):
        last, carried = days[following], False
    elif last is None or (carried and following is None):
        return None
    return {
        **_base_row(metric, monday),
        "value": last["value"],
        "days_observed": sum(1 for d in ordered[:position] if d >= monday),
        "is_carried_forward": carried,
        "observed_on": last["day"],
        "provenance": last["provenance"],
    }


def compute_weekly(
    metrics: Sequence[Metric], observations: Iterable[dict], weeks: Sequence[dt.date]
) -> tuple[list[dict], WeeklyReport]:
    """Stats rows (source_window 'week') for each metric and each Monday in `weeks`."""
    for monday in weeks:
        if monday.weekday() != 0:
            raise ValueError(f"week {monday} does not start on a Monday")
    best = best_per_day(observations)
    report = WeeklyReport(weeks=list(weeks))
    rows: list[dict] = []
    for metric in metrics:
        days = best.get(metric.metric_id, {})
        ordered = sorted(days)
        for monday in weeks:
            if metric.family == "downloads":
                row = _downloads(metric, days, monday)
            else:
                row = _stars(metric, days, ordered, monday)
            if row is None:
                report.missing.setdefault(metric.metric_id, []).append(monday.isoformat())
                continue
            if metric.family == "downloads":
                report.download_weeks += 1
                report.days_observed += row["days_observed"]
            report.carried_forward += row["is_carried_forward"]
            rows.append(row)
    report.rows = len(rows)
    return rows, report


def mark_revisions(rows: Iterable[dict], existing: Iterable[dict]) -> tuple[list[dict], int]:
    """Flag rows whose value differs from the stored one as `recomputed`, keeping the old value.

    An unchanged value keeps the stored flags, so re-running a week rewrites nothing.
    Returns the rows and how many were revised now.
    """
    stored = {(r["metric_id"], r["period_end"]): r for r in existing}
    out, revised = [], 0
    for row in rows:
        before = stored.get((row["metric_id"], row["period_end"]))
        if before is None:
            out.append(row)
        elif before["value"] != row["value"]:
            revised += 1
            out.append({**row, "recomputed": True, "previous_value": before["value"]})
        else:
            out.append(
                {
                    **row,
                    "recomputed": before["recomputed"],
                    "previous_value": before["previous_value"],
                }
            )
    return out, revised
