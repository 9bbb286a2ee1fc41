"""The Dagster side of every asset's bookkeeping: its history row, its failure, its metadata.

Shared by the `*/assets.py` files, so each asset body is only its own work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import dagster as dg

from community_metrics.history import RunOutcome, fold_history
from community_metrics.partitions import WEEKLY
from community_metrics.store import StoreWriter, WriteResult


def store_asset(
    *, group: str, pool: str | None = None, weekly: bool = False, kinds=(), **kwargs
) -> dg.AssetsDefinition:
    """`dg.asset` with what every asset here shares: it writes LanceDB through the `cm`
    resource, one writer per table at a time (its pool), and when weekly the ONE partitions
    definition with single-run backfills (a range is one run)."""
    if weekly:
        kwargs |= {"partitions_def": WEEKLY, "backfill_policy": dg.BackfillPolicy.single_run()}
    return dg.asset(
        group_name=group,
        kinds={"lancedb", *kinds},
        required_resource_keys={"cm"},
        pool=pool,
        **kwargs,
    )


def failure(outcome: RunOutcome, what: str, *, partial: bool) -> dg.Failure:
    """The Failure to raise after writing what succeeded: every error, and whether the run is
    `partial` (something was written) rather than `failed`. Not retried: a rerun would meet
    the same errors."""
    outcome.partial, outcome.itemized = partial, True
    return dg.Failure(description=outcome.describe(what), allow_retries=False)


def user_failure(exc: Exception) -> dg.Failure:
    """A user's input error (catalog, seed file): one line that names the fix, no retries."""
    return dg.Failure(description=str(exc), allow_retries=False)


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


def _names(context: dg.AssetExecutionContext) -> tuple[str, ...]:
    """The assets this step materializes (several for a multi-asset)."""
    return tuple(sorted(k.to_user_string() for k in context.selected_asset_keys))


def _record(
    context: dg.AssetExecutionContext, store: StoreWriter, outcome: RunOutcome, status: str
) -> None:
    fold_history(
        store,
        context.run.run_id,
        context.run.job_name,
        status=status,
        errors=outcome.errors,
        assets=_names(context),
        bounds=_partition_bounds(context),
        started_at=_run_start(context),
        writes=outcome.writes,
    )


@contextmanager
def tracked(context: dg.AssetExecutionContext, store: StoreWriter) -> Iterator[RunOutcome]:
    """Record the asset's outcome in `history`, including failures, then let errors propagate."""
    outcome = RunOutcome()
    try:
        yield outcome
    except Exception as exc:
        if not (outcome.partial or outcome.itemized):
            outcome.errors.setdefault(",".join(_names(context)), str(exc))
        _record(context, store, outcome, outcome.status(raised=True))
        raise
    _record(context, store, outcome, outcome.status(raised=False))


def upstream_errors(
    context: dg.AssetExecutionContext, assets: Iterable[dg.AssetsDefinition]
) -> dict[str, str]:
    """Per-metric errors that upstream assets reported in THIS run's materializations (their
    `errors` metadata), so a downstream asset can finish its work and then fail the run."""
    errors: dict[str, str] = {}
    for key in (key for asset in assets for key in asset.keys):
        event = context.instance.get_latest_materialization_event(key)
        if event is None or event.run_id != context.run.run_id:
            continue
        reported = event.asset_materialization.metadata.get("errors")
        errors.update(reported.value if reported is not None else {})
    return errors


def write_metadata(result: WriteResult, table_rows: int) -> dict:
    return {
        "dagster/row_count": dg.MetadataValue.int(result.rows),
        "table": dg.MetadataValue.text(result.table),
        "table_rows": dg.MetadataValue.int(table_rows),
        **{name: dg.MetadataValue.int(value) for name, value in result.as_metadata().items()},
    }
