"""Benchmark: a 3-year backfill of the default catalog against the local fake source APIs.

Prints requests made, wall time and rows written by the real pipeline (one Dagster run over
156 weeks: raw source assets + weekly metrics), beside the floor: the same requests made with
the bare clients, and one bare LanceDB merge_insert of the same rows into fresh tables.

    uv run python bench/backfill_3y.py [--weeks 156]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402
import lancedb  # noqa: E402

from assets_tests.fake_sources import FakeSources  # noqa: E402
from community_metrics import weeks  # noqa: E402
from community_metrics.catalog import load_catalog  # noqa: E402
from community_metrics.config import load_settings  # noqa: E402
from community_metrics.definitions import build_definitions  # noqa: E402
from community_metrics.jobs import REFRESH_JOB  # noqa: E402
from community_metrics.runner import QUIET_CONSOLE, execute  # noqa: E402
from community_metrics.sources.clients import build_clients  # noqa: E402
from community_metrics.sources.fetch import FETCHERS  # noqa: E402
from community_metrics.store import OBSERVATIONS, STATS, StoreWriter  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=156)
    args = parser.parse_args()
    keys = weeks.closed_weeks(args.weeks)
    first, last = weeks.keys_range(keys)

    with tempfile.TemporaryDirectory() as tmp, FakeSources() as fake:
        env = {
            **os.environ,
            **fake.env(),
            "CM_DB_PATH": f"{tmp}/db",
            "CM_SEED_DIR": str(ROOT / "seed_data"),
            "CM_STORAGE_MODE": "local",
        }
        settings = load_settings(env)
        defs = build_definitions(settings)

        # -- the pipeline: one run over the whole range --------------------------------------
        with dg.instance_for_test() as instance:
            storage = instance.event_log_storage
            event_log = _Timed(storage.store_event)
            storage.store_event = event_log
            started = time.perf_counter()
            result = execute(defs, REFRESH_JOB, instance, keys, run_config=QUIET_CONSOLE)
            pipeline_s = time.perf_counter() - started
        if not result.success:
            raise SystemExit("the backfill run failed")
        pipeline_requests = sum(fake.requests.values())
        store = StoreWriter.connect(settings)
        observations, stats = store.read_all(OBSERVATIONS), store.read_all(STATS)

        # -- floor 1: the same requests with the bare clients -------------------------------
        fake.requests.clear()
        clients = build_clients(settings.sources)
        today = weeks.today()
        started = time.perf_counter()
        for metric in load_catalog(settings.seed_dir).active:
            FETCHERS[metric.source](clients, metric, first, last, today)
        requests_s = time.perf_counter() - started
        clients.close()
        floor_requests = sum(fake.requests.values())

        # -- floor 2: one bare merge_insert per table of the same rows ----------------------
        db = lancedb.connect(f"{tmp}/floor")
        started = time.perf_counter()
        for spec, rows in ((OBSERVATIONS, observations), (STATS, stats)):
            table = db.create_table(spec.name, schema=spec.schema)
            batch = store.prepare(spec, rows)
            (
                table.merge_insert("key")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute(batch)
            )
        merge_s = time.perf_counter() - started

    rows = len(observations) + len(stats)
    print(f"3-year backfill: {len(keys)} weeks ({keys[0]} .. {keys[-1]}), default catalog")
    print(f"{'':28}{'requests':>10}{'wall s':>10}{'rows':>10}")
    print(f"{'pipeline (one Dagster run)':28}{pipeline_requests:>10}{pipeline_s:>10.2f}{rows:>10}")
    print(f"{'floor: bare requests':28}{floor_requests:>10}{requests_s:>10.2f}{'':>10}")
    print(f"{'floor: bare merge_insert':28}{'':>10}{merge_s:>10.2f}{rows:>10}")
    print(f"{'floor total':28}{floor_requests:>10}{requests_s + merge_s:>10.2f}{rows:>10}")
    ours = pipeline_s - event_log.seconds
    print(
        f"of the pipeline's {pipeline_s:.2f} s, Dagster's SQLite event log took "
        f"{event_log.seconds:.2f} s for {event_log.calls} events (one materialization per week "
        f"per asset); the rest, {ours:.2f} s, is {ours / (requests_s + merge_s):.1f}x the floor"
    )
    print(f"rows: {len(observations)} observations, {len(stats)} weekly stats")


class _Timed:
    """Wraps a callable and adds up the time spent in it."""

    def __init__(self, fn):
        self.fn, self.seconds, self.calls = fn, 0.0, 0

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


if __name__ == "__main__":
    main()
