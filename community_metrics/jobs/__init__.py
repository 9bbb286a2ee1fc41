"""Jobs, and the module entry points the deployment runbook calls (thin CLI aliases)."""

from __future__ import annotations

import os
import socket

import dagster as dg

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
PID_TAG = "community_metrics/runner_pid"
HOST_TAG = "community_metrics/runner_host"

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


def execute(
    defs: dg.Definitions,
    job_name: str,
    instance: dg.DagsterInstance,
    partition_keys: list[str] | None = None,
    run_config: dict | None = None,
) -> dg.ExecuteInProcessResult:
    """Run a job through `instance`; a list of weeks becomes ONE run over their range."""
    tags = {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
    if partition_keys:
        tags |= range_tags(partition_keys)
    return defs.resolve_job_def(job_name).execute_in_process(
        instance=instance, tags=tags, raise_on_error=False, run_config=run_config
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_dead_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """Mark failed the in-process runs of this host whose process died, and free their pool slots.

    A killed CLI run stays STARTED forever and keeps its pool slot, so every later writer of
    that table would wait for it; the daemon's run monitoring cannot see processes it did not
    launch.
    """
    reaped = []
    records = instance.get_run_records(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED],
            tags={HOST_TAG: socket.gethostname()},
        )
    )
    for record in records:
        run = record.dagster_run
        pid = int(run.tags.get(PID_TAG, "0"))
        if pid <= 0 or pid == os.getpid() or _alive(pid):
            continue
        instance.report_run_failed(
            run, message=f"the process running it (pid {pid}) died; marked failed by the CLI"
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        reaped.append(run)
    return reaped
