"""Raw source assets: daily values from the APIs and archives into `observations` (provenance:
the source that gave each day, such as pypistats or clickpy), and the mentions
(mentions/assets.py says what they report).

One asset per source (pypi_downloads, npm_downloads, ..., mentions), computed together by one
multi-asset so the sources are fetched side by side: a run waits for its slowest source, not
for their sum. Each covers its partition range with ONE request per package where the API
takes ranges (O(metrics) requests, not O(metrics x weeks)); `fetch.py` says what each source
serves.
A failing metric or mention search does not stop the others: what succeeded is written and
materialized, each metric's outcome is the asset check `metrics_fetched` (shown in the UI, its
metadata naming every metric's days or error), and the run fails (here, or at the end of
weekly_metrics when that asset runs too, so its weeks are still computed).
"""

import datetime as dt
from concurrent.futures import ThreadPoolExecutor, as_completed

import dagster as dg

from community_metrics import weeks
from community_metrics.jobs import METRICS_TAG
from community_metrics.mentions.assets import (
    MENTIONS_ASSET,
    mentions,
    mentions_result,
    write_mentions,
)
from community_metrics.mentions.fetch import MentionFetch, fetch_mentions
from community_metrics.partitions import WEEKLY
from community_metrics.resources import MetricsResources
from community_metrics.seed.assets import metric_catalog
from community_metrics.sources.fetch import SourceFetch, fetch_source
from community_metrics.store import OBSERVATIONS, WriteResult
from community_metrics.tracking import failure, tracked, write_metadata

GROUP = "sources"
WEEKLY_METRICS = dg.AssetKey("weekly_metrics")
FETCH_CHECK = "metrics_fetched"
AGREE_CHECK = "sources_agree"
PYPI_ASSET = "pypi_downloads"


# Each catalog source's asset: its name and description.
SOURCES = {
    "pypistats": (
        "pypi_downloads",
        "Daily PyPI downloads from pypistats.org; days it no longer keeps from ClickPy.",
    ),
    "npm": ("npm_downloads", "Daily npm downloads from api.npmjs.org."),
    "cratesio": ("crates_downloads", "Daily crates.io downloads (all versions)."),
    "github": (
        "github_stars",
        "GitHub stars: today's stargazers_count, past days from the star history where it "
        "answers, else from the GitHub events archive.",
    ),
}
SOURCE_OF = {dg.AssetKey(name): source for source, (name, _) in SOURCES.items()}
MENTIONS_KEY = dg.AssetKey(MENTIONS_ASSET)


