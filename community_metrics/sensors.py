"""Alert sensors: failed runs, backfills with failed partitions, failing data checks, stale
metrics and metrics that keep failing. Each builds `Alert`s from what the instance and the
store record and hands them to a `Dispatcher`, which never fails the tick.

Open-source Dagster records no asset-failure events, so a failed partition is known from its
run; runs the CLI executes in-process have no code-location origin and a sensor scoped to its
location skips them, so the run sensor watches every location and keeps ours in its body.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

import dagster as dg
from dagster._core.execution.backfill import BulkActionsFilter, BulkActionStatus
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from community_metrics import weeks
from community_metrics.alerts import (
    Alert,
    Dispatcher,
    configured,
    rerun_command,
    week_list,
)
from community_metrics.catalog import Catalog
from community_metrics.config import Settings
from community_metrics.jobs import (
    LOCATION,
    LOCATION_TAG,
    RANGE_END,
    RANGE_START,
    SEED_JOB,
    WEEKLY_JOB,
)
from community_metrics.metrics.checks import CHECKS
from community_metrics.sources.assets import SOURCE_ASSET_OF
from community_metrics.status import is_stale, newest_weeks, recent_runs
from community_metrics.store import StoreReader
from community_metrics.weeks import describe_weeks

BACKFILL_TAG = "dagster/backfill"
FINISHED = [
    BulkActionStatus.COMPLETED,
    BulkActionStatus.COMPLETED_SUCCESS,
    BulkActionStatus.COMPLETED_FAILED,
    BulkActionStatus.FAILED,
    BulkActionStatus.CANCELED,
]
LOOK_BACK = dt.timedelta(days=7)  # how far back a first tick looks for finished backfills
KEYS_KEPT = 5000  # (check, week) keys remembered as sent, newest kept
WEEKLY_ASSET = dg.AssetKey("weekly_metrics")
CHECK_RECORDS = 50  # newest executions read per check and tick
COMPLETED = {AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED}
TEXT_LIMIT = 600


def ours(run: dg.DagsterRun) -> bool:
    """A run of this code location: launched from it (UI, schedule, backfill daemon) or run
    in-process by our CLI, which tags it. Other deployments' runs are left to their own."""
    origin = run.remote_job_origin
    if origin is not None:
        return origin.location_name == LOCATION
    return run.tags.get(LOCATION_TAG) == LOCATION


def run_partitions(run: dg.DagsterRun) -> list[str]:
    """Every week the run covered: a range run names only its ends in its tags."""
    tags = run.tags
    if RANGE_START in tags:
        return week_list(tags[RANGE_START], tags[RANGE_END])
    return [tags["dagster/partition"]] if "dagster/partition" in tags else []


def run_errors(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """Failing metric ids and their errors, from the run's materializations (the source
    assets report them before failing); else each failed step's error."""
    events = instance.all_logs(
        run_id,
        of_type={dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.STEP_FAILURE},
    )
    metrics: dict[str, str] = {}
    steps: dict[str, str] = {}
    for entry in events:
        event = entry.dagster_event
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            reported = event.event_specific_data.materialization.metadata.get("errors")
            metrics.update(reported.value if reported is not None else {})
        else:
            data = event.event_specific_data
            message = (
                data.user_failure_data.description
                if data.user_failure_data and data.user_failure_data.description
                else (data.error.message.strip() if data.error else "failed")
            )
            steps[event.step_key] = message.splitlines()[0][:300]
    return metrics or steps


def _rerun(job_name: str, partitions: list[str], failing: Iterable[str]) -> str | None:
    if job_name == SEED_JOB:
        return "community-metrics seed"
    command = rerun_command(partitions, list(failing))
    if command and job_name == WEEKLY_JOB:
        command = command.replace(" backfill ", " backfill --no-fetch ", 1)
    return command


def _summary(metrics: dict[str, str]) -> str:
    text = "; ".join(f"{m}: {e}" for m, e in sorted(metrics.items()))
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


def _alert_sensor(settings: Settings, name: str, description: str):
    """`dg.sensor` as every alert sensor here runs: on by default, every interval."""
    return dg.sensor(
        name=name,
        minimum_interval_seconds=settings.alerts.interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=description,
    )


def _dispatcher(context, settings: Settings) -> Dispatcher:
    return Dispatcher(configured(settings.alerts, write=context.log.error), context.log.warning)


def run_failure_alert(
    run: dg.DagsterRun, instance: dg.DagsterInstance, settings: Settings, message: str | None
) -> Alert:
    """The alert for one failed run: its weeks, failing metrics, UI link and re-run."""
    partitions = run_partitions(run)
    metrics = run_errors(instance, run.run_id) or {"run": message or "failed"}
    return Alert(
        kind="run_failure",
        key=f"run:{run.run_id}",
        text=f"community-metrics: run {run.run_id[:8]} ({run.job_name}) failed for "
        f"{describe_weeks(partitions)}: {_summary(metrics)}",
        run_id=run.run_id,
        partitions=partitions,
        metrics=metrics,
        url=f"{settings.alerts.dagster_ui_url}/runs/{run.run_id}",
        rerun=_rerun(run.job_name, partitions, metrics),
    )


def build_failure_alert(settings: Settings) -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name="failed_run_alert",
        monitor_all_code_locations=True,
        minimum_interval_seconds=settings.alerts.interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="One alert per failed run of this code location (UI, schedule, backfill "
        "or CLI), with its weeks, failing metrics and the re-run command.",
    )
    def failed_run_alert(context: dg.RunFailureSensorContext):
        run = context.dagster_run
        if not ours(run):
            return dg.SkipReason(f"run {run.run_id} belongs to another code location")
        message = context.failure_event.message if context.failure_event else None
        _dispatcher(context, settings).send(
            run_failure_alert(run, context.instance, settings, message)
        )
        return None

    return failed_run_alert


