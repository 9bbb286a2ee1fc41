"""status.py over a real seeded store, read through a StoreReader only."""

import datetime as dt

from community_metrics.jobs import SEED_JOB, WEEKLY_JOB
from community_metrics.runner import execute
from community_metrics.status import collect_status, metric_statuses, recent_runs
from community_metrics.store import StoreReader
from community_metrics.weeks import week_keys


def test_status_reads_filters_and_limits_in_the_store(defs, instance, settings, seed_dir):
    reader = StoreReader.connect(settings)
    assert collect_status(reader).metrics == []  # nothing stored yet, and no table created
    assert reader.table_names() == []

    assert execute(defs, SEED_JOB, instance).success
    keys = week_keys(dt.date(2026, 10, 5), dt.date(2026, 11, 1))
    assert execute(defs, WEEKLY_JOB, instance, keys).success
    (seed_dir / "broken.csv").write_text("date,metric_id,downloads\n2026-01-05,nope:x:y,1\n")
    failed = execute(defs, SEED_JOB, instance)
    assert not failed.success

    status = collect_status(reader, runs=2)
    assert [r.run_id for r in status.runs][0] == failed.run_id
    assert len(status.runs) == 2 and status.runs[0].status == "failed"
    assert "broken.csv:2:2" in status.runs[0].errors["daily_downloads"]
    assert [r.job_name for r in recent_runs(reader, limit=10, status="success")] == [
        WEEKLY_JOB,
        SEED_JOB,
    ]
    (stars,) = metric_statuses(reader, ["stars:lance:github"])
    assert (stars.weekly_rows, stars.latest_period_end) == (4, dt.date(2026, 11, 1))
    assert stars.observations > 0 and stars.snapshot_rows == 0
    snapshots = {m.metric_id: m.snapshot_rows for m in status.metrics}
    assert len(snapshots) == 7 and snapshots["downloads:lance:python"] > 0
    json_ready = status.as_dict()
    assert json_ready["metrics"][0]["latest_period_end"] == "2026-11-01"