@dg.multi_asset(
    name="source_observations",
    specs=[
        dg.AssetSpec(
            name,
            group_name=GROUP,
            kinds={"lancedb", "api"},
            deps=[metric_catalog],
            description=description,
            partitions_def=WEEKLY,
        )
        for name, description in SOURCES.values()
    ]
    + [mentions],
    check_specs=[
        dg.AssetCheckSpec(
            FETCH_CHECK,
            asset=name,
            description="Every active metric of this source was fetched (metadata: each "
            "metric's days or error).",
        )
        for name, _ in SOURCES.values()
    ]
    + [
        dg.AssetCheckSpec(
            AGREE_CHECK,
            asset=PYPI_ASSET,
            description="Where pypistats and ClickPy both cover days, their totals differ by no "
            "more than CM_SOURCE_DIFF_THRESHOLD (metadata: each metric's figures).",
        )
    ],
    can_subset=True,
    backfill_policy=dg.BackfillPolicy.single_run(),
    required_resource_keys={"cm"},
    # the writer of both raw tables (observations, mentions): one such step at a time
    pool="lancedb_observations",
)
def source_observations(context: dg.AssetExecutionContext):
    """The selected sources, fetched side by side (a thread and a client each, so a slow or
    rate-limited source delays only its own metrics); each source's rows are written as soon
    as it finishes."""
    cm: MetricsResources = context.resources.cm
    store = cm.store
    keys = context.partition_keys
    first, last = weeks.keys_range(keys)
    today = weeks.today()
    only = context.run.tags.get(METRICS_TAG)  # a re-run of the metrics that failed
    selected = [SOURCE_OF[k] for k in sorted(context.selected_asset_keys) if k in SOURCE_OF]
    with_mentions = MENTIONS_KEY in context.selected_asset_keys
    start, end = context.partition_time_window  # [first Monday, Monday after the last), UTC
    terms = cm.catalog.search_terms()
    metrics = {
        source: [
            m
            for m in cm.catalog.active
            if m.source == source and (not only or m.metric_id in only.split(","))
        ]
        for source in selected
    }
    clients = cm.clients()
    done: dict[str, SourceFetch] = {}
    writes: dict[str, WriteResult] = {}
    found: MentionFetch | None = None
    with tracked(context, store) as outcome:
        now = dt.datetime.now(dt.UTC)
        run_id = context.run.run_id
        try:
            threads = len(selected) + with_mentions
            with ThreadPoolExecutor(threads or 1, thread_name_prefix="source") as pool:
                routine = cm.catalog.settings.pypi_routine_source
                started = store.first_downloads(
                    m.metric_id for s in selected for m in metrics[s] if m.family == "downloads"
                )
                running = {
                    pool.submit(
                        fetch_source, clients, s, metrics[s], first, last, today, routine, started
                    ): s
                    for s in selected
                }
                if with_mentions:
                    running[pool.submit(fetch_mentions, clients, terms, start, end)] = None
                for future in as_completed(running):
                    source = running[future]
                    if source is None:
                        found = future.result()
                        for search, error in found.errors.items():
                            context.log.error(f"{search}: {error}")
                        outcome.errors.update(found.errors)
                        writes[MENTIONS_ASSET] = outcome.add(
                            write_mentions(store, found, cm.catalog, run_id)
                        )
                        continue
                    done[source] = got = future.result()
                    for metric_id, error in got.errors.items():
                        context.log.error(f"{metric_id}: {error}")
                    outcome.errors.update(got.errors)
                    rows = [
                        {
                            "metric_id": metric_id,
                            "day": day,
                            "value": value,
                            "provenance": fetch.provenance.get(day, source),
                            "source_ref": fetch.ref(day),
                            "fetched_at": now,
                            "run_id": run_id,
                        }
                        for metric_id, fetch in got.fetches.items()
                        for day, value in fetch.values.items()
                    ]
                    writes[source] = outcome.add(store.upsert(OBSERVATIONS, rows))
        finally:
            clients.close()
        # UI runs of a subset carry their selection; job runs select what the job holds.
        selection = context.run.asset_selection or context.job_def.asset_layer.selected_asset_keys
        fails_here = bool(outcome.errors) and WEEKLY_METRICS not in selection
        if fails_here:  # recorded as partial or failed in history; raised after reporting
            fetched = sum(len(got.fetches) for got in done.values())
            partial = bool(fetched or (found and found.counts))
            fail = failure(outcome, "source errors", partial=partial)
    table_rows = store.count_rows(OBSERVATIONS)
    threshold = cm.settings.sources.source_diff_threshold
    for source in selected:
        name, got = SOURCES[source][0], done[source]
        checks = []
        if name == PYPI_ASSET:
            apart = {m: c for m, c in got.comparisons.items() if c["relative_diff"] > threshold}
            for metric_id, c in sorted(apart.items()):
                context.log.warning(
                    f"{metric_id}: pypistats and ClickPy differ by {c['relative_diff']:.1%} over "
                    f"{c['days']} day(s) ({c['routine_sum']} vs {c['other_sum']})"
                )
            checks.append(
                dg.AssetCheckResult(
                    asset_key=name,
                    check_name=AGREE_CHECK,
                    passed=not apart,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "threshold": dg.MetadataValue.float(threshold),
                        "compared": dg.MetadataValue.json(got.comparisons),
                        "apart": dg.MetadataValue.json(sorted(apart)),
                    },
                )
            )
        per_metric = {
            m.metric_id: got.errors.get(m.metric_id)
            or f"ok: {len(got.fetches[m.metric_id].values)} days"
            for m in metrics[source]
        }
        yield dg.MaterializeResult(
            asset_key=name,
            check_results=checks
            + [
                dg.AssetCheckResult(
                    asset_key=name,
                    check_name=FETCH_CHECK,
                    passed=not got.errors,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={
                        "metrics": dg.MetadataValue.json(per_metric),
                        "failed": dg.MetadataValue.json(sorted(got.errors)),
                    },
                )
            ],
            metadata={
                **write_metadata(writes[source], table_rows),
                "requests": dg.MetadataValue.int(clients.of_source(source).requests),
                **{
                    f"{archive}_queries": dg.MetadataValue.int(n)
                    for archive, n in got.requests.items()
                },
                "source_comparison": dg.MetadataValue.json(got.comparisons),
                "days_fetched": dg.MetadataValue.json(
                    {m: len(f.values) for m, f in got.fetches.items()}
                ),
                "notes": dg.MetadataValue.json({m: f.notes for m, f in got.fetches.items()}),
                "errors": dg.MetadataValue.json(got.errors),
                "first_week": dg.MetadataValue.text(keys[0]),
                "last_week": dg.MetadataValue.text(keys[-1]),
            },
        )
    if with_mentions:
        yield mentions_result(store, found, writes[MENTIONS_ASSET], terms, (start, end))
    if fails_here:
        raise fail


SOURCE_ASSETS = [source_observations]
# The download and star assets (what weekly metrics are computed from), without the mentions.
OBSERVATION_KEYS = list(SOURCE_OF)
# The asset that fetches each source's metrics (a metric's `source` in the catalog).
SOURCE_ASSET_OF = {source: name for source, (name, _) in SOURCES.items()}