def build_backfill_alert(settings: Settings) -> dg.SensorDefinition:
    @_alert_sensor(
        settings,
        "failed_backfill_alert",
        "One alert per finished backfill with failed partitions, listing them "
        "with the re-run command and the backfill's page.",
    )
    def failed_backfill_alert(context: dg.SensorEvaluationContext):
        cursor = json.loads(context.cursor or "{}")
        seen: list[str] = cursor.get("seen", [])
        since = dt.datetime.now(dt.UTC) - LOOK_BACK
        backfills = context.instance.get_backfills(
            filters=BulkActionsFilter(statuses=FINISHED, created_after=since), limit=200
        )
        dispatcher = _dispatcher(context, settings)
        for backfill in backfills:
            if backfill.backfill_id in seen:
                continue
            runs = context.instance.get_runs(
                filters=dg.RunsFilter(
                    tags={BACKFILL_TAG: backfill.backfill_id},
                    statuses=[dg.DagsterRunStatus.FAILURE],
                )
            )
            runs = [r for r in runs if ours(r)]
            seen.append(backfill.backfill_id)
            if not runs:
                continue
            partitions = sorted({p for r in runs for p in run_partitions(r)})
            metrics: dict[str, str] = {}
            for run in runs:
                metrics.update(run_errors(context.instance, run.run_id))
            dispatcher.send(
                Alert(
                    kind="backfill_failed_partitions",
                    key=f"backfill:{backfill.backfill_id}",
                    text=f"community-metrics: backfill {backfill.backfill_id} finished with "
                    f"{len(partitions)} failed partition(s), {describe_weeks(partitions)}: "
                    f"{_summary(metrics)}",
                    run_id=runs[0].run_id if len(runs) == 1 else None,
                    partitions=partitions,
                    metrics=metrics,
                    url=f"{settings.alerts.dagster_ui_url}/runs/b/{backfill.backfill_id}",
                    rerun=rerun_command(partitions, list(metrics)),
                )
            )
        context.update_cursor(json.dumps({"seen": seen[-KEYS_KEPT:]}))
        return dg.SkipReason(f"{len(dispatcher.sent)} backfill alert(s) sent")

    return failed_backfill_alert


def check_failure_alert(record, evaluation, new_weeks: list[str], settings: Settings) -> Alert:
    details = evaluation.metadata.get("details")
    failures = [f for f in (details.value if details is not None else []) if f["week"] in new_weeks]
    metrics: dict[str, str] = {}
    for f in failures:
        figures = ", ".join(f"{k} {v}" for k, v in f.items() if k not in ("metric_id", "week"))
        metrics[f["metric_id"]] = "; ".join(
            filter(None, [metrics.get(f["metric_id"]), f"{f['week']}: {figures}"])
        )
    severity = evaluation.severity.value.lower()
    return Alert(
        kind="check_failed",
        key=f"check:{evaluation.check_name}:{','.join(new_weeks)}",
        text=f"community-metrics: check {evaluation.check_name} ({severity}) failed on "
        f"{evaluation.asset_key.to_user_string()} for {describe_weeks(new_weeks)}: "
        f"{_summary(metrics)}",
        run_id=record.run_id,
        partitions=new_weeks,
        metrics=metrics,
        url=f"{settings.alerts.dagster_ui_url}/assets/"
        f"{'/'.join(evaluation.asset_key.path)}?view=checks",
        rerun=rerun_command(new_weeks, list(metrics)),
    )


