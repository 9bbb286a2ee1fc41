"""Benchmark: a 3-year backfill of the default catalog against the local fake source APIs.

Prints requests made, wall time and rows written by the real pipeline (one Dagster run over
156 weeks: raw source assets, mentions, weekly metrics, embeddings), on the embedded default
instance (SQLite, the project's dagster.yaml) and on the Postgres-backed one
(deploy/dagster-single-host.yaml against the local PostgreSQL), beside the floor: the same
requests made with the bare clients (each source in its own thread, as the pipeline fetches
them), and one bare LanceDB merge_insert of the same rows into fresh tables. Then where the
pipeline's time went: Dagster's event log (events written, by type), the rest.

    uv run python bench/backfill_3y.py [--weeks 156] [--instance sqlite,postgres]
        [--dagster-default] [--planned-subsets]

`--dagster-default` runs on Dagster's own event log storages, writing event by event (what
the project did before community_metrics/event_log.py), for comparison. `--planned-subsets`
sets DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS (one planned event per asset instead of
one per asset and week), to measure what the project leaves on the table by not setting it:
Dagster then no longer marks a failed run's weeks as failed, which the backfill alerts read.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402
import lancedb  # noqa: E402
import yaml  # noqa: E402

from assets_tests.fake_sources import FakeSources  # noqa: E402
from community_metrics import weeks  # noqa: E402
from community_metrics.catalog import load_catalog  # noqa: E402
from community_metrics.config import load_settings  # noqa: E402
from community_metrics.definitions import build_definitions  # noqa: E402
from community_metrics.jobs import REFRESH_JOB  # noqa: E402
from community_metrics.runner import (  # noqa: E402
    EVENT_BATCH_ENV,
    EVENT_BATCH_SIZE,
    QUIET_CONSOLE,
    embedded_event_log,
    execute,
)
from community_metrics.sources.clients import build_clients  # noqa: E402
from community_metrics.sources.fetch import fetch_source  # noqa: E402
from community_metrics.store import OBSERVATIONS, STATS, StoreWriter  # noqa: E402

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def instance_config(kind: str, database: str | None, dagster_default: bool) -> dict:
    """The instance's storage section, as the project's dagster.yaml or deploy/ file has it."""
    if kind == "sqlite":
        if dagster_default:
            return {}
        return embedded_event_log()
    db = {
        "hostname": PG["host"],
        "port": PG["port"],
        "username": PG["user"],
        "password": "unused-with-trust-auth",
        "db_name": database,
        "scheme": "postgresql+psycopg2",
    }
    if dagster_default:
        return {"storage": {"postgres": {"postgres_db": db}}}
    deployed = yaml.safe_load((ROOT / "deploy" / "dagster-single-host.yaml").read_text())
    return {
        name: {**deployed[name], "config": {"postgres_db": db}}
        for name in ("run_storage", "event_log_storage", "schedule_storage")
    }


def run_pipeline(kind: str, keys: list[str], fake: FakeSources, tmp: str, dagster_default: bool):
    env = {
        **os.environ,
        **fake.env(),
        "CM_DB_PATH": f"{tmp}/{kind}-db",
        "CM_SEED_DIR": str(ROOT / "seed_data"),
        "CM_STORAGE_MODE": "local",
    }
    settings = load_settings(env)
    defs = build_definitions(settings)
    database = None
    if kind == "postgres":
        import psycopg2

        database = f"cm_bench_{uuid.uuid4().hex[:8]}"
        admin = psycopg2.connect(dbname="postgres", **PG)
        admin.autocommit = True
        admin.cursor().execute(f'CREATE DATABASE "{database}"')
    try:
        overrides = instance_config(kind, database, dagster_default)
        with dg.instance_for_test(overrides=overrides) as instance:
            storage = instance.event_log_storage
            log = _EventLog(storage)
            fake.requests.clear()
            started, started_at = time.perf_counter(), time.time()
            result = execute(defs, REFRESH_JOB, instance, keys, run_config=QUIET_CONSOLE)
            wall = time.perf_counter() - started
            storage_name = type(storage).__name__
            steps = _timeline(instance, result.run_id, started_at)
    finally:
        if database:
            admin.cursor().execute(f'DROP DATABASE "{database}" WITH (FORCE)')
            admin.close()
    if not result.success:
        raise SystemExit(f"the backfill run failed on {kind}")
    store = StoreWriter.connect(settings)
    return {
        "settings": settings,
        "wall": wall,
        "requests": sum(fake.requests.values()),
        "log": log,
        "storage": storage_name,
        "observations": store.read_all(OBSERVATIONS),
        "stats": store.read_all(STATS),
        "store": store,
        "steps": steps,
    }


def _timeline(instance, run_id: str, started_at: float) -> list[tuple[str, float, float]]:
    """Each step's start and end, seconds from the call that launched the run."""
    records = instance.all_logs(run_id)
    begun, spans = {}, []
    for record in records:
        event = record.dagster_event
        if event is None or not event.step_key:
            continue
        kind = event.event_type_value
        if kind == "STEP_START":
            begun[event.step_key] = record.timestamp - started_at
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in begun:
            spans.append((event.step_key, begun[event.step_key], record.timestamp - started_at))
    return sorted(spans, key=lambda s: s[1])


