import datetime as dt
import multiprocessing as mp

import pyarrow as pa
import pytest

from community_metrics.config import load_settings
from community_metrics.store import METRICS, OBSERVATIONS, StoreError, StoreWriter

NOW = dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC)


def observation(day: int, value: int, run: str = "r1") -> dict:
    return {
        "metric_id": "downloads:lance:python",
        "day": dt.date(2026, 1, day),
        "value": value,
        "provenance": "api",
        "source_ref": "https://example.invalid/x",
        "fetched_at": NOW,
        "run_id": run,
    }


def test_upsert_is_idempotent_and_updates_only_changed_rows(store):
    first = store.upsert(OBSERVATIONS, [observation(d, d) for d in range(1, 11)])
    assert (first.inserted, first.updated) == (10, 0)
    before = store.read_all(OBSERVATIONS)
    again = store.upsert(OBSERVATIONS, [observation(d, d, run="r2") for d in range(1, 11)])
    assert (again.inserted, again.updated) == (0, 0)
    assert sorted(store.read_all(OBSERVATIONS), key=lambda r: r["key"]) == sorted(
        before, key=lambda r: r["key"]
    )
    changed = store.upsert(OBSERVATIONS, [observation(3, 300, run="r3"), observation(11, 11)])
    assert (changed.inserted, changed.updated) == (1, 1)
    rows = {r["day"].day: r for r in store.read_all(OBSERVATIONS)}
    assert len(rows) == 11
    assert (rows[3]["value"], rows[3]["run_id"]) == (300, "r3")
    assert rows[4]["run_id"] == "r1"


def test_duplicates_in_a_batch_collapse_or_are_refused(store):
    result = store.upsert(OBSERVATIONS, [observation(1, 5), observation(1, 5, run="other")])
    assert (result.rows, result.inserted) == (1, 1)
    with pytest.raises(StoreError, match="two different rows for key"):
        store.upsert(OBSERVATIONS, [observation(2, 5), observation(2, 6)])
    assert store.count_rows(OBSERVATIONS) == 1


def test_batches_are_checked_against_the_schema(store):
    with pytest.raises(StoreError, match="unknown column"):
        store.upsert(OBSERVATIONS, [{**observation(1, 1), "colour": "red"}])
    with pytest.raises(StoreError, match="'source_ref' must not be empty"):
        store.upsert(OBSERVATIONS, [{**observation(1, 1), "source_ref": None}])
    with pytest.raises(StoreError, match="rows do not match the schema"):
        store.upsert(OBSERVATIONS, [{**observation(1, 1), "value": "many"}])
    assert store.count_rows(OBSERVATIONS) == 0


def test_filters_refuse_unsafe_literals(store):
    store.upsert(OBSERVATIONS, [observation(1, 1)])
    with pytest.raises(StoreError, match="not a valid identifier"):
        store.observations(["x' OR '1'='1"])
    with pytest.raises(StoreError, match="expected a date"):
        store.observations(["downloads:lance:python"], start="2026-01-01")
    got = store.observations(["downloads:lance:python"], dt.date(2026, 1, 1), dt.date(2026, 1, 1))
    assert [r["value"] for r in got] == [1]


def test_mirror_deletes_rows_missing_from_the_batch(store):
    def metric(mid):
        return {
            "metric_id": mid,
            "family": "downloads",
            "product": "p",
            "subject": "s",
            "sdk": "python",
            "source": "pypistats",
            "unit": "downloads",
            "display_name": mid,
            "active": True,
            "seed_column": None,
            "mirrors": False,
            "updated_at": NOW,
        }

    store.upsert(METRICS, [metric("downloads:a:python"), metric("downloads:b:python")], mirror=True)
    result = store.upsert(METRICS, [metric("downloads:a:python")], mirror=True)
    assert (result.inserted, result.updated, result.deleted) == (0, 0, 1)
    assert [r["metric_id"] for r in store.read_all(METRICS)] == ["downloads:a:python"]


def test_a_table_from_another_schema_is_refused_with_a_fix(store, settings):
    import lancedb

    lancedb.connect(settings.db_uri).create_table("stats", schema=pa.schema([("x", pa.int64())]))
    with pytest.raises(StoreError, match="table 'stats' .* migrate it or point CM_DB_PATH"):
        store.ensure_tables()


def _write_same_new_keys(db_path: str, seed_dir: str, run: str, barrier) -> None:
    store = StoreWriter.connect(load_settings({"CM_DB_PATH": db_path, "CM_SEED_DIR": seed_dir}))
    barrier.wait()
    store.upsert(OBSERVATIONS, [observation(d, d, run=run) for d in range(1, 29)])


def test_concurrent_writers_of_the_same_new_keys_do_not_duplicate(store, env):
    store.ensure_tables()
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [
        ctx.Process(
            target=_write_same_new_keys, args=(env["CM_DB_PATH"], env["CM_SEED_DIR"], r, barrier)
        )
        for r in ("a", "b")
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    keys = [r["key"] for r in store.read_all(OBSERVATIONS)]
    assert len(keys) == 28
    assert len(set(keys)) == 28
