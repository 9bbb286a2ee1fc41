"""Benchmark: a 10-year backfill of 100 PyPI packages and 20 repositories from the archives.

Generates a catalog of `--packages` PyPI metrics and `--repos` star metrics, fills a local
ClickHouse (chdb behind assets_tests/fake_clickhouse.py, ClickHouse's HTTP interface) with ten
years of daily downloads by version and installer and of star events, serves the APIs from
assets_tests/fake_sources.py, both in a child process of their own, and backfills every week of
the ten years as one Dagster run. Prints the requests made per source (the goal: a few per
source, not per package), the wall time and the pipeline process's peak RSS, beside the
requests the same backfill makes with pypistats as the routine source.

Needs the `clickhouse` dependency group:

    uv run --group clickhouse python bench/history.py [--packages 100] [--repos 20] [--years 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import resource
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import fake_env, timed_refresh  # noqa: E402
from community_metrics import weeks  # noqa: E402
from community_metrics.config import load_settings  # noqa: E402
from community_metrics.store import STATS, StoreWriter  # noqa: E402

DAY = dt.timedelta(days=1)
INSTALLERS = ("pip", "uv", "bandersnatch")


def serve(conn, packages: int, repos: int, first: dt.date, today: dt.date) -> None:
    """The archive and the APIs in a process of their own, with the generated history."""
    from assets_tests.fake_clickhouse import FakeClickHouse
    from assets_tests.fake_sources import FakeSources

    started = time.perf_counter()
    with FakeClickHouse() as archive, FakeSources(history_repos=()) as fake:
        span = [first + DAY * i for i in range((today - first).days)]
        batch = []
        for p in range(packages):
            for day in span:
                for installer in INSTALLERS:
                    count = zlib.crc32(f"{p}|{day}|{installer}".encode()) % 300
                    if count:
                        batch.append((f"pkg{p:03d}", "1.0", day, installer, "bdist_wheel", count))
            if len(batch) > 500_000:
                archive.insert_downloads(batch)
                batch = []
        batch += [("pip", "24.0", d, "pip", "bdist_wheel", 1_000_000) for d in span]
        archive.insert_downloads(batch)
        events = []
        for r in range(repos):
            for day in span:
                for i in range(zlib.crc32(f"{r}|{day}".encode()) % 12):
                    at = dt.datetime.combine(day, dt.time(i, 0))
                    events.append(("WatchEvent", "started", f"org{r:02d}/repo", f"u{i}", at))
            fake.star_counts[f"org{r:02d}/repo"] = sum(
                1 for e in events if e[2] == f"org{r:02d}/repo"
            )
        events += [
            ("WatchEvent", "started", "torvalds/linux", "u", dt.datetime.combine(d, dt.time(3)))
            for d in span + [today]
        ]
        archive.insert_events(events)
        conn.send((archive.url, fake.url, time.perf_counter() - started))
        while True:
            command = conn.recv()
            if command == "stats":
                conn.send(
                    {
                        "clickhouse": len(archive.requests),
                        "pypistats": fake.count("/api/packages/"),
                        "github": fake.count("/repos/"),
                    }
                )
            elif command == "stop":
                return


def write_catalog(path: Path, packages: int, repos: int, routine: str) -> None:
    entries = [f'[settings]\npypi_routine_source = "{routine}"\n']
    for p in range(packages):
        entries.append(
            f'[[metric]]\nmetric_id = "downloads:p{p:03d}:python"\nfamily = "downloads"\n'
            f'product = "p{p:03d}"\nsubject = "pkg{p:03d}"\nsdk = "python"\n'
            f'source = "pypistats"\nunit = "downloads"\ndisplay_name = "p{p:03d}"\n'
        )
    for r in range(repos):
        entries.append(
            f'[[metric]]\nmetric_id = "stars:r{r:02d}:github"\nfamily = "stars"\n'
            f'product = "r{r:02d}"\nsubject = "org{r:02d}/repo"\nsdk = "github"\n'
            f'source = "github"\nunit = "stars"\ndisplay_name = "r{r:02d}"\n'
        )
    path.write_text("\n".join(entries))


def backfill(conn, urls, tmp: str, keys: list[str], routine: str, packages, repos):
    archive_url, api_url = urls
    seed = Path(tmp) / f"seed-{routine}"
    seed.mkdir()
    write_catalog(seed / "catalog.toml", packages, repos, routine)
    env = {
        **os.environ,
        **fake_env(api_url, archive_url),
        "CM_DB_PATH": f"{tmp}/db-{routine}",
        "CM_SEED_DIR": str(seed),
    }
    settings = load_settings(env)
    conn.send("stats")
    before = conn.recv()
    result, wall = timed_refresh(settings, keys)
    conn.send("stats")
    after = conn.recv()
    rows = StoreWriter.connect(settings).count_rows(STATS)
    return result.success, wall, {k: after[k] - before[k] for k in after}, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=100)
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--skip-pypistats", action="store_true", help="no comparison run")
    args = parser.parse_args()
    today = weeks.today()
    last = weeks.latest_closed_week()
    first = weeks.monday_of(today - dt.timedelta(days=365 * args.years))
    keys = weeks.week_keys(first, last + 6 * DAY)

    spawn = multiprocessing.get_context("spawn")
    parent, child = spawn.Pipe()
    server = spawn.Process(
        target=serve, args=(child, args.packages, args.repos, first, today), daemon=True
    )
    server.start()
    archive_url, api_url, loaded = parent.recv()
    print(
        f"{args.years}-year backfill ({len(keys)} weeks, {keys[0]} .. {keys[-1]}) of "
        f"{args.packages} PyPI packages and {args.repos} repositories, {os.cpu_count()} cores; "
        f"archive generated and loaded in {loaded:.1f} s"
    )
    routines = ["clickpy"] + ([] if args.skip_pypistats else ["pypistats"])
    with tempfile.TemporaryDirectory() as tmp:
        for routine in routines:
            ok, wall, made, rows = backfill(
                parent, (archive_url, api_url), tmp, keys, routine, args.packages, args.repos
            )
            print(
                f"\nroutine PyPI source {routine}: run {'success' if ok else 'FAILED'}, "
                f"wall {wall:.1f} s, {rows} weekly rows"
            )
            for source, n in made.items():
                print(f"  requests to {source:12}{n:>6}")
    parent.send("stop")
    server.join(10)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the pipeline process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
