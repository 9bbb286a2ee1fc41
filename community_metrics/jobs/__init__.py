"""Jobs, and the module entry points the deployment runbook calls (thin CLI aliases)."""

from __future__ import annotations

import dagster as dg

SEED_JOB = "seed_job"
WEEKLY_JOB = "weekly_metrics_job"

seed_job = dg.define_asset_job(
    SEED_JOB,
    selection=dg.AssetSelection.groups("seed"),
    description="Load the metric catalog and the seed CSV files.",
)
weekly_metrics_job = dg.define_asset_job(
    WEEKLY_JOB,
    selection=dg.AssetSelection.assets("weekly_metrics"),
    description="Compute weekly metrics for one week or, as one run, a range of weeks.",
)


def execute(
    defs: dg.Definitions,
    job_name: str,
    instance: dg.DagsterInstance,
    partition_keys: list[str] | None = None,
    run_config: dict | None = None,
) -> dg.ExecuteInProcessResult:
    """Run a job through `instance`; a list of weeks becomes ONE run over their range."""
    tags = {}
    if partition_keys:
        tags = {
            "dagster/asset_partition_range_start": partition_keys[0],
            "dagster/asset_partition_range_end": partition_keys[-1],
        }
    return defs.resolve_job_def(job_name).execute_in_process(
        instance=instance, tags=tags, raise_on_error=False, run_config=run_config
    )
