"""The Dagster code location `community_metrics`: every asset, job, schedule and sensor."""

import dagster as dg

from community_metrics.catalog import load_catalog
from community_metrics.config import Settings, get_settings
from community_metrics.embeddings.assets import mention_embeddings
from community_metrics.jobs import refresh_job, seed_job, weekly_metrics_job
from community_metrics.metrics.assets import weekly_metrics
from community_metrics.resources import MetricsResources
from community_metrics.schedules import build_weekly_refresh
from community_metrics.seed.assets import SEED_ASSETS
from community_metrics.sensors import build_sensors
from community_metrics.sources.assets import SOURCE_ASSETS


def build_definitions(settings: Settings) -> dg.Definitions:
    """Every definition, with the catalog read once here: a broken catalog is a code-location
    error, and every asset of a run sees the catalog that was validated."""
    catalog = load_catalog(settings.seed_dir)
    return dg.Definitions(
        assets=[*SEED_ASSETS, *SOURCE_ASSETS, weekly_metrics, mention_embeddings],
        jobs=[seed_job, weekly_metrics_job, refresh_job],
        schedules=[build_weekly_refresh(settings.sources.refresh_lookback_weeks)],
        sensors=build_sensors(settings, catalog),
        resources={"cm": MetricsResources(settings, catalog)},
        executor=dg.in_process_executor,
    )


defs = build_definitions(get_settings())
