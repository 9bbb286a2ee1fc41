"""The batched event log storages (community_metrics/event_log.py) record what Dagster's own
storages record: the same events, the same materialized and failed partitions, in fewer
transactions. Each case runs the same backfill on both and compares."""

from __future__ import annotations

import collections

import dagster as dg
import pytest

from community_metrics.event_log import BatchedSqliteEventLogStorage
from community_metrics.jobs import REFRESH_JOB
from community_metrics.runner import EVENT_BATCH_ENV, EVENT_BATCH_SIZE, execute

from .conftest import BATCHED_EVENT_LOG, PG
from .test_refresh import last_weeks

KEYS = last_weeks(6)


def _postgres(database: str, batched: bool) -> dict:
    db = {**PG, "password": "unused", "db_name": database, "scheme": "postgresql+psycopg2"}
    db = {"hostname": db.pop("host"), "username": db.pop("user"), **db}
    if batched:
        return {
            "event_log_storage": {
                "module": "community_metrics.event_log",
                "class": "BatchedPostgresEventLogStorage",
                "config": {"postgres_db": db},
            },
            "run_storage": {
                "module": "dagster_postgres.run_storage",
                "class": "PostgresRunStorage",
                "config": {"postgres_db": db},
            },
        }
    return {"storage": {"postgres": {"postgres_db": db}}}


def _record(defs, fake, overrides: dict) -> dict:
    """Run a backfill that fails (crates.io down) and one that succeeds; what Dagster shows."""
    with dg.instance_for_test(overrides=overrides) as instance:
        storage = instance.event_log_storage
        batches = collections.Counter()
        store_batch = storage.store_event_batch

        def counted(events):
            batches[len(events) > 1] += 1
            return store_batch(events)

        storage.store_event_batch = counted
        fake.always("/api/v1/crates/", ("status", 502))
        runs = [execute(defs, REFRESH_JOB, instance, KEYS)]
        fake.recover("/api/v1/crates/")
        runs.append(execute(defs, REFRESH_JOB, instance, KEYS))
        assert [r.success for r in runs] == [False, True]
        events = collections.Counter(
            (e.dagster_event_type.value, e.dagster_event.asset_key, e.dagster_event.partition)
            for run in runs
            for e in instance.all_logs(run.run_id)
            if e.is_dagster_event and e.dagster_event.asset_key
        )
        keys = [dg.AssetKey(n) for n in ("pypi_downloads", "mentions", "weekly_metrics")]
        return {
            "type": type(storage).__name__,
            "events": events,
            "materialized": {k: instance.get_materialized_partitions(k) for k in keys},
            "attempts": {
                k: sorted(
                    storage.get_latest_asset_partition_materialization_attempts_without_materializations(
                        k
                    )
                )
                for k in keys
            },
            "latest": {
                k: instance.get_latest_materialization_event(k).dagster_event.partition
                for k in keys
            },
            "batches": batches,
        }


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_batched_storage_records_what_dagsters_own_records(
    backend, live, fake, monkeypatch, request
):
    _, defs, _ = live
    monkeypatch.setenv(EVENT_BATCH_ENV, EVENT_BATCH_SIZE)
    if backend == "sqlite":
        ours, theirs = BATCHED_EVENT_LOG, {}
    else:
        database = request.getfixturevalue("postgres_db")
        ours, theirs = _postgres(database, True), _postgres(database + "_theirs", False)
        _create(database + "_theirs", request)
    got, want = _record(defs, fake, ours), _record(defs, fake, theirs)
    assert got["type"].startswith("Batched") and not want["type"].startswith("Batched")
    for field in ("events", "materialized", "attempts", "latest"):
        assert got[field] == want[field], field
    # every week of every weekly asset planned and materialized, in both runs
    assert got["materialized"][dg.AssetKey("weekly_metrics")] == set(KEYS)
    assert got["events"][("ASSET_MATERIALIZATION_PLANNED", dg.AssetKey("mentions"), KEYS[0])] == 2
    # ... and written in batches: a run's planned events, each step's materializations
    assert got["batches"][True] >= 2


def _create(name: str, request) -> None:
    import psycopg2

    admin = psycopg2.connect(dbname="postgres", **PG)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')

    def drop():
        admin.cursor().execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()

    request.addfinalizer(drop)


def test_the_sqlite_storage_keeps_dagsters_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    assert BatchedSqliteEventLogStorage()._base_dir == str(tmp_path / "storage")
