"""One `history` row per Dagster run: what ran, over which partitions, what it wrote, how it ended.

Assets of a run execute one after another (in-process executor), each folding its outcome into
the run's row, so the row always reflects every asset that has finished.
"""

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dagster as dg

from community_metrics.store import HISTORY, Store, WriteResult

STATUS_RANK = {"success": 0, "partial": 1, "failed": 2}


@dataclass
class RunOutcome:
    """Collected by an asset while it runs: writes made and per-metric errors."""

    writes: list[WriteResult] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    # Set before raising when some metrics were written: the run is `partial`, not `failed`.
    partial: bool = False

    def add(self, result: WriteResult) -> WriteResult:
        self.writes.append(result)
        return result


def _partition_bounds(context: dg.AssetExecutionContext) -> tuple[str | None, str | None]:
    if not context.has_partition_key_range:
        return None, None
    key_range = context.partition_key_range
    return key_range.start, key_range.end


def _run_start(context: dg.AssetExecutionContext) -> dt.datetime:
    stats = context.instance.get_run_stats(context.run.run_id)
    if stats.start_time:
        return dt.datetime.fromtimestamp(stats.start_time, tz=dt.UTC)
    return dt.datetime.now(dt.UTC)


def record(
    context: dg.AssetExecutionContext, store: Store, outcome: RunOutcome, status: str
) -> None:
    """Fold this asset's outcome into the run's history row."""
    asset = context.asset_key.to_user_string()
    previous = store.history(run_id=context.run.run_id)
    row = previous[0] if previous else None
    start, end = _partition_bounds(context)
    errors = json.loads(row["error_summary"]) if row and row["error_summary"] else {}
    errors.update(outcome.errors)
    if row and STATUS_RANK[row["status"]] > STATUS_RANK[status]:
        status = row["status"]
    store.upsert(
        HISTORY,
        [
            {
                "run_id": context.run.run_id,
                "job_name": context.run.job_name,
                "assets": sorted({*(row["assets"] if row else []), asset}),
                "partition_start": start if start else (row or {}).get("partition_start"),
                "partition_end": end if end else (row or {}).get("partition_end"),
                "started_at": row["started_at"] if row else _run_start(context),
                "finished_at": dt.datetime.now(dt.UTC),
                "status": status,
                "rows_inserted": (row["rows_inserted"] if row else 0)
                + sum(w.inserted for w in outcome.writes),
                "rows_updated": (row["rows_updated"] if row else 0)
                + sum(w.updated for w in outcome.writes),
                "error_summary": json.dumps(errors, sort_keys=True) if errors else None,
            }
        ],
    )


@contextmanager
def tracked(context: dg.AssetExecutionContext, store: Store) -> Iterator[RunOutcome]:
    """Record the asset's outcome in `history`, including failures, then let errors propagate."""
    outcome = RunOutcome()
    try:
        yield outcome
    except Exception as exc:
        if not outcome.partial:
            outcome.errors.setdefault(context.asset_key.to_user_string(), str(exc))
        record(context, store, outcome, "partial" if outcome.partial else "failed")
        raise
    record(context, store, outcome, "partial" if outcome.errors else "success")


def mark_dead_run(store: Store, run_id: str, job_name: str, message: str) -> None:
    """Record a run whose process died before it could record its own end."""
    previous = store.history(run_id=run_id)
    row = previous[0] if previous else None
    errors = json.loads(row["error_summary"]) if row and row["error_summary"] else {}
    errors["run"] = message
    now = dt.datetime.now(dt.UTC)
    store.upsert(
        HISTORY,
        [
            {
                "run_id": run_id,
                "job_name": job_name,
                "assets": list(row["assets"]) if row else [],
                "partition_start": row["partition_start"] if row else None,
                "partition_end": row["partition_end"] if row else None,
                "started_at": row["started_at"] if row else now,
                "finished_at": now,
                "status": "failed",
                "rows_inserted": row["rows_inserted"] if row else 0,
                "rows_updated": row["rows_updated"] if row else 0,
                "error_summary": json.dumps(errors, sort_keys=True),
            }
        ],
    )
