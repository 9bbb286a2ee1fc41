"""One `history` row per Dagster run: what ran, over which partitions, what it wrote, how it ended.

Plain Python over the store. Assets of a run execute one after another (in-process executor),
each folding its outcome into the run's row, so the row always reflects every asset that has
finished. The Dagster side (reading the run from an asset's context) is in `tracking.py`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from community_metrics.store import HISTORY, StoreReader, StoreWriter, WriteResult

STATUS_RANK = {"success": 0, "partial": 1, "failed": 2}
STATUSES = tuple(STATUS_RANK)


@dataclass
class RunOutcome:
    """Collected by an asset while it runs: writes made and per-metric errors."""

    writes: list[WriteResult] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    # Set before raising when some metrics were written: the run is `partial`, not `failed`.
    partial: bool = False
    # Set when the raised error only sums up `errors`, so it is not recorded a second time.
    itemized: bool = False

    def add(self, result: WriteResult) -> WriteResult:
        self.writes.append(result)
        return result

    def status(self, raised: bool) -> str:
        """`success`, `partial` (written, with errors) or `failed`; an asset that reported a
        `failure()` it raises after its results counts as raised."""
        if raised or self.itemized:
            return "partial" if self.partial else "failed"
        return "partial" if self.errors else "success"

    def describe(self, what: str) -> str:
        """`what: name: error; name: error`, the one line a failed asset reports."""
        return f"{what}: " + "; ".join(f"{name}: {e}" for name, e in sorted(self.errors.items()))


def run_errors(row: dict) -> dict[str, str]:
    """The errors of a history row, by metric id, file or asset."""
    return json.loads(row["error_summary"]) if row.get("error_summary") else {}


def run_row(store: StoreReader, run_id: str) -> dict | None:
    rows = store.history(run_id=run_id)
    return rows[0] if rows else None


def fold_history(
    store: StoreWriter,
    run_id: str,
    job_name: str,
    *,
    status: str,
    errors: dict[str, str],
    assets: tuple[str, ...] = (),
    bounds: tuple[str | None, str | None] = (None, None),
    started_at: dt.datetime | None = None,
    writes: list[WriteResult] = (),
) -> None:
    """Merge an outcome into the run's one history row: assets, counts and errors add up, and
    the worse status wins."""
    row = run_row(store, run_id) or {}
    merged = {**run_errors(row), **errors} if row else dict(errors)
    if row and STATUS_RANK[row["status"]] > STATUS_RANK[status]:
        status = row["status"]
    now = dt.datetime.now(dt.UTC)
    store.upsert(
        HISTORY,
        [
            {
                "run_id": run_id,
                "job_name": job_name,
                "assets": sorted({*row.get("assets", []), *assets}),
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


def mark_dead_run(store: StoreWriter, run_id: str, job_name: str, message: str) -> None:
    """Record a run whose process died before it could record its own end."""
    fold_history(store, run_id, job_name, status="failed", errors={"run": message})
