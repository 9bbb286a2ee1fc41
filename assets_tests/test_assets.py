"""Seed and weekly metrics through real Dagster runs on a real instance and real LanceDB."""

import csv
import datetime as dt
import json
from collections import defaultdict

import dagster as dg

from community_metrics.jobs import SEED_JOB, WEEKLY_JOB
from community_metrics.partitions import WEEKLY
from community_metrics.runner import execute
from community_metrics.store import HISTORY, METRICS, OBSERVATIONS, STATS
from community_metrics.weeks import week_keys

YEAR_START, YEAR_END = dt.date(2025, 11, 17), dt.date(2026, 11, 16)  # Mondays of the seed year


def meta(result, asset):
    events = [
        e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key == dg.AssetKey(asset)
    ]
    return events, {k: v.value for k, v in events[-1].metadata.items()}


def expected_weekly_downloads(seed_dir):
    """Weekly sums and observed-day counts straight from the CSV, independent of the code."""
    sums, days = defaultdict(int), defaultdict(int)
    with (seed_dir / "daily_downloads.csv").open() as f:
        for row in csv.DictReader(f):
            day = dt.date.fromisoformat(row["date"])
            monday = day - dt.timedelta(days=day.weekday())
            sums[(row["metric_id"], monday)] += int(row["downloads"])
            days[(row["metric_id"], monday)] += 1
    return sums, days


def table_state(store):
    return {
        spec.name: sorted(store.read_all(spec), key=lambda r: r["key"])
        for spec in (METRICS, OBSERVATIONS, STATS)
    }


def test_seed_then_weekly_backfill_matches_independent_sums(defs, instance, store, seed_dir):
    seed = execute(defs, SEED_JOB, instance)
    assert seed.success
    _, catalog_meta = meta(seed, "metric_catalog")
    assert catalog_meta["rows_inserted"] == 7
    assert store.count_rows(METRICS) == 7

    keys = week_keys(YEAR_START, YEAR_END + dt.timedelta(days=6))
    assert len(keys) == 53
    runs_before = len(instance.get_run_records())
    weekly = execute(defs, WEEKLY_JOB, instance, keys)
    assert weekly.success
    # the whole range is ONE run, and every week in it is materialized
    assert len(instance.get_run_records()) == runs_before + 1
    assert instance.get_materialized_partitions(dg.AssetKey("weekly_metrics")) == set(keys)

    sums, days = expected_weekly_downloads(seed_dir)
    rows = store.stats(source_window="week")
    downloads = {(r["metric_id"], r["period_start"]): r for r in rows if r["unit"] == "downloads"}
    assert {k: r["value"] for k, r in downloads.items()} == dict(sums)
    assert {k: r["days_observed"] for k, r in downloads.items()} == dict(days)
    # the example data leaves two NodeJS days out (2026-03-10, 2026-03-11): counted as missing
    nodejs_week = downloads[("downloads:lancedb:nodejs", dt.date(2026, 3, 9))]
    assert nodejs_week["days_observed"] == 5
    for r in downloads.values():
        assert r["period_end"] - r["period_start"] == dt.timedelta(days=6)
        assert r["period_start"].weekday() == 0

    events, weekly_meta = meta(weekly, "weekly_metrics")
    assert len(events) == 53
    assert weekly_meta["dagster/row_count"] == len(rows)
    assert weekly_meta["rows_inserted"] == len(rows)
    assert weekly_meta["rows_updated"] == 0
    assert weekly_meta["first_week"] == keys[0] and weekly_meta["last_week"] == keys[-1]
    assert weekly_meta["table_version"] >= 1
    assert 0.99 < weekly_meta["download_completeness"] < 1.0


def test_rerunning_seed_and_weeks_changes_nothing(defs, instance, store):
    keys = week_keys(dt.date(2026, 9, 7), dt.date(2026, 11, 22))
    assert execute(defs, SEED_JOB, instance).success
    assert execute(defs, WEEKLY_JOB, instance, keys).success
    before = table_state(store)

    seed = execute(defs, SEED_JOB, instance)
    weekly = execute(defs, WEEKLY_JOB, instance, keys)
    assert seed.success and weekly.success
    for asset in ("metric_catalog", "download_snapshots", "star_history", "daily_downloads"):
        _, m = meta(seed, asset)
        assert (m["rows_inserted"], m["rows_updated"]) == (0, 0), asset
    _, m = meta(weekly, "weekly_metrics")
    assert (m["rows_inserted"], m["rows_updated"]) == (0, 0)
    assert table_state(store) == before
    history = store.read_all(HISTORY)
    assert len(history) == 4
    assert {h["status"] for h in history} == {"success"}
    latest = max(history, key=lambda h: h["started_at"])
    assert (latest["partition_start"], latest["partition_end"]) == (keys[0], keys[-1])
    assert (latest["rows_inserted"], latest["rows_updated"]) == (0, 0)