def build_check_alert(settings: Settings) -> dg.SensorDefinition:
    @_alert_sensor(
        settings,
        "failed_check_alert",
        "One alert per failing data check and week (open-source Dagster has no "
        "check alerts: this reads the check evaluations).",
    )
    def failed_check_alert(context: dg.SensorEvaluationContext):
        cursor = json.loads(context.cursor or "{}")
        sent: list[str] = cursor.get("sent", [])
        known = set(sent)
        done: list[int] = cursor.get("done", [])  # check executions already judged
        judged = set(done)
        storage = context.instance.event_log_storage
        dispatcher = _dispatcher(context, settings)
        for check in CHECKS:
            key = dg.AssetCheckKey(WEEKLY_ASSET, check.name)
            records = storage.get_asset_check_execution_history(
                key, limit=CHECK_RECORDS, status=COMPLETED
            )
            for record in sorted(records, key=lambda r: r.id):  # oldest first
                if record.id in judged or record.event is None:
                    continue
                done.append(record.id)
                evaluation = record.event.dagster_event.event_specific_data
                if evaluation.passed:
                    continue
                failing = evaluation.metadata.get("failing_weeks")
                weeks_failing = failing.value if failing is not None else []
                new = [w for w in weeks_failing if f"{check.name}|{w}" not in known]
                if not new:
                    continue
                dispatcher.send(check_failure_alert(record, evaluation, new, settings))
                for week in new:
                    known.add(f"{check.name}|{week}")
                    sent.append(f"{check.name}|{week}")
        context.update_cursor(json.dumps({"done": done[-KEYS_KEPT:], "sent": sent[-KEYS_KEPT:]}))
        return dg.SkipReason(f"{len(dispatcher.sent)} check alert(s) sent")

    return failed_check_alert


def build_freshness_alert(settings: Settings, catalog: Catalog) -> dg.SensorDefinition:
    @_alert_sensor(
        settings,
        "stale_metric_alert",
        "`stale` once per metric with no new closed week for more than 8 days; "
        "`repeated_partial` once per metric that failed in N consecutive runs "
        "(CM_ALERT_REPEATED_FAILURES).",
    )
    def stale_metric_alert(context: dg.SensorEvaluationContext):
        cursor = json.loads(context.cursor or "{}")
        stale_sent: dict[str, str] = cursor.get("stale", {})
        streak_sent: dict[str, str] = cursor.get("repeated", {})
        store = StoreReader.connect(settings)
        dispatcher = _dispatcher(context, settings)
        newest = newest_weeks(store, [m.metric_id for m in catalog.active])
        today = weeks.today()
        ui = settings.alerts.dagster_ui_url
        for metric in catalog.active:
            week = newest.get(metric.metric_id)
            if not is_stale(week, today):
                stale_sent.pop(metric.metric_id, None)
                continue
            if stale_sent.get(metric.metric_id) == str(week):
                continue
            missing = weeks.week_keys(
                (week + dt.timedelta(weeks=1)) if week else weeks.FIRST_WEEK, today
            )
            dispatcher.send(
                Alert(
                    kind="stale",
                    key=f"stale:{metric.metric_id}:{week}",
                    text=f"community-metrics: {metric.metric_id} has no new closed week since "
                    f"{week or 'it was added'} (more than 8 days)",
                    partitions=missing,
                    metrics={metric.metric_id: f"newest week {week or 'none'}"},
                    url=f"{ui}/assets/weekly_metrics",
                    rerun=rerun_command(missing, [metric.metric_id]),
                )
            )
            stale_sent[metric.metric_id] = str(week)
        runs = recent_runs(store, 100)  # newest first
        n = settings.alerts.repeated_failures
        for metric in catalog.active:
            asset = SOURCE_ASSET_OF.get(metric.source)
            fetching = [r for r in runs if asset in r.assets]
            streak = []
            for run in fetching:
                if metric.metric_id not in run.errors:
                    break
                streak.append(run)
            if len(streak) < n:
                streak_sent.pop(metric.metric_id, None)
                continue
            first = streak[-1].run_id  # the streak's start: the same while it goes on
            if streak_sent.get(metric.metric_id) == first:
                continue
            partitions = sorted({p for r in streak for p in week_list(*_bounds(r.partitions))})
            dispatcher.send(
                Alert(
                    kind="repeated_partial",
                    key=f"repeated:{metric.metric_id}:{first}",
                    text=f"community-metrics: {metric.metric_id} failed in the last "
                    f"{len(streak)} runs: {streak[0].errors[metric.metric_id]}",
                    run_id=streak[0].run_id,
                    partitions=partitions,
                    metrics={metric.metric_id: streak[0].errors[metric.metric_id]},
                    url=f"{ui}/runs/{streak[0].run_id}",
                    rerun=rerun_command(partitions, [metric.metric_id]),
                )
            )
            streak_sent[metric.metric_id] = first
        context.update_cursor(json.dumps({"stale": stale_sent, "repeated": streak_sent}))
        return dg.SkipReason(f"{len(dispatcher.sent)} freshness alert(s) sent")

    return stale_metric_alert


def _bounds(partitions: str | None) -> tuple[str | None, str | None]:
    """'2026-11-02..2026-11-16' or '2026-11-16' (as history stores them) as (first, last)."""
    if not partitions:
        return None, None
    first, _, last = partitions.partition("..")
    return first, last or first


def build_sensors(settings: Settings, catalog: Catalog) -> list[dg.SensorDefinition]:
    return [
        build_failure_alert(settings),
        build_backfill_alert(settings),
        build_check_alert(settings),
        build_freshness_alert(settings, catalog),
    ]
