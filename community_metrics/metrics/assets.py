"""The weekly metrics asset: one stats row per active metric and completed week, with the
data checks of metrics/checks.py beside it (shown in the UI's check list)."""

import datetime as dt

import dagster as dg

from community_metrics import weeks
from community_metrics.metrics.checks import CHECKS, TRAILING_NEEDED, CheckOutcome, run_checks
from community_metrics.metrics.weekly import compute_weekly, mark_revisions
from community_metrics.resources import MetricsResources
from community_metrics.seed.assets import daily_downloads, metric_catalog, star_history
from community_metrics.sources.assets import OBSERVATION_KEYS, SOURCE_ASSETS
from community_metrics.store import STATS
from community_metrics.tracking import store_asset, tracked, upstream_errors, write_metadata
from community_metrics.weeks import describe_weeks

WEEKLY_ASSET = dg.AssetKey("weekly_metrics")
SEVERITY = {"error": dg.AssetCheckSeverity.ERROR, "warn": dg.AssetCheckSeverity.WARN}
# A weekly refresh lands every Monday: past 8 days without one the UI shows a warning.
FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=dt.timedelta(days=15), warn_window=dt.timedelta(days=8)
)


def check_result(outcome: CheckOutcome) -> dg.AssetCheckResult:
    """One check's verdict, with every failure (metric, week, figures) in its metadata."""
    return dg.AssetCheckResult(
        check_name=outcome.spec.name,
        passed=outcome.passed,
        severity=SEVERITY[outcome.spec.severity],
        metadata={
            "checked_rows": dg.MetadataValue.int(outcome.checked),
            "failures": dg.MetadataValue.int(len(outcome.failures)),
            "failing_weeks": dg.MetadataValue.json(outcome.failing_weeks),
            "details": dg.MetadataValue.json(outcome.failures[:200]),
        },
    )


@store_asset(
    group="metrics",
    weekly=True,
    check_specs=[
        dg.AssetCheckSpec(
            c.name, asset=WEEKLY_ASSET, blocking=c.blocking, description=c.description
        )
        for c in CHECKS
    ],
    freshness_policy=FRESHNESS,
    deps=[metric_catalog, star_history, daily_downloads, *OBSERVATION_KEYS],
    pool="lancedb_stats",
    description=(
        "Weekly stats (Monday-Sunday, UTC) from stored observations: download totals with "
        "days_observed, end-of-week cumulative stars. Missing weeks get no row, never a zero."
    ),
)
def weekly_metrics(context: dg.AssetExecutionContext):
    cm: MetricsResources = context.resources.cm
    store = cm.store
    keys = context.partition_keys
    first, last = weeks.keys_range(keys)
    mondays = [weeks.parse_week_key(k) for k in keys]
    with tracked(context, store) as outcome:
        metrics = cm.catalog.active
        downloads = [m.metric_id for m in metrics if m.family == "downloads"]
        stars = [m.metric_id for m in metrics if m.family == "stars"]
        observations = []
        if downloads:
            observations += store.observations(downloads, first, last)
        if stars:
            # Stars need the value before the range (carried forward) and whether a later
            # observation exists, so read their whole (small) series.
            observations += store.observations(stars)
        rows, report = compute_weekly(metrics, observations, mondays)
        existing = store.stats([m.metric_id for m in metrics], "week", first, last)
        rows, revised = mark_revisions(rows, existing)
        now = dt.datetime.now(dt.UTC)
        rows = [{**r, "run_id": context.run.run_id, "updated_at": now} for r in rows]
        result = outcome.add(store.upsert(STATS, rows))
        stored = store.stats(
            [m.metric_id for m in metrics],
            "week",
            first - TRAILING_NEEDED,
            last,
            columns=["metric_id", "period_start", "value", "days_observed"],
        )
        checks = run_checks(
            stored, metrics, mondays, weeks.latest_closed_week(), cm.settings.alerts.anomaly_k
        )
        # Source assets of this run that lost metrics reported them in their materialization:
        # the weeks are computed from what was stored, then the run fails so the alerts fire.
        source_errors = upstream_errors(context, SOURCE_ASSETS)
        if source_errors:
            outcome.partial = True
            outcome.errors.update(source_errors)
    if report.missing:
        context.log.info(
            "weeks without observations (no row written): "
            + "; ".join(f"{m}: {len(w)} week(s)" for m, w in sorted(report.missing.items()))
        )
    completeness = report.completeness
    yield dg.MaterializeResult(
        check_results=[check_result(c) for c in checks],
        metadata={
            **write_metadata(result, store.count_rows(STATS)),
            "weeks": dg.MetadataValue.int(len(keys)),
            "first_week": dg.MetadataValue.text(keys[0]),
            "last_week": dg.MetadataValue.text(keys[-1]),
            "download_completeness": dg.MetadataValue.float(completeness)
            if completeness is not None
            else dg.MetadataValue.text("no download weeks"),
            "carried_forward_rows": dg.MetadataValue.int(report.carried_forward),
            "revised_rows": dg.MetadataValue.int(revised),
            # as week ranges: Dagster copies this metadata into every week's materialization
            "weeks_without_data": dg.MetadataValue.json(
                {m: describe_weeks(w) for m, w in report.missing.items()}
            ),
        },
    )
    if source_errors:
        raise dg.Failure(
            description="weekly metrics written, but sources failed: "
            + "; ".join(f"{m}: {e}" for m, e in sorted(source_errors.items())),
            allow_retries=False,
        )