def test_a_changed_value_is_marked_recomputed(defs, instance, store):
    week = dt.date(2026, 11, 9)
    assert execute(defs, SEED_JOB, instance).success
    assert execute(defs, WEEKLY_JOB, instance, [week.isoformat()]).success
    sunday = week + dt.timedelta(days=6)
    old = {r["metric_id"]: r for r in store.stats(source_window="week", start=sunday, end=sunday)}
    # a source later reports a revised figure for one day of that week
    seeded = store.observations(["downloads:lancedb:python"], week, week)[0]
    store.upsert(
        OBSERVATIONS,
        [{**seeded, "value": seeded["value"] + 1000, "provenance": "api", "source_ref": "test"}],
    )
    rerun = execute(defs, WEEKLY_JOB, instance, [week.isoformat()])
    assert rerun.success
    _, m = meta(rerun, "weekly_metrics")
    assert (m["rows_updated"], m["revised_rows"]) == (1, 1)
    (row,) = store.stats(["downloads:lancedb:python"], "week", sunday, sunday)
    old_value = old["downloads:lancedb:python"]["value"]
    assert (row["value"], row["previous_value"], row["recomputed"]) == (
        old_value + 1000,
        old_value,
        True,
    )
    assert row["provenance"] == "api+csv_seed"


def test_a_week_without_observations_writes_no_row_and_says_so(defs, instance, store):
    assert execute(defs, SEED_JOB, instance).success
    week = "2022-01-03"  # before any seed observation
    result = execute(defs, WEEKLY_JOB, instance, [week])
    assert result.success
    _, m = meta(result, "weekly_metrics")
    assert m["dagster/row_count"] == 0
    assert set(m["weeks_without_data"]) == {m_.metric_id for m_ in defs_catalog(defs)}
    assert store.stats(source_window="week") == []


def defs_catalog(defs):
    return defs.resources["cm"].catalog


def test_a_failed_asset_is_recorded_in_history(defs, instance, store, seed_dir):
    (seed_dir / "extra.csv").write_text("date,metric_id,downloads\n2026-01-05,downloads:nope:x,1\n")
    result = execute(defs, SEED_JOB, instance)
    assert not result.success
    (row,) = store.history(run_id=result.run_id)
    assert row["status"] == "failed"
    errors = json.loads(row["error_summary"])
    assert "extra.csv:2:2" in errors["daily_downloads"]


def test_one_partitions_definition_monday_based_utc_completed_weeks(defs):
    weekly_assets = [
        a for a in defs.resolve_asset_graph().assets_defs if a.partitions_def is not None
    ]
    assert weekly_assets
    assert all(a.partitions_def is WEEKLY for a in weekly_assets)
    assert all(a.backfill_policy == dg.BackfillPolicy.single_run() for a in weekly_assets)
    assert WEEKLY.day_offset == 1 and WEEKLY.timezone == "UTC" and WEEKLY.end_offset == 0
    last = dt.date.fromisoformat(WEEKLY.get_last_partition_key())
    assert last.weekday() == 0
    assert last + dt.timedelta(days=7) <= dt.datetime.now(dt.UTC).date()


def test_asset_graph_snapshot(defs):
    """A rename or a dropped asset shows up here in review."""
    graph = defs.resolve_asset_graph()
    assert {
        k.to_user_string(): sorted(d.to_user_string() for d in graph.get(k).parent_keys)
        for k in graph.get_all_asset_keys()
    } == {
        "metric_catalog": [],
        "download_snapshots": ["metric_catalog"],
        "star_history": ["metric_catalog"],
        "daily_downloads": ["metric_catalog"],
        "pypi_downloads": ["metric_catalog"],
        "npm_downloads": ["metric_catalog"],
        "crates_downloads": ["metric_catalog"],
        "github_stars": ["metric_catalog"],
        "weekly_metrics": [
            "crates_downloads",
            "daily_downloads",
            "github_stars",
            "metric_catalog",
            "npm_downloads",
            "pypi_downloads",
            "star_history",
        ],
        "example_mentions": ["metric_catalog"],
        "mentions": ["metric_catalog"],
        "mention_embeddings": ["example_mentions", "mentions"],
    }
    assert sorted(j.name for j in defs.jobs) == [SEED_JOB, WEEKLY_JOB, "weekly_refresh_job"]
    assert [s.name for s in defs.schedules] == ["weekly_refresh"]
    assert [s.name for s in defs.sensors] == [
        "failed_run_alert",
        "failed_backfill_alert",
        "failed_check_alert",
        "stale_metric_alert",
    ]
