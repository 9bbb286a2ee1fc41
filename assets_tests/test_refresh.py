"""Live-source refreshes and backfills through real Dagster runs, against the fake APIs."""

import datetime as dt
import json
import re

import dagster as dg
import pytest

from community_metrics.config import load_settings
from community_metrics.definitions import build_definitions
from community_metrics.jobs import REFRESH_JOB
from community_metrics.partitions import WEEKLY
from community_metrics.runner import execute
from community_metrics.sources.assets import source_observations
from community_metrics.store import HISTORY, OBSERVATIONS, StoreWriter

from .conftest import run_cli
from .fake_sources import FakeSources, value

DOWNLOADS = {  # metric -> (fake source, package), as in the default catalog
    "downloads:lance:python": ("pypistats", "pylance"),
    "downloads:lancedb:python": ("pypistats", "lancedb"),
    "downloads:lancedb:nodejs": ("npm", "@lancedb/lancedb"),
    "downloads:lance:rust": ("cratesio", "lance"),
    "downloads:lancedb:rust": ("cratesio", "lancedb"),
}


def last_weeks(n: int) -> list[str]:
    return WEEKLY.get_partition_keys()[-n:]


def expected_downloads(fake: FakeSources, keys: list[str]) -> dict:
    """Weekly sums from the fake's own model: the days each source still serves."""
    served = {
        "pypistats": set(fake.served_days("pypistats")),
        "cratesio": set(fake.served_days("cratesio")),
    }
    out = {}
    for key in keys:
        monday = dt.date.fromisoformat(key)
        for metric, (source, package) in DOWNLOADS.items():
            days = [monday + dt.timedelta(days=i) for i in range(7)]
            if source in served:
                days = [d for d in days if d in served[source]]
            if days:
                out[(metric, monday)] = sum(value(source, package, d) for d in days)
    return out


def expected_stars(fake: FakeSources, keys: list[str]) -> dict:
    out = {}
    for key in keys:
        monday = dt.date.fromisoformat(key)
        sunday = monday + dt.timedelta(days=6)
        # lancedb/lancedb serves its star history: every week from it
        out[("stars:lancedb:github", monday)] = fake.stars_at_end_of("lancedb/lancedb", sunday)
        # lance-format/lance answers 403: only today's snapshot, which stands for the week
        # that closed yesterday and never for older weeks
        if sunday + dt.timedelta(days=1) == fake.today:
            out[("stars:lance:github", monday)] = fake.stars_at_end_of(
                "lance-format/lance", fake.today
            )
    return out


def meta(result, asset):
    events = [
        e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key == dg.AssetKey(asset)
    ]
    return {k: v.value for k, v in events[-1].metadata.items()}


def weekly_values(store):
    return {
        (r["metric_id"], r["period_start"]): r["value"] for r in store.stats(source_window="week")
    }


def test_26_week_backfill_is_one_run_with_expected_sums_and_requests(live, fake, instance):
    _, defs, store = live
    keys = last_weeks(26)
    result = execute(defs, REFRESH_JOB, instance, keys)
    assert result.success
    assert len(instance.get_run_records()) == 1

    got = weekly_values(store)
    want = {**expected_downloads(fake, keys), **expected_stars(fake, keys)}
    assert got == want
    # crates.io keeps 90 days: its older weeks were skipped, never written as zero
    assert not any(v == 0 for v in got.values())
    assert meta(result, "crates_downloads")["notes"]["downloads:lance:rust"][0].startswith(
        "crates.io keeps days from"
    )
    # one request per package for the whole range: O(metrics), not O(metrics x weeks), and
    # one for each source's coverage canary (pip, react, serde)
    assert fake.count("/api/packages/") == 2 + 1
    assert fake.count("/downloads/range/") == 1 + 1
    assert fake.count("/api/v1/crates/") == 2 + 1
    assert fake.count("/repos/") == 2 + 1 + 1  # two snapshots, two history first pages
    # mentions: one search per catalog term (4) on Hacker News and on GitHub issues;
    # discussions need a token and are skipped without one
    assert fake.count("/api/v1/search_by_date") == 4
    assert fake.count("/search/issues") == 4 and fake.count("/graphql") == 0
    assert sum(fake.requests.values()) == 12 + 8

    again = execute(defs, REFRESH_JOB, instance, keys)
    assert again.success
    for asset in (
        "pypi_downloads",
        "npm_downloads",
        "crates_downloads",
        "github_stars",
        "mentions",
        "weekly_metrics",
    ):
        m = meta(again, asset)
        assert (m["rows_inserted"], m["rows_updated"]) == (0, 0), asset
    assert weekly_values(store) == got


