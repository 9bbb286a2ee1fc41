"""Alerts from real failing materializations in a real Dagster instance, evaluated by the real
sensors, received by a local webhook and a fake of Slack's chat.postMessage."""

from __future__ import annotations

import datetime as dt
import time

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill

from community_metrics import weeks
from community_metrics.alerts import rerun_command
from community_metrics.catalog import load_catalog
from community_metrics.jobs import REFRESH_JOB, WEEKLY_JOB
from community_metrics.metrics.checks import CHECKS, run_checks
from community_metrics.runner import execute
from community_metrics.store import OBSERVATIONS

from .alert_receiver import AlertReceiver
from .conftest import point_at, run_cli
from .test_refresh import last_weeks

CRATE = "/api/v1/crates/lancedb/"


@pytest.fixture
def receiver():
    server = AlertReceiver()
    yield server
    server.close()


@pytest.fixture
def alerting(env, fake, monkeypatch, receiver):
    """Settings, definitions and store on the fake sources, alerting to the receiver."""
    return point_at(fake, env, monkeypatch, **receiver.env("hook"))


def fail_run(defs, instance, result):
    """Evaluate the run-failure sensor on a failed run, as the daemon would hand it over."""
    sensor = defs.get_sensor_def("failed_run_alert")
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    ).for_run_failure()
    sensor(context)


def tick(defs, name, instance, cursor=None):
    """One evaluation of a sensor; returns its new cursor."""
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    return defs.get_sensor_def(name).evaluate_tick(context).cursor


def test_a_single_week_run_failure_alerts_once_with_metrics_and_rerun(
    alerting, env, fake, instance, receiver
):
    _, defs, store = alerting
    fake.always(CRATE, ("status", 500))
    (key,) = last_weeks(1)
    result = execute(defs, REFRESH_JOB, instance, [key])
    assert not result.success
    fail_run(defs, instance, result)

    (alert,) = receiver.alerts("hook")
    assert set(alert) == {"kind", "text", "run_id", "partitions", "metrics", "url", "rerun"}
    assert alert["kind"] == "run_failure" and alert["run_id"] == result.run_id
    assert alert["partitions"] == [key]
    assert list(alert["metrics"]) == ["downloads:lancedb:rust"]
    assert "HTTP 500" in alert["metrics"]["downloads:lancedb:rust"]
    assert alert["url"] == f"http://dagster.example:3000/runs/{result.run_id}"
    sunday = dt.date.fromisoformat(key) + dt.timedelta(days=6)
    assert alert["rerun"] == (
        f"community-metrics backfill --from {key} --to {sunday} --metrics downloads:lancedb:rust"
    )
    assert "downloads:lancedb:rust" in alert["text"] and key in alert["text"]
    (message,) = receiver.slack
    assert message["channel"] == "#metrics" and alert["text"] in message["text"]
    assert receiver.slack_auth == ["Bearer xoxb-test-token-not-real"]

    # the failure is also visible in Dagster: the source asset's check names the metric
    check = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("crates_downloads"), "metrics_fetched"), limit=1
    )[0]
    evaluation = check.event.dagster_event.event_specific_data
    assert not evaluation.passed
    assert evaluation.metadata["failed"].value == ["downloads:lancedb:rust"]
    assert evaluation.metadata["metrics"].value["downloads:lance:rust"].startswith("ok: ")

    # the re-run command, as a user pastes it, fetches only the failed metric and succeeds
    fake.recover(CRATE)
    before = {p: fake.count(p) for p in ("/api/v1/crates/lance/", CRATE, "/api/packages/")}
    rerun = run_cli(alert["rerun"].split()[1:], env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert fake.count(CRATE) == before[CRATE] + 1
    assert fake.count("/api/v1/crates/lance/") == before["/api/v1/crates/lance/"]
    assert fake.count("/api/packages/") == before["/api/packages/"]
    assert store.observations(["downloads:lancedb:rust"])


def test_a_range_run_lists_every_week(alerting, fake, instance, receiver):
    _, defs, _ = alerting
    fake.always(CRATE, ("status", 500))
    keys = last_weeks(3)
    result = execute(defs, REFRESH_JOB, instance, keys)
    assert not result.success
    fail_run(defs, instance, result)
    (alert,) = receiver.alerts("hook")
    assert alert["partitions"] == keys
    assert alert["rerun"].startswith(f"community-metrics backfill --from {keys[0]} ")
    assert "(3 weeks)" in alert["text"]


def test_a_notifier_that_is_down_never_stops_the_others_or_the_tick(
    env, fake, monkeypatch, receiver, instance
):
    _, defs, _ = point_at(fake, env, monkeypatch, **receiver.env("dead", "hook"))
    receiver.down.add("/dead")
    fake.always(CRATE, ("status", 500))
    result = execute(defs, REFRESH_JOB, instance, last_weeks(1))
    started = time.monotonic()
    fail_run(defs, instance, result)  # raises nothing
    assert time.monotonic() - started < 20  # one bounded retry budget
    assert receiver.refused("dead") == 3  # three attempts, then logged and given up
    assert len(receiver.alerts("hook")) == 1 and len(receiver.slack) == 1


def test_runs_of_another_code_location_are_left_alone(alerting, fake, instance, receiver):
    _, defs, _ = alerting
    fake.always(CRATE, ("status", 500))
    result = execute(defs, REFRESH_JOB, instance, last_weeks(1))
    other = result.dagster_run.with_tags(
        {**result.dagster_run.tags, "community_metrics/location": "staging"}
    )
    context = dg.build_run_status_sensor_context(
        sensor_name="failed_run_alert",
        dagster_instance=instance,
        dagster_run=other,
        dagster_event=result.get_run_failure_event(),
    ).for_run_failure()
    defs.get_sensor_def("failed_run_alert")(context)
    assert receiver.alerts("hook") == []


def test_an_asset_backfill_with_two_failed_partitions_alerts_once(
    alerting, fake, instance, receiver
):
    _, defs, _ = alerting
    fake.always(CRATE, ("status", 500))
    keys = last_weeks(4)
    failed = [keys[0], keys[2]]
    backfill_id = "abcdefgh"
    for key in failed:  # the runs the backfill daemon launched, tagged with the backfill
        run = execute(defs, REFRESH_JOB, instance, [key], tags={"dagster/backfill": backfill_id})
        assert not run.success
    graph = defs.resolve_asset_graph()
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=backfill_id,
        asset_graph=graph,
        partition_names=failed,
        asset_selection=list(defs.resolve_job_def(REFRESH_JOB).asset_layer.selected_asset_keys),
        backfill_timestamp=time.time(),
        tags={},
        dynamic_partitions_store=instance,
        all_partitions=False,
        title=None,
        description=None,
        run_config=None,
    )
    instance.add_backfill(backfill.with_status(BulkActionStatus.REQUESTED))
    cursor = tick(defs, "failed_backfill_alert", instance)
    assert receiver.alerts("hook", "backfill_failed_partitions") == []  # still running

    instance.update_backfill(backfill.with_status(BulkActionStatus.COMPLETED_FAILED))
    cursor = tick(defs, "failed_backfill_alert", instance, cursor)
    (alert,) = receiver.alerts("hook", "backfill_failed_partitions")
    assert alert["partitions"] == failed
    assert alert["url"] == f"http://dagster.example:3000/runs/b/{backfill_id}"
    assert alert["rerun"] == rerun_command(failed, ["downloads:lancedb:rust"])
    assert alert["rerun"].count("community-metrics backfill") == 2  # two separate weeks
    assert list(alert["metrics"]) == ["downloads:lancedb:rust"]
    tick(defs, "failed_backfill_alert", instance, cursor)
    assert len(receiver.alerts("hook", "backfill_failed_partitions")) == 1  # never twice


