"""The Dagster code location `community_metrics`: every asset, job and resource."""

from __future__ import annotations

import dagster as dg

from community_metrics.catalog import load_catalog
from community_metrics.config import Settings, get_settings
from community_metrics.jobs import seed_job, weekly_metrics_job
from community_metrics.metrics.assets import weekly_metrics
from community_metrics.resources import MetricsResources
from community_metrics.seed.assets import SEED_ASSETS


def build_definitions(settings: Settings) -> dg.Definitions:
    # Validate the catalog at load time: a broken catalog shows as a code-location error.
    load_catalog(settings.seed_dir)
    return dg.Definitions(
        assets=[*SEED_ASSETS, weekly_metrics],
        jobs=[seed_job, weekly_metrics_job],
        resources={"cm": MetricsResources(settings)},
        executor=dg.in_process_executor,
    )


defs = build_definitions(get_settings())