def test_transient_failures_are_survived(live, fake, instance):
    _, defs, store = live
    fake.script("/api/packages/lancedb/", ("status", 429, {"Retry-After": "1"}))
    fake.script("/downloads/range/", ("status", 500), ("sleep", 1.5))
    fake.script("/repos/lancedb/lancedb/stargazers/history", ("status", 503))
    keys = last_weeks(2)
    result = execute(defs, REFRESH_JOB, instance, keys)
    assert result.success
    assert weekly_values(store) == {**expected_downloads(fake, keys), **expected_stars(fake, keys)}
    assert {h["status"] for h in store.read_all(HISTORY)} == {"success"}


def test_a_failing_source_gives_partial_writes_and_the_rest_fails(live, fake, instance):
    settings, defs, store = live
    fake.always("/api/v1/crates/", ("status", 502))
    keys = last_weeks(2)
    result = execute(defs, REFRESH_JOB, instance, keys)
    assert not result.success

    (row,) = store.read_all(HISTORY)
    assert row["status"] == "partial"
    errors = json.loads(row["error_summary"])
    assert set(errors) == {"downloads:lance:rust", "downloads:lancedb:rust"}
    assert "HTTP 502" in errors["downloads:lance:rust"]
    got = weekly_values(store)
    want = {
        k: v
        for k, v in {**expected_downloads(fake, keys), **expected_stars(fake, keys)}.items()
        if not k[0].endswith(":rust")
    }
    assert got == want
    assert not [r for r in store.read_all(OBSERVATIONS) if r["metric_id"].endswith(":rust")]
    # the alert it sends: test_alerts.py


def test_a_hanging_source_costs_one_retry_budget_per_run(live, fake, instance):
    _, defs, store = live  # CM_HTTP_TIMEOUT=1, CM_RETRY_BUDGET_SECONDS=3
    fake.always("/api/packages/", ("sleep", 2.5))
    result = execute(defs, REFRESH_JOB, instance, last_weeks(1))
    assert not result.success
    (row,) = store.read_all(HISTORY)
    errors = json.loads(row["error_summary"])
    # both PyPI metrics failed with the one error; every other source carried on
    assert set(errors) == {"downloads:lance:python", "downloads:lancedb:python"}
    assert len({e.split(" (the source")[0] for e in errors.values()}) == 1
    # one budget, spent on the first call (the coverage canary's): no package was requested
    assert fake.count("/api/packages/") == fake.count("/api/packages/pip/") > 0
    assert {r["metric_id"] for r in store.read_all(OBSERVATIONS)} >= {
        "downloads:lancedb:nodejs",
        "downloads:lance:rust",
    }


def test_a_source_asset_run_alone_fails_on_its_own_errors(live, fake, instance):
    _, defs, store = live
    fake.always("/api/v1/crates/lancedb/", ("status", 502))
    result = dg.materialize(
        [source_observations],
        selection=["crates_downloads"],
        instance=instance,
        resources=defs.resources,
        partition_key=last_weeks(1)[0],
        raise_on_error=False,
    )
    assert not result.success
    (row,) = store.read_all(HISTORY)
    assert row["status"] == "partial"
    assert set(json.loads(row["error_summary"])) == {"downloads:lancedb:rust"}
    assert {r["metric_id"] for r in store.read_all(OBSERVATIONS)} == {"downloads:lance:rust"}