def _star_observations(values: dict[dt.date, int]) -> list[dict]:
    now = dt.datetime.now(dt.UTC)
    return [
        {
            "metric_id": "stars:lance:github",
            "day": day,
            "value": value,
            "provenance": "api",
            "source_ref": "test",
            "fetched_at": now,
            "run_id": "test",
        }
        for day, value in values.items()
    ]


def test_a_failing_check_alerts_once_per_check_and_week(alerting, instance, receiver):
    settings, defs, store = alerting
    keys = last_weeks(3)
    sundays = [weeks.parse_week_key(k) + dt.timedelta(days=6) for k in keys]
    # stars rise, then 30 are removed in the last week
    store.upsert(OBSERVATIONS, _star_observations(dict(zip(sundays, [500, 520, 490], strict=True))))
    cursor = tick(defs, "failed_check_alert", instance)
    assert execute(defs, WEEKLY_JOB, instance, keys).success  # a warning does not fail a run
    evaluation = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("weekly_metrics"), "stars_not_decreasing"), limit=1
    )[0].event.dagster_event.event_specific_data
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN

    cursor = tick(defs, "failed_check_alert", instance, cursor)
    (alert,) = receiver.alerts("hook", "check_failed")
    assert alert["partitions"] == [keys[-1]]
    assert "drop 30" in alert["metrics"]["stars:lance:github"]
    assert "stars_not_decreasing" in alert["text"]

    # the same week fails again on a re-run: no second alert
    assert execute(defs, WEEKLY_JOB, instance, keys).success
    tick(defs, "failed_check_alert", instance, cursor)
    assert len(receiver.alerts("hook", "check_failed")) == 1


