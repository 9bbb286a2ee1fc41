"""The jobs of the code location and the run tags that make one run cover a range of weeks."""

from __future__ import annotations

import dagster as dg

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
# Runs started by the CLI carry no code-location origin: this tag says whose they are.
LOCATION = "community_metrics"
LOCATION_TAG = "community_metrics/location"
# A run limited to some metrics (a re-run of what failed): comma-separated metric ids.
METRICS_TAG = "community_metrics/metrics"

SEED_JOB = "seed_job"
WEEKLY_JOB = "weekly_metrics_job"
REFRESH_JOB = "weekly_refresh_job"

seed_job = dg.define_asset_job(
    SEED_JOB,
    selection=dg.AssetSelection.groups("seed") | dg.AssetSelection.groups("embeddings"),
    description="Load the metric catalog, the seed CSV files and the example mentions, and "
    "embed new mentions.",
)
weekly_metrics_job = dg.define_asset_job(
    WEEKLY_JOB,
    selection=dg.AssetSelection.assets("weekly_metrics"),
    description="Recompute weekly metrics from stored observations (no network), one run per "
    "range of weeks.",
)
refresh_job = dg.define_asset_job(
    REFRESH_JOB,
    selection=dg.AssetSelection.groups("sources")
    | dg.AssetSelection.assets("weekly_metrics")
    | dg.AssetSelection.groups("embeddings"),
    description="Fetch the sources and mentions, compute weekly metrics and embed new "
    "mentions, one run per range of weeks.",
)


def range_tags(partition_keys: list[str]) -> dict[str, str]:
    """Tags that make one run cover the weeks from the first key to the last."""
    return {RANGE_START: partition_keys[0], RANGE_END: partition_keys[-1]}