@pytest.mark.parametrize(
    ("tick", "first", "last"),
    [
        (dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC), "2026-11-02", "2026-11-16"),
        (dt.datetime(2026, 1, 5, 6, 0, tzinfo=dt.UTC), "2025-12-15", "2025-12-29"),
    ],
)
def test_the_monday_tick_requests_the_closed_week_and_the_lookback(defs, tick, first, last):
    schedule = defs.get_schedule_def("weekly_refresh")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 6 * * 1", "UTC")
    assert schedule.job_name == REFRESH_JOB
    # No instance: the schedule needs none, and one bound here leaks into Dagster's global
    # definitions-load state, breaking Definitions resolved later in the same process.
    context = dg.build_schedule_context(scheduled_execution_time=tick)
    (request,) = schedule.evaluate_tick(context).run_requests
    assert request.tags["dagster/asset_partition_range_start"] == first
    assert request.tags["dagster/asset_partition_range_end"] == last
    assert request.partition_key_range.start == first


def test_the_github_token_is_sent_but_never_logged_or_stored(
    live, fake, instance, monkeypatch, env
):
    secret = "ghp_thisIsNotARealTokenButTreatItAsOne123"
    monkeypatch.setenv("GITHUB_TOKEN", secret)
    settings = load_settings({**env, "GITHUB_TOKEN": secret})
    defs = build_definitions(settings)
    fake.always("/repos/lance-format/lance", ("status", 500))
    result = execute(defs, REFRESH_JOB, instance, last_weeks(1))
    assert not result.success
    assert fake.authorizations == {f"Bearer {secret}"}
    store = StoreWriter.connect(settings)
    (row,) = store.read_all(HISTORY)
    assert "stars:lance:github" in row["error_summary"]
    assert secret not in row["error_summary"]
    events = instance.all_logs(result.run_id)
    assert events and not any(secret in (e.message or "") for e in events)
    assert not any(secret in str(e.dagster_event) for e in events if e.dagster_event)
    assert secret not in repr(settings)


def test_a_pypistats_outage_day_is_missing_not_zero(live, fake, instance):
    _, defs, store = live
    keys = last_weeks(1)
    monday = dt.date.fromisoformat(keys[0])
    outage = monday + dt.timedelta(days=2)
    fake.pypistats_outages.add(outage)
    assert execute(defs, REFRESH_JOB, instance, keys).success
    rows = {r["metric_id"]: r for r in store.stats(source_window="week")}
    for metric in ("downloads:lance:python", "downloads:lancedb:python"):
        assert rows[metric]["days_observed"] == 6
        package = DOWNLOADS[metric][1]
        days = [monday + dt.timedelta(days=i) for i in range(7) if i != 2]
        assert rows[metric]["value"] == sum(value("pypistats", package, d) for d in days)
    stored = [r for r in store.read_all(OBSERVATIONS) if r["day"] == outage]
    assert stored and not [r for r in stored if r["metric_id"].endswith(":python")]


def test_a_failed_refresh_prints_one_line_per_failing_metric(live, fake, env):
    fake.always("/api/v1/crates/", ("status", 502))
    done = run_cli(["refresh", "--lookback-weeks", "0"], env)
    assert done.returncode == 1
    errors = done.stderr.splitlines()
    assert [re.match(r"error: (\S+): ", line).group(1) for line in errors[:-1]] == [
        "downloads:lance:rust",
        "downloads:lancedb:rust",
    ]
    assert all("HTTP 502" in line for line in errors[:-1])
    assert re.fullmatch(r"run \S+ failed \(details in the run's log in the UI\)", errors[-1])
    # our lines only: no Dagster event lines, tracebacks or banners
    ours = re.compile(r"(running |  \w+: \d+ rows|run \S+ )")
    assert all(ours.match(line) for line in done.stdout.splitlines())
    assert "Traceback" not in done.stderr + done.stdout
