"""Data checks on the weekly stats: what does not fail a run but should not pass unseen.

Plain Python over stats rows (pandas, no Dagster): the weekly asset runs them over the weeks
it wrote, with the trailing weeks the comparisons need, and reports each as an asset check.
Every failure names the metric and the week, so an alert can go out once per check and week.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from community_metrics.catalog import Metric

Severity = Literal["error", "warn"]
TRAILING_WEEKS = 8  # the anomaly band's window
MIN_TRAILING = 4  # fewer known weeks than this: no band, no verdict


@dataclass(frozen=True)
class CheckSpec:
    name: str
    severity: Severity
    blocking: bool
    description: str


CHECKS = (
    CheckSpec(
        "unique_metric_weeks",
        "error",
        True,
        "One stats row per (metric_id, week): a duplicate would double-count a week.",
    ),
    CheckSpec("values_non_negative", "error", False, "No weekly value is below zero."),
    CheckSpec(
        "stars_not_decreasing",
        "warn",
        False,
        "A star count lower than the week before (stars removed, or a source error).",
    ),
    CheckSpec(
        "downloads_complete",
        "warn",
        False,
        "Every closed week of downloads has 7 observed days.",
    ),
    CheckSpec(
        "weekly_value_in_band",
        "warn",
        False,
        "Downloads (and weekly star gains) within median +- k x MAD of the trailing 8 weeks.",
    ),
)
TRAILING_NEEDED = dt.timedelta(weeks=TRAILING_WEEKS + 1)  # what the checks read before a range


@dataclass
class CheckOutcome:
    spec: CheckSpec
    failures: list[dict] = field(default_factory=list)  # each with metric_id and week
    checked: int = 0

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failing_weeks(self) -> list[str]:
        return sorted({f["week"] for f in self.failures})


def _frame(rows: list[dict]) -> pd.DataFrame:
    columns = ["metric_id", "period_start", "value", "days_observed"]
    frame = pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)
    frame["period_start"] = pd.to_datetime(frame["period_start"])
    return frame


def _week(value) -> str:
    return pd.Timestamp(value).date().isoformat()


def run_checks(
    rows: list[dict],
    metrics: list[Metric],
    weeks: list[dt.date],
    latest_closed: dt.date,
    k: float,
) -> list[CheckOutcome]:
    """Each check over the weekly rows of `weeks` (the range written); `rows` may hold the
    trailing weeks before it too, which only serve as the comparison."""
    frame = _frame(rows)
    in_range = frame[frame["period_start"].isin(pd.to_datetime(weeks))]
    family = {m.metric_id: m.family for m in metrics}
    outcomes = {spec.name: CheckOutcome(spec) for spec in CHECKS}

    unique = outcomes["unique_metric_weeks"]
    unique.checked = len(in_range)
    counts = in_range.groupby(["metric_id", "period_start"]).size()
    for (metric_id, week), count in counts[counts > 1].items():
        unique.failures.append({"metric_id": metric_id, "week": _week(week), "rows": int(count)})

    negative = outcomes["values_non_negative"]
    negative.checked = len(in_range)
    for row in in_range[in_range["value"] < 0].itertuples():
        negative.failures.append(
            {"metric_id": row.metric_id, "week": _week(row.period_start), "value": int(row.value)}
        )

    complete = outcomes["downloads_complete"]
    downloads = in_range[in_range["metric_id"].map(family) == "downloads"]
    closed = downloads[downloads["period_start"] <= pd.Timestamp(latest_closed)]
    complete.checked = len(closed)
    for row in closed[closed["days_observed"].fillna(0) < 7].itertuples():
        days = None if pd.isna(row.days_observed) else int(row.days_observed)
        complete.failures.append(
            {"metric_id": row.metric_id, "week": _week(row.period_start), "days_observed": days}
        )

    stars_check, band_check = outcomes["stars_not_decreasing"], outcomes["weekly_value_in_band"]
    first = pd.Timestamp(min(weeks)) if weeks else None
    deduplicated = frame.drop_duplicates(["metric_id", "period_start"], keep="last")
    for metric_id, group in deduplicated.groupby("metric_id"):
        kind = family.get(metric_id)
        if kind is None:
            continue
        series = group.set_index("period_start")["value"].astype(float).sort_index()
        # every week from the first stored to the last: a missing week is NaN, never zero
        series = series.reindex(pd.date_range(series.index.min(), series.index.max(), freq="7D"))
        wanted = series.index >= first
        if kind == "stars":
            drops = series.diff()
            for week, drop in drops[wanted & (drops < 0)].items():
                stars_check.failures.append(
                    {
                        "metric_id": metric_id,
                        "week": _week(week),
                        "value": int(series[week]),
                        "drop": int(-drop),
                    }
                )
            stars_check.checked += int((wanted & drops.notna()).sum())
            series = series.diff()  # the band is over weekly gains, not the running total
        _band(metric_id, series, wanted, k, band_check)
    return list(outcomes.values())


def _band(metric_id: str, series: pd.Series, wanted: np.ndarray, k: float, out: CheckOutcome):
    """Flag values outside median +- k x MAD of the trailing 8 weeks (the week itself not
    included). The MAD is floored at 5% of the median and at 1, so a flat series does not
    flag every small change."""
    trailing = series.shift(1).rolling(TRAILING_WEEKS, min_periods=MIN_TRAILING)
    median = trailing.median()
    mad = trailing.apply(lambda w: np.nanmedian(np.abs(w - np.nanmedian(w))), raw=True)
    spread = np.maximum(mad, np.maximum(0.05 * median.abs(), 1.0))
    low, high = median - k * spread, median + k * spread
    judged = wanted & series.notna() & median.notna()
    out.checked += int(judged.sum())
    outside = judged & ((series < low) | (series > high))
    for week in series.index[outside]:
        out.failures.append(
            {
                "metric_id": metric_id,
                "week": _week(week),
                "value": int(series[week]),
                "median": round(float(median[week]), 1),
                "low": round(float(low[week]), 1),
                "high": round(float(high[week]), 1),
            }
        )
