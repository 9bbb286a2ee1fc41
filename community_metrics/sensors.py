"""Alerts on failed runs, naming the weeks they covered.

Watches the whole code location (runs from backfills, schedules and the UI are all
`__ASSET_JOB` or our jobs, so scoping to jobs would miss some) and reads the partition range
from the run tags, since range runs have no single partition key.
"""

import dagster as dg
import httpx

from community_metrics.config import Settings
from community_metrics.jobs import RANGE_END, RANGE_START


def failed_weeks(run: dg.DagsterRun) -> str | None:
    tags = run.tags
    if RANGE_START in tags:
        start, end = tags[RANGE_START], tags[RANGE_END]
        return start if start == end else f"{start}..{end}"
    return tags.get("dagster/partition")


def alert_text(run: dg.DagsterRun, error: str | None) -> str:
    weeks = failed_weeks(run)
    scope = f" for week(s) {weeks}" if weeks else ""
    reason = error or "see the run in the UI"
    return f"community-metrics: run {run.run_id} ({run.job_name}) failed{scope}: {reason}"


def build_failure_alert(settings: Settings) -> dg.SensorDefinition:
    webhook = settings.sources.alert_webhook_url

    @dg.run_failure_sensor(
        name="failed_partition_alert",
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Alerts on every failed run with the weeks it covered (log, and a POST to "
        "CM_ALERT_WEBHOOK_URL when set).",
    )
    def failed_partition_alert(context: dg.RunFailureSensorContext):
        run = context.dagster_run
        text = alert_text(run, context.failure_event.message)
        context.log.error(text)
        if webhook:
            response = httpx.post(
                webhook,
                json={
                    "text": text,
                    "run_id": run.run_id,
                    "job": run.job_name,
                    "weeks": failed_weeks(run),
                },
                timeout=10,
            )
            if response.status_code >= 300:
                raise RuntimeError(f"alert webhook answered HTTP {response.status_code}")

    return failed_partition_alert
