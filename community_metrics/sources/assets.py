"""Raw source assets: daily values from the APIs into `observations` (provenance `api`).

Each asset covers its partition range with ONE request per package where the API takes ranges
(O(metrics) requests, not O(metrics x weeks)); `fetch.py` says what each source serves.
A failing metric does not stop the others: what succeeded is written and materialized, each
metric's outcome is the asset check `metrics_fetched` (shown in the UI, its metadata naming
every metric's days or error), and the run fails (here, or at the end of weekly_metrics when
that asset runs too, so its weeks are still computed).
"""

import datetime as dt

import dagster as dg
import httpx

from community_metrics import weeks
from community_metrics.jobs import METRICS_TAG
from community_metrics.resources import MetricsResources
from community_metrics.seed.assets import metric_catalog
from community_metrics.sources.fetch import FETCHERS, Fetch, drop_outage_days
from community_metrics.sources.http import SourceError
from community_metrics.store import OBSERVATIONS
from community_metrics.tracking import failure, store_asset, tracked, write_metadata

GROUP = "sources"
WEEKLY_METRICS = dg.AssetKey("weekly_metrics")
FETCH_CHECK = "metrics_fetched"


def _raw_asset(name: str, source: str, description: str, all_zero_is_outage: bool = False):
    fetch = FETCHERS[source]

    @store_asset(
        name=name,
        group=GROUP,
        kinds={"api"},
        weekly=True,
        deps=[metric_catalog],
        pool="lancedb_observations",
        description=description,
        check_specs=[
            dg.AssetCheckSpec(
                FETCH_CHECK,
                asset=name,
                description="Every active metric of this source was fetched (metadata: each "
                "metric's days or error).",
            )
        ],
    )
    def _asset(context: dg.AssetExecutionContext):
        cm: MetricsResources = context.resources.cm
        store = cm.store
        keys = context.partition_keys
        first, last = weeks.keys_range(keys)
        today = weeks.today()
        metrics = [m for m in cm.catalog.active if m.source == source]
        if only := context.run.tags.get(METRICS_TAG):  # a re-run of the metrics that failed
            metrics = [m for m in metrics if m.metric_id in only.split(",")]
        clients = cm.clients()
        fetches: dict[str, Fetch] = {}
        with tracked(context, store) as outcome:
            now = dt.datetime.now(dt.UTC)
            run_id = context.run.run_id
            try:
                for metric in metrics:
                    try:
                        fetches[metric.metric_id] = fetch(clients, metric, first, last, today)
                    except (SourceError, httpx.HTTPError) as exc:
                        outcome.errors[metric.metric_id] = str(exc)
                        context.log.error(f"{metric.metric_id}: {exc}")
            finally:
                clients.close()
            if all_zero_is_outage:
                drop_outage_days(fetches)
            rows = [
                {
                    "metric_id": metric_id,
                    "day": day,
                    "value": value,
                    "provenance": "api",
                    "source_ref": fetch.source_ref,
                    "fetched_at": now,
                    "run_id": run_id,
                }
                for metric_id, fetch in fetches.items()
                for day, value in fetch.values.items()
            ]
            result = outcome.add(store.upsert(OBSERVATIONS, rows))
            # UI runs of a subset carry their selection; job runs select what the job holds.
            selection = (
                context.run.asset_selection or context.job_def.asset_layer.selected_asset_keys
            )
            fails_here = bool(outcome.errors) and WEEKLY_METRICS not in selection
            if fails_here:  # recorded as partial or failed in history; raised after reporting
                fail = failure(outcome, "source errors", partial=len(outcome.errors) < len(metrics))
        per_metric = {
            m.metric_id: outcome.errors.get(m.metric_id)
            or f"ok: {len(fetches[m.metric_id].values)} days"
            for m in metrics
        }
        yield dg.MaterializeResult(
            check_results=[
                dg.AssetCheckResult(
                    check_name=FETCH_CHECK,
                    passed=not outcome.errors,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={
                        "metrics": dg.MetadataValue.json(per_metric),
                        "failed": dg.MetadataValue.json(sorted(outcome.errors)),
                    },
                )
            ],
            metadata={
                **write_metadata(result, store.count_rows(OBSERVATIONS)),
                "requests": dg.MetadataValue.int(sum(clients.requests().values())),
                "days_fetched": dg.MetadataValue.json(
                    {m: len(f.values) for m, f in fetches.items()}
                ),
                "notes": dg.MetadataValue.json({m: f.notes for m, f in fetches.items()}),
                "errors": dg.MetadataValue.json(outcome.errors),
                "first_week": dg.MetadataValue.text(keys[0]),
                "last_week": dg.MetadataValue.text(keys[-1]),
            },
        )
        if fails_here:
            raise fail

    return _asset


pypi_downloads = _raw_asset(
    "pypi_downloads",
    "pypistats",
    "Daily PyPI downloads from pypistats.org.",
    all_zero_is_outage=True,
)
npm_downloads = _raw_asset("npm_downloads", "npm", "Daily npm downloads from api.npmjs.org.")
crates_downloads = _raw_asset(
    "crates_downloads", "cratesio", "Daily crates.io downloads (all versions)."
)
github_stars = _raw_asset(
    "github_stars",
    "github",
    "GitHub stars: today's stargazers_count, past days from the star history where it answers.",
)

SOURCE_ASSETS = [pypi_downloads, npm_downloads, crates_downloads, github_stars]
# The asset that fetches each source's metrics (a metric's `source` in the catalog).
SOURCE_ASSET_OF = {
    "pypistats": pypi_downloads.key.to_user_string(),
    "npm": npm_downloads.key.to_user_string(),
    "cratesio": crates_downloads.key.to_user_string(),
    "github": github_stars.key.to_user_string(),
}
