"""Benchmark: what un-compacted fragments cost a read, and what `optimize()` costs a write.

Every merge adds a fragment; reads scan each one and rows written since the last index build
are scanned unindexed until `optimize()` folds them in. This measures a dashboard-shaped read
(10 metrics x 52 weeks out of a 1,000 x 52 stats-like table) after F small merges without
compaction, and the time of one `optimize()`: the figures behind the store's compaction
policy (compact when a table has COMPACT_SMALL_FRAGMENTS small fragments).

    uv run python bench/compaction.py
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time

import lancedb
import pyarrow as pa
from lancedb.index import Bitmap, BTree

METRICS, WEEKS, READS = 1000, 52, 50
SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("metric_id", pa.string(), nullable=False),
        pa.field("period_end", pa.date32(), nullable=False),
        pa.field("value", pa.int64(), nullable=False),
    ]
)
FIRST = dt.date(2025, 1, 5)


def rows(metrics: range, weeks: range) -> pa.Table:
    out = []
    for m in metrics:
        for w in weeks:
            day = FIRST + dt.timedelta(weeks=w)
            out.append(
                {"key": f"m{m}|{day}", "metric_id": f"m{m}", "period_end": day, "value": m * w}
            )
    return pa.Table.from_pylist(out, schema=SCHEMA)


def merge(table, batch) -> None:
    (
        table.merge_insert("key")
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute(batch)
    )


def read_ms(table) -> float:
    where = "metric_id IN (" + ", ".join(f"'m{i}'" for i in range(0, 1000, 100)) + ")"
    times = []
    for _ in range(READS):
        started = time.perf_counter()
        table.search().where(where).select(["metric_id", "period_end", "value"]).limit(
            None
        ).to_arrow()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    print(f"{METRICS} metrics x {WEEKS} weeks, then F weekly merges of {METRICS} rows each")
    print(
        f"{'F small fragments':>18} {'read p50 ms':>12} {'after optimize':>15} {'optimize s':>11}"
    )
    for fragments in (1, 2, 4, 8, 16, 32, 64):
        with tempfile.TemporaryDirectory() as tmp:
            db = lancedb.connect(tmp, read_consistency_interval=dt.timedelta(0))
            table = db.create_table("stats", data=rows(range(METRICS), range(WEEKS)), schema=SCHEMA)
            table.set_unenforced_primary_key("key")
            table.create_index("metric_id", config=Bitmap())
            table.create_index("period_end", config=BTree())
            table.optimize()
            for f in range(fragments - 1):
                merge(table, rows(range(METRICS), range(WEEKS + f, WEEKS + f + 1)))
            before = read_ms(table)
            started = time.perf_counter()
            table.optimize()
            cost = time.perf_counter() - started
            after = read_ms(table)
        print(f"{fragments:>18} {before:>12.2f} {after:>15.2f} {cost:>11.3f}")


if __name__ == "__main__":
    main()
