"""Runs jobs in this process through the Dagster instance in DAGSTER_HOME, for the CLI.

The instance is the one the UI reads, so CLI runs appear in its run history beside scheduled
and UI-launched ones. A run's outcome comes back as a `RunReport` (what each asset wrote, one
error per failing metric, file or asset) for the CLI to print; Dagster's own event lines and
tracebacks stay in the run's log in the UI.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from community_metrics import weeks
from community_metrics.config import DEFAULT_DAGSTER_HOME, PROJECT_ROOT, Settings
from community_metrics.definitions import build_definitions
from community_metrics.history import mark_dead_run, run_errors, run_row
from community_metrics.jobs import LOCATION, LOCATION_TAG, METRICS_TAG, SEED_JOB, range_tags
from community_metrics.store import METRICS, StoreReader, StoreWriter

PID_TAG = "community_metrics/runner_pid"
HOST_TAG = "community_metrics/runner_host"
# Events still reach the instance (and the UI); the terminal gets the RunReport only.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
DEAD_RUN = "its process died (killed?) before the run finished"


@dataclass(frozen=True)
class AssetSummary:
    name: str
    rows: int | None
    weeks: int  # partitions materialized: 1 for an unpartitioned asset
    inserted: int | None
    updated: int | None
    table: str | None
    version: int | None


@dataclass
class RunReport:
    job_name: str
    run_id: str
    success: bool
    partition_keys: list[str] | None = None
    assets: list[AssetSummary] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


# Dagster buffers a run's planned events and a step's per-week materializations and hands
# them to the event log storage in batches of this size (0, its default, writes one by one).
EVENT_BATCH_ENV, EVENT_BATCH_SIZE = "DAGSTER_EVENT_BATCH_SIZE", "1000"


def embedded_event_log() -> dict:
    """The `event_log_storage` section of the project's dagster.yaml, for instances the tests
    and benches build themselves (`instance_for_test(overrides=...)`)."""
    import yaml

    config = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    return {"event_log_storage": config["event_log_storage"]}


def prepare_dagster_home(settings: Settings) -> Path:
    """Point DAGSTER_HOME at the instance folder. The default folder gets the project's
    dagster.yaml on every start, any other folder once if it has none (without one, Dagster
    prints its telemetry banner and runs without the project's pools)."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    # Asset events in batches (community_metrics/event_log.py); `up`'s processes inherit it.
    os.environ.setdefault(EVENT_BATCH_ENV, EVENT_BATCH_SIZE)
    source, target = PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml"
    if not target.exists() or (
        home == PROJECT_ROOT / DEFAULT_DAGSTER_HOME and target.read_bytes() != source.read_bytes()
    ):
        shutil.copyfile(source, target)
    return home


@contextmanager
def instance(settings: Settings) -> Iterator[dg.DagsterInstance]:
    prepare_dagster_home(settings)
    with dg.DagsterInstance.get() as inst:
        yield inst


def execute(
    defs: dg.Definitions,
    job_name: str,
    inst: dg.DagsterInstance,
    partition_keys: list[str] | None = None,
    run_config: dict | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """Run a job through `inst`; a list of weeks becomes ONE run over their range. The run is
    tagged with this process and the code location (an in-process run has no origin)."""
    tags = {
        **(tags or {}),
        PID_TAG: str(os.getpid()),
        HOST_TAG: socket.gethostname(),
        LOCATION_TAG: LOCATION,
    }
    if partition_keys:
        tags |= range_tags(partition_keys)
    return defs.resolve_job_def(job_name).execute_in_process(
        instance=inst, tags=tags, raise_on_error=False, run_config=run_config
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_dead_runs(inst: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """Mark failed the in-process runs of this host whose process died, and free their pool slots.

    A killed CLI run stays STARTED forever and keeps its pool slot, so every later writer of
    that table would wait for it; the daemon's run monitoring cannot see processes it did not
    launch.
    """
    reaped = []
    records = inst.get_run_records(
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
        inst.report_run_failed(
            run, message=f"the process running it (pid {pid}) died; marked failed by the CLI"
        )
        inst.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        reaped.append(run)
    return reaped


def reap(settings: Settings, inst: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """Reap dead runs and record each as failed in `history`."""
    dead = reap_dead_runs(inst)
    if dead:
        store = StoreWriter.connect(settings)
        for run in dead:
            mark_dead_run(store, run.run_id, run.job_name, DEAD_RUN)
    return dead


def _summaries(result: dg.ExecuteInProcessResult) -> list[AssetSummary]:
    # A range run records one materialization per partition, all with the run's metadata.
    partitions: Counter[str] = Counter()
    metadata: dict[str, dict] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        name = materialization.asset_key.to_user_string()
        partitions[name] += 1
        metadata[name] = {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    return [
        AssetSummary(
            name,
            meta.get("dagster/row_count"),
            partitions[name],
            meta.get("rows_inserted"),
            meta.get("rows_updated"),
            meta.get("table"),
            meta.get("table_version"),
        )
        for name, meta in metadata.items()
    ]


def _step_errors(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """The failed steps' own errors, one line each: Dagster wraps an exception raised in an
    asset ("DagsterExecutionStepExecutionError: Error occurred while executing ..."), so the
    innermost cause is the one the user can act on, without its class-name prefix."""
    errors = {}
    for event in result.all_events:
        if event.event_type != dg.DagsterEventType.STEP_FAILURE:
            continue
        error = event.step_failure_data.error
        while error is not None and error.cause is not None:
            error = error.cause
        message = (error.message or "").strip() if error else ""
        if error is not None and error.cls_name:
            message = message.removeprefix(f"{error.cls_name}:").strip()
            message = message.removeprefix("dagster._core.definitions.events.Failure:").strip()
        errors[event.step_key] = message.splitlines()[0] if message else "unknown error"
    return errors


def run_job(
    settings: Settings,
    job_name: str,
    partition_keys: list[str] | None = None,
    on_reaped=lambda run: None,
    metrics: list[str] | None = None,
) -> RunReport:
    """Execute a job through the instance (reaping dead runs first) and report its outcome;
    with `metrics`, the sources fetch only those."""
    defs = build_definitions(settings)
    tags = {METRICS_TAG: ",".join(metrics)} if metrics else None
    with instance(settings) as inst:
        for run in reap(settings, inst):
            on_reaped(run)
        result = execute(defs, job_name, inst, partition_keys, QUIET_CONSOLE, tags)
    report = RunReport(job_name, result.run_id, result.success, partition_keys, _summaries(result))
    if not result.success:
        row = run_row(StoreReader.connect(settings), result.run_id) or {}
        # steps that failed before recording anything in history keep Dagster's error
        recorded = set(row.get("assets", []))
        unrecorded = {k: v for k, v in _step_errors(result).items() if k not in recorded}
        report.errors = {**unrecorded, **(run_errors(row) if row else {})}
    return report


def missing_work(settings: Settings) -> tuple[bool, list[str]]:
    """Whether the seed must run, and the weekly partitions the stored observations support
    that are not materialized yet."""
    store = StoreReader.connect(settings)
    with instance(settings) as inst:
        job = build_definitions(settings).resolve_job_def(SEED_JOB)
        seed_needed = store.count_rows(METRICS) == 0 or any(
            inst.get_latest_materialization_event(key) is None
            for key in job.asset_layer.selected_asset_keys
        )
        done = inst.get_materialized_partitions(dg.AssetKey("weekly_metrics"))
    if seed_needed:
        return True, []
    observed = store.observed_days()
    if observed is None:
        return False, []
    supported = weeks.week_keys(observed[0], weeks.today())
    return False, [k for k in supported if k not in done]


def create_instance_storage(settings: Settings) -> None:
    """Create the instance's run, event and schedule storage before `dagster dev` starts.

    On a new DAGSTER_HOME both processes would otherwise create the SQLite schema at once, and
    one fails with "table runs already exists".
    """
    with instance(settings) as inst:
        inst.get_run_records(limit=1)
        inst.get_latest_materialization_event(dg.AssetKey("metric_catalog"))
        inst.all_instigator_state()