def test_stale_and_repeated_partial_alert_once_per_metric(
    env, fake, monkeypatch, receiver, instance
):
    _, defs, store = point_at(
        fake, env, monkeypatch, **receiver.env("hook"), CM_ALERT_REPEATED_FAILURES="2"
    )
    fake.always(CRATE, ("status", 500))
    keys = last_weeks(1)
    for _ in range(2):
        assert not execute(defs, REFRESH_JOB, instance, keys).success
    cursor = tick(defs, "stale_metric_alert", instance)
    (repeated,) = receiver.alerts("hook", "repeated_partial")
    assert list(repeated["metrics"]) == ["downloads:lancedb:rust"]
    assert repeated["partitions"] == keys
    # stars:lance:github has no history from its (fake) API: only today's snapshot, which
    # stands for the week that closed yesterday; every metric with the latest week is fresh
    stale = {next(iter(a["metrics"])) for a in receiver.alerts("hook", "stale")}
    assert "downloads:lancedb:rust" in stale and "downloads:lance:rust" not in stale

    assert not execute(defs, REFRESH_JOB, instance, keys).success  # the streak goes on
    tick(defs, "stale_metric_alert", instance, cursor)
    assert len(receiver.alerts("hook", "repeated_partial")) == 1
    assert {next(iter(a["metrics"])) for a in receiver.alerts("hook", "stale")} == stale


def _metric(catalog, metric_id):
    return next(m for m in catalog.active if m.metric_id == metric_id)


@pytest.fixture(scope="module")
def catalog():
    from community_metrics.config import PROJECT_ROOT

    return load_catalog(PROJECT_ROOT / "seed_data")


def _rows(metric_id: str, values: list[int | None], days: list[int | None] | None = None):
    start = weeks.latest_closed_week() - dt.timedelta(weeks=len(values) - 1)
    return [
        {
            "metric_id": metric_id,
            "period_start": start + dt.timedelta(weeks=i),
            "value": value,
            "days_observed": (days or [7] * len(values))[i],
        }
        for i, value in enumerate(values)
        if value is not None
    ]


def _outcomes(rows, catalog, weeks_checked: int = 1, k: float = 5.0):
    latest = weeks.latest_closed_week()
    window = [latest - dt.timedelta(weeks=i) for i in range(weeks_checked)][::-1]
    return {o.spec.name: o for o in run_checks(rows, catalog.active, window, latest, k)}


def test_each_check_passes_on_good_data_and_fails_on_bad(catalog):
    good = _rows("downloads:lance:python", [100, 110, 95, 105, 100, 98, 102, 104, 101]) + _rows(
        "stars:lance:github", [10, 12, 14, 15, 17, 18, 20, 22, 24]
    )
    outcomes = _outcomes(good, catalog)
    assert {name for name, o in outcomes.items() if not o.passed} == set()
    assert all(o.checked for o in outcomes.values())

    duplicated = good + _rows("downloads:lance:python", [100])
    unique = _outcomes(duplicated, catalog)["unique_metric_weeks"]
    assert not unique.passed and unique.failures[0]["rows"] == 2

    negative = _outcomes(_rows("downloads:lance:python", [5, -3]), catalog)
    assert not negative["values_non_negative"].passed

    dropped = _outcomes(_rows("stars:lance:github", [10, 12, 9]), catalog)["stars_not_decreasing"]
    assert [(f["metric_id"], f["drop"]) for f in dropped.failures] == [("stars:lance:github", 3)]

    partial = _outcomes(_rows("downloads:lance:python", [70, 50], days=[7, 5]), catalog)
    (failure,) = partial["downloads_complete"].failures
    assert failure["days_observed"] == 5

    spike = _outcomes(
        _rows("downloads:lance:python", [100, 110, 95, 105, 100, 98, 102, 104, 900]), catalog
    )["weekly_value_in_band"]
    (failure,) = spike.failures
    assert failure["value"] == 900 and failure["low"] < 102 < failure["high"] < 900
    # a missing week in the trailing window stays missing (not zero) and does not flag
    gap = _rows("downloads:lance:python", [100, None, 95, None, 100, 98, 102, 104, 101])
    assert _outcomes(gap, catalog)["weekly_value_in_band"].passed


def test_the_checks_are_in_the_definitions(defs):
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().asset_check_keys}
    assert {f"weekly_metrics:{c.name}" for c in CHECKS} <= keys
    assert {f"{a}:metrics_fetched" for a in ("pypi_downloads", "github_stars")} <= keys
    weekly = defs.resolve_assets_def("weekly_metrics")
    blocking = {s.name for s in weekly.check_specs if s.blocking}
    assert blocking == {"unique_metric_weeks"}
    assert weekly.specs_by_key[dg.AssetKey("weekly_metrics")].freshness_policy is not None


def test_alerts_test_command_reports_each_notifier(env, receiver):
    ok = run_cli(["alerts", "test"], {**env, **receiver.env("hook")})
    assert ok.returncode == 0, ok.stderr
    assert "webhook 1 (127.0.0.1" in ok.stdout and "delivered" in ok.stdout
    (alert,) = receiver.alerts("hook", "test")
    assert alert["run_id"] is None and alert["partitions"] == []
    assert len(receiver.slack) == 1
    assert "xoxb-test-token-not-real" not in ok.stdout + ok.stderr

    receiver.down.add("/hook")
    down = run_cli(["alerts", "test"], {**env, **receiver.env("hook")})
    assert down.returncode == 1
    assert "FAILED: 127.0.0.1" in down.stdout and "HTTP 503" in down.stdout
    assert "/hook" not in down.stdout  # a webhook's path is its secret
    assert "slack (#metrics): delivered" in down.stdout
