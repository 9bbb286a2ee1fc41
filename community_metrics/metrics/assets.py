"""The weekly metrics asset: one stats row per active metric and completed week."""

import datetime as dt

import dagster as dg

from community_metrics.catalog import CatalogError
from community_metrics.metadata import write_metadata
from community_metrics.metrics.weekly import compute_weekly, mark_revisions
from community_metrics.partitions import WEEKLY
from community_metrics.resources import MetricsResources
from community_metrics.runs import tracked
from community_metrics.seed.assets import daily_downloads, metric_catalog, star_history
from community_metrics.sources.assets import SOURCE_ASSETS
from community_metrics.store import STATS


@dg.asset(
    group_name="metrics",
    kinds={"lancedb"},
    partitions_def=WEEKLY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[metric_catalog, star_history, daily_downloads, *SOURCE_ASSETS],
    required_resource_keys={"cm"},
    pool="lancedb_stats",
    description=(
        "Weekly stats (Monday-Sunday, UTC) from stored observations: download totals with "
        "days_observed, end-of-week cumulative stars. Missing weeks get no row, never a zero."
    ),
)
def weekly_metrics(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    cm: MetricsResources = context.resources.cm
    store = cm.store
    weeks = [dt.date.fromisoformat(key) for key in context.partition_keys]
    first, last = weeks[0], weeks[-1] + dt.timedelta(days=6)
    with tracked(context, store) as outcome:
        try:
            metrics = cm.catalog().active
        except CatalogError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        downloads = [m.metric_id for m in metrics if m.family == "downloads"]
        stars = [m.metric_id for m in metrics if m.family == "stars"]
        observations = []
        if downloads:
            observations += store.observations(downloads, first, last)
        if stars:
            # Stars need the value before the range (carried forward) and whether a later
            # observation exists, so read their whole (small) series.
            observations += store.observations(stars)
        rows, report = compute_weekly(metrics, observations, weeks)
        existing = store.stats([m.metric_id for m in metrics], "week", first, last)
        rows, revised = mark_revisions(rows, existing)
        now = dt.datetime.now(dt.UTC)
        rows = [{**r, "run_id": context.run.run_id, "updated_at": now} for r in rows]
        result = outcome.add(store.upsert(STATS, rows))
        # Source assets of this run that lost metrics left their errors in history: the weeks
        # are computed from what was stored, then the run fails so the alerts fire.
        run_row = store.history(run_id=context.run.run_id)
        if run_row and run_row[0]["status"] != "success" and run_row[0]["error_summary"]:
            outcome.partial = True
            raise dg.Failure(
                description="weekly metrics written, but sources failed: "
                + run_row[0]["error_summary"],
                allow_retries=False,
            )
    if report.missing:
        context.log.info(
            "weeks without observations (no row written): "
            + "; ".join(f"{m}: {len(w)} week(s)" for m, w in sorted(report.missing.items()))
        )
    completeness = report.completeness
    return dg.MaterializeResult(
        metadata={
            **write_metadata(result, store.count_rows(STATS)),
            "weeks": dg.MetadataValue.int(len(weeks)),
            "first_week": dg.MetadataValue.text(weeks[0].isoformat()),
            "last_week": dg.MetadataValue.text(weeks[-1].isoformat()),
            "download_completeness": dg.MetadataValue.float(completeness)
            if completeness is not None
            else dg.MetadataValue.text("no download weeks"),
            "carried_forward_rows": dg.MetadataValue.int(report.carried_forward),
            "revised_rows": dg.MetadataValue.int(revised),
            "weeks_without_data": dg.MetadataValue.json(report.missing),
        }
    )