def floor(settings, keys: list[str], fake: FakeSources, tmp: str, pipeline: dict):
    """The same requests with the bare clients (sources side by side), one merge per table."""
    first, last = weeks.keys_range(keys)
    start = dt.datetime.combine(first, dt.time(), dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.UTC)
    catalog = load_catalog(settings.seed_dir)
    terms = catalog.search_terms()
    today = weeks.today()
    fake.requests.clear()
    clients = build_clients(settings.sources)
    jobs = [
        *(
            (
                fetch_source,
                clients,
                s,
                [m for m in catalog.active if m.source == s],
                first,
                last,
                today,
            )
            for s in sorted({m.source for m in catalog.active})
        ),
        (clients.hackernews.search, terms, start, end),
        (clients.github_search.issues, terms, start, end),
    ]
    started = time.perf_counter()
    with ThreadPoolExecutor(len(jobs)) as pool:
        for future in [pool.submit(*job) for job in jobs]:
            future.result()
    requests_s = time.perf_counter() - started
    clients.close()
    requests = sum(fake.requests.values())

    db = lancedb.connect(f"{tmp}/floor")
    store = pipeline["store"]
    started = time.perf_counter()
    for spec, rows in ((OBSERVATIONS, pipeline["observations"]), (STATS, pipeline["stats"])):
        table = db.create_table(spec.name, schema=spec.schema)
        batch = store.prepare(spec, rows)
        (
            table.merge_insert("key")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute(batch)
        )
    merge_s = time.perf_counter() - started
    return requests, requests_s, merge_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=156)
    parser.add_argument("--instance", default="sqlite,postgres")
    parser.add_argument("--dagster-default", action="store_true")
    parser.add_argument("--planned-subsets", action="store_true")
    args = parser.parse_args()
    if args.planned_subsets:
        os.environ["DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"] = "true"
    keys = weeks.closed_weeks(args.weeks)
    if not args.dagster_default:
        os.environ.setdefault(EVENT_BATCH_ENV, EVENT_BATCH_SIZE)
    else:
        os.environ.pop(EVENT_BATCH_ENV, None)

    results = {}
    with tempfile.TemporaryDirectory() as tmp, FakeSources() as fake:
        for kind in args.instance.split(","):
            results[kind] = run_pipeline(kind, keys, fake, tmp, args.dagster_default)
        any_run = next(iter(results.values()))
        floor_requests, requests_s, merge_s = floor(any_run["settings"], keys, fake, tmp, any_run)
    floor_s = requests_s + merge_s

    rows = len(any_run["observations"]) + len(any_run["stats"])
    print(
        f"3-year backfill: {len(keys)} weeks ({keys[0]} .. {keys[-1]}), default catalog, "
        f"{os.cpu_count()} cores"
    )
    print(f"{'':44}{'requests':>10}{'wall s':>10}{'rows':>10}{'x floor':>10}")
    for kind, r in results.items():
        label = f"pipeline, {kind} ({r['storage']})"
        print(
            f"{label:44}{r['requests']:>10}{r['wall']:>10.2f}{rows:>10}{r['wall'] / floor_s:>10.2f}"
        )
    print(
        f"{'floor: bare requests, sources side by side':44}{floor_requests:>10}{requests_s:>10.2f}"
    )
    print(f"{'floor: bare merge_insert':44}{'':>10}{merge_s:>10.2f}{rows:>10}")
    print(f"{'floor total':44}{floor_requests:>10}{floor_s:>10.2f}{rows:>10}{1:>10.2f}")
    for kind, r in results.items():
        log = r["log"]
        ours = r["wall"] - log.seconds
        print(
            f"\n{kind}: Dagster's event log took {log.seconds:.2f} s of {r['wall']:.2f} s for "
            f"{log.events} events in {log.calls} calls ({log.batches} batches); "
            f"the rest {ours:.2f} s"
        )
        for kind_, (n, s) in sorted(log.by_type.items(), key=lambda x: -x[1][1])[:6]:
            print(f"  {kind_:44}{n:>7} events {s:>8.2f} s")
        print("  steps (s from launch: start .. end):")
        for step, begin, end in r["steps"]:
            print(f"  {step:44}{begin:>7.2f} .. {end:.2f}  ({end - begin:.2f} s)")
        print(f"  {'run ends':44}{r['wall']:>7.2f}")
    print(
        f"\nrows: {len(any_run['observations'])} observations, {len(any_run['stats'])} weekly stats"
    )


class _EventLog:
    """Times the storage's event writes, by event type."""

    def __init__(self, storage):
        self.seconds, self.calls, self.events, self.batches = 0.0, 0, 0, 0
        self.by_type: dict[str, list] = collections.defaultdict(lambda: [0, 0.0])
        one, many = storage.store_event, storage.store_event_batch

        def store_event(event):
            self._timed(one, [event], event)

        def store_event_batch(events):
            self.batches += 1
            self._timed(many, events, events)

        storage.store_event, storage.store_event_batch = store_event, store_event_batch
        self._depth = 0

    def _timed(self, fn, events, arg):
        self._depth += 1
        started = time.perf_counter()
        try:
            fn(arg)
        finally:
            self._depth -= 1
            if self._depth == 0:  # a batch falling back to single writes counts once
                spent = time.perf_counter() - started
                self.seconds += spent
                self.calls += 1
                self.events += len(events)
                for event in events:
                    name = event.dagster_event.event_type_value if event.dagster_event else "log"
                    self.by_type[name][0] += 1
                    self.by_type[name][1] += spent / len(events)


if __name__ == "__main__":
    main()
