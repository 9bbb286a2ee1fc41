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

    def failure(self, what: str, *, partial: bool) -> dg.Failure:
        """The Failure to raise after writing what succeeded: every error, and whether the
        run is `partial` (something was written) rather than `failed`."""
        self.partial = partial
        return dg.Failure(
            description=f"{what}: "
            + "; ".join(f"{name}: {error}" for name, error in sorted(self.errors.items())),
            allow_retries=False,
        )


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


def fold_history(
    store: Store,
    run_id: str,
    job_name: str,
    *,
    status: str,
    errors: dict[str, str],
    asset: str | None = None,
    bounds: tuple[str | None, str | None] = (None, None),
    started_at: dt.datetime | None = None,
    writes: list[WriteResult] = (),
) -> None:
    """Merge an outcome into the run's one history row: assets, counts and errors add up, and
    the worse status wins."""
    previous = store.history(run_id=run_id)
    row = previous[0] if previous else {}
    merged = json.loads(row["error_summary"]) if row.get("error_summary") else {}
    merged.update(errors)
    if row and STATUS_RANK[row["status"]] > STATUS_RANK[status]:
        status = row["status"]
    now = dt.datetime.now(dt.UTC)
    store.upsert(
        HISTORY,
        [
            {
                "run_id": run_id,
                "job_name": job_name,
                "assets": sorted({*row.get("assets", []), *([asset] if asset else [])}),
                "partition_start": bounds[0] or row.get("partition_start"),
                "partition_end": bounds[1] or row.get("partition_end"),
                "started_at": row.get("started_at") or started_at or now,
                "finished_at": now,
                "status": status,
                "rows_inserted": row.get("rows_inserted", 0) + sum(w.inserted for w in writes),
                "rows_updated": row.get("rows_updated", 0) + sum(w.updated for w in writes),
                "error_summary": json.dumps(merged, sort_keys=True) if merged else None,
            }
        ],
    )


def record(
    context: dg.AssetExecutionContext, store: Store, outcome: RunOutcome, status: str
) -> None:
    """Fold this asset's outcome into the run's history row."""
    fold_history(
        store,
        context.run.run_id,
        context.run.job_name,
        status=status,
        errors=outcome.errors,
        asset=context.asset_key.to_user_string(),
        bounds=_partition_bounds(context),
        started_at=_run_start(context),
        writes=outcome.writes,
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
    fold_history(store, run_id, job_name, status="failed", errors={"run": message})
