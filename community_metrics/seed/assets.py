"""Seed assets: the catalog into `metrics`, seed CSV files into `stats` and `observations`.

Each asset parses all of its files before writing, then writes one atomic merge: a malformed
file fails the asset with file:line:column and nothing from it is stored.
"""

import datetime as dt

import dagster as dg

from community_metrics import weeks
from community_metrics.mentions.records import mention_row
from community_metrics.resources import MetricsResources
from community_metrics.seed import parsers
from community_metrics.store import MENTIONS, METRICS, OBSERVATIONS, STATS
from community_metrics.tracking import store_asset, tracked, user_failure, write_metadata

GROUP = "seed"


def _parse_seed(cm: MetricsResources, files_attr: str, parse):
    """(files, parsed) for one kind of seed file; a bad file fails the asset without retries,
    naming the file, line and field."""
    try:
        files = getattr(parsers.discover(cm.settings.seed_dir), files_attr)
        return files, parse(files, cm.catalog, weeks.today())
    except parsers.SeedError as exc:
        raise user_failure(exc) from exc


@store_asset(
    group=GROUP,
    description="The metric catalog (seed_data/catalog.toml) mirrored into the `metrics` table.",
)
def metric_catalog(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    cm: MetricsResources = context.resources.cm
    catalog = cm.catalog
    with tracked(context, cm.store) as outcome:
        now = dt.datetime.now(dt.UTC)
        rows = [{**m.as_row(), "updated_at": now} for m in catalog]
        result = outcome.add(cm.store.upsert(METRICS, rows, mirror=True))
    return dg.MaterializeResult(
        metadata={
            **write_metadata(result, cm.store.count_rows(METRICS)),
            "active_metrics": dg.MetadataValue.int(len(catalog.active)),
            "catalog_file": dg.MetadataValue.path(str(catalog.path)),
        }
    )


def _observation_asset(name: str, files_attr: str, parse, description: str):
    @store_asset(
        name=name,
        group=GROUP,
        kinds={"csv"},
        deps=[metric_catalog],
        pool="lancedb_observations",
        description=description,
    )
    def _asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        cm: MetricsResources = context.resources.cm
        with tracked(context, cm.store) as outcome:
            files, parsed = _parse_seed(cm, files_attr, parse)
            now = dt.datetime.now(dt.UTC)
            rows = [{**r, "fetched_at": now, "run_id": context.run.run_id} for r in parsed]
            result = outcome.add(cm.store.upsert(OBSERVATIONS, rows))
        days = [r["day"] for r in parsed]
        return dg.MaterializeResult(
            metadata={
                **write_metadata(result, cm.store.count_rows(OBSERVATIONS)),
                "files": dg.MetadataValue.json([f.name for f in files]),
                "metrics": dg.MetadataValue.int(len({r["metric_id"] for r in parsed})),
                "first_day": dg.MetadataValue.text(min(days).isoformat() if days else "none"),
                "last_day": dg.MetadataValue.text(max(days).isoformat() if days else "none"),
            }
        )

    return _asset


star_history = _observation_asset(
    "star_history",
    "star_history",
    parsers.parse_star_history,
    "Star-history exports (Repository,Date,Stars) as daily cumulative-star observations.",
)

daily_downloads = _observation_asset(
    "daily_downloads",
    "daily",
    parsers.parse_daily,
    "Long-form daily downloads (date,metric_id,downloads) as observations: history older "
    "than the source APIs keep.",
)


@store_asset(
    group=GROUP,
    kinds={"csv"},
    deps=[metric_catalog],
    pool="lancedb_stats",
    description="Monthly download snapshots (download_stats.csv) as `discrete_snapshot` stats.",
)
def download_snapshots(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    cm: MetricsResources = context.resources.cm
    with tracked(context, cm.store) as outcome:
        files, parsed = _parse_seed(cm, "snapshots", parsers.parse_snapshots)
        now = dt.datetime.now(dt.UTC)
        rows = [{**r, "run_id": context.run.run_id, "updated_at": now} for r in parsed]
        result = outcome.add(cm.store.upsert(STATS, rows))
    return dg.MaterializeResult(
        metadata={
            **write_metadata(result, cm.store.count_rows(STATS)),
            "files": dg.MetadataValue.json([f.name for f in files]),
            "snapshot_days": dg.MetadataValue.int(len({r["period_end"] for r in parsed})),
        }
    )


@store_asset(
    group=GROUP,
    kinds={"json"},
    deps=[metric_catalog],
    # the pool of the step that writes weekly mentions (sources/assets.py)
    pool="lancedb_observations",
    description="Example community mentions (seed_data/*.jsonl, source 'example') so the "
    "offline default has something to search.",
)
def example_mentions(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    cm: MetricsResources = context.resources.cm
    with tracked(context, cm.store) as outcome:
        files, found = _parse_seed(cm, "mentions", parsers.parse_mentions)
        now = dt.datetime.now(dt.UTC)
        rows = [mention_row(f, cm.catalog, now, context.run.run_id) for f in found]
        result = outcome.add(cm.store.upsert(MENTIONS, rows))
    return dg.MaterializeResult(
        metadata={
            **write_metadata(result, cm.store.count_rows(MENTIONS)),
            "files": dg.MetadataValue.json([f.name for f in files]),
        }
    )


SEED_ASSETS = [metric_catalog, download_snapshots, star_history, daily_downloads, example_mentions]
