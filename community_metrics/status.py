"""What is stored: tables, every metric's rows and latest week, the last runs.

Plain Python over a `StoreReader` (no Dagster): the CLI prints it and the API serves it. The
metrics are the catalog as the graph mirrored it into the `metrics` table, so a reader needs
nothing but the store. Filters and projections run in LanceDB; only the few columns counted
come back, as Arrow.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from community_metrics.history import run_errors
from community_metrics.store import METRICS, OBSERVATIONS, STATS, StoreReader, TableInfo
from community_metrics.store.filters import in_list, stats_filter

WEEK_WINDOW = "week"
# A metric is stale when its newest weekly row ended more than this long ago (the API's
# health and the freshness alert use this one rule).
STALE_AFTER = dt.timedelta(days=8)


@dataclass(frozen=True)
class MetricStatus:
    metric_id: str
    display_name: str
    active: bool
    rows: int
    weekly_rows: int
    snapshot_rows: int
    observations: int
    latest_period_end: dt.date | None
    latest_value: int | None
    latest_snapshot: dt.date | None


@dataclass(frozen=True)
class RunStatus:
    run_id: str
    job_name: str
    assets: list[str]
    partitions: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    status: str
    rows_inserted: int
    rows_updated: int
    errors: dict[str, str]


@dataclass(frozen=True)
class Status:
    storage: str
    tables: list[TableInfo]
    metrics: list[MetricStatus]
    runs: list[RunStatus]

    def as_dict(self) -> dict:
        """JSON-ready: dates and times in ISO form."""
        return _jsonable(dataclasses.asdict(self))


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _counts(table: pa.Table) -> dict[str, int]:
    if table.num_rows == 0:
        return {}
    counts = pc.value_counts(table["metric_id"])
    return dict(
        zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
    )


def _latest(table: pa.Table) -> dict[str, dict]:
    """metric_id -> the row with the greatest period_end (one row per metric reaches Python)."""
    if table.num_rows == 0:
        return {}
    order = pc.sort_indices(
        table, sort_keys=[("metric_id", "ascending"), ("period_end", "descending")]
    )
    ids = table["metric_id"].take(order).to_numpy(zero_copy_only=False)
    first = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])  # each metric's newest row
    return {row["metric_id"]: row for row in table.take(order.take(first)).to_pylist()}


def metric_statuses(
    store: StoreReader, metric_ids: Sequence[str] | None = None
) -> list[MetricStatus]:
    """Each stored metric (all, or those named) with its row counts and latest week."""
    catalog_where = in_list("metric_id", metric_ids) if metric_ids is not None else None
    catalog = store.scan(METRICS, catalog_where, ["metric_id", "display_name", "active"])
    ids = catalog["metric_id"].to_pylist()
    if not ids:
        return []
    columns = ["metric_id", "period_end", "value"]
    weekly = store.scan(STATS, stats_filter(ids, WEEK_WINDOW), columns)
    snapshots = store.scan(
        STATS, f"{in_list('metric_id', ids)} AND source_window != '{WEEK_WINDOW}'", columns
    )
    observed = _counts(store.scan(OBSERVATIONS, in_list("metric_id", ids), ["metric_id"]))
    weekly_counts, snapshot_counts = _counts(weekly), _counts(snapshots)
    latest_week, latest_snapshot = _latest(weekly), _latest(snapshots)
    out = []
    for entry in sorted(catalog.to_pylist(), key=lambda r: r["metric_id"]):
        metric_id = entry["metric_id"]
        week = latest_week.get(metric_id)
        snap = latest_snapshot.get(metric_id)
        out.append(
            MetricStatus(
                metric_id=metric_id,
                display_name=entry["display_name"],
                active=entry["active"],
                rows=weekly_counts.get(metric_id, 0) + snapshot_counts.get(metric_id, 0),
                weekly_rows=weekly_counts.get(metric_id, 0),
                snapshot_rows=snapshot_counts.get(metric_id, 0),
                observations=observed.get(metric_id, 0),
                latest_period_end=week["period_end"] if week else None,
                latest_value=week["value"] if week else None,
                latest_snapshot=snap["period_end"] if snap else None,
            )
        )
    return out


def is_stale(newest_week: dt.date | None, today: dt.date) -> bool:
    """No week at all, or the newest week (its Monday) ended more than 8 days before today."""
    return newest_week is None or today - (newest_week + dt.timedelta(days=6)) > STALE_AFTER


def newest_weeks(store: StoreReader, metric_ids: Sequence[str]) -> dict[str, dt.date]:
    """metric_id -> the Monday of its newest weekly row (metrics without one are absent)."""
    if not metric_ids:
        return {}
    table = store.scan(STATS, stats_filter(metric_ids, WEEK_WINDOW), ["metric_id", "period_start"])
    if table.num_rows == 0:
        return {}
    grouped = table.group_by("metric_id").aggregate([("period_start", "max")])
    return dict(
        zip(grouped["metric_id"].to_pylist(), grouped["period_start_max"].to_pylist(), strict=True)
    )


def recent_runs(store: StoreReader, limit: int = 10, status: str | None = None) -> list[RunStatus]:
    """The newest runs first, with their errors per metric, file or asset."""
    return [
        RunStatus(
            run_id=row["run_id"],
            job_name=row["job_name"],
            assets=list(row["assets"]),
            partitions=f"{row['partition_start']}..{row['partition_end']}"
            if row["partition_start"]
            else None,
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            status=row["status"],
            rows_inserted=row["rows_inserted"],
            rows_updated=row["rows_updated"],
            errors=run_errors(row),
        )
        for row in store.history(status=status, limit=limit)
    ]


def collect_status(store: StoreReader, runs: int = 10) -> Status:
    return Status(
        storage=store.description,
        tables=store.table_info(),
        metrics=metric_statuses(store),
        runs=recent_runs(store, runs),
    )
