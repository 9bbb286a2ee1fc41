"""The weekly refresh schedule: Mondays 06:00 UTC, the week that just closed plus a lookback."""

import dagster as dg

from community_metrics.jobs import REFRESH_JOB, range_tags, refresh_job
from community_metrics.weeks import closed_weeks


def build_weekly_refresh(lookback_weeks: int) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="weekly_refresh",
        job=refresh_job,
        cron_schedule="0 6 * * 1",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Fetch and compute the week that just closed and {lookback_weeks} before "
        "it (late revisions), as one run.",
    )
    def weekly_refresh(context: dg.ScheduleEvaluationContext):
        keys = closed_weeks(lookback_weeks + 1, context.scheduled_execution_time)
        return dg.RunRequest(run_key=f"{REFRESH_JOB}:{keys[-1]}", tags=range_tags(keys))

    return weekly_refresh
