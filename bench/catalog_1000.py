"""Benchmark: a weekly refresh of a 1,000-metric catalog against rate-limited local fakes.

Generates a catalog of N metrics spread evenly over pypistats, npm, crates.io and GitHub,
serves the fake APIs from a child process that enforces each source's documented rate limit
(assets_tests/fake_sources.py DOCUMENTED_LIMITS, answering 429 to a request over it), with
every window shortened `--time-scale` times (the clients' windows likewise) so the run takes
minutes, and refreshes the last closed week as one Dagster run on the project's instance
configuration. Prints, per source, the requests made, the requests refused for going over a
limit, and the floor those limits impose (the earliest the last request can be admitted,
sources side by side); then the wall time beside the largest floor, and the peak RSS.

A second run makes one source hang (every call sleeps past the timeout): its metrics fail
after one retry budget and the other sources carry on; the goal there is the healthy floor
plus one budget. It starts once the windows the first run filled have emptied, as a refresh
a week later would.

    uv run python bench/catalog_1000.py [--packages 1000] [--time-scale 4] [--hang cratesio]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assets_tests.fake_sources import DOCUMENTED_LIMITS, FakeSources  # noqa: E402
from bench.common import fake_env, timed_refresh  # noqa: E402
from community_metrics import weeks  # noqa: E402
from community_metrics.config import load_settings  # noqa: E402
from community_metrics.sources.http import RateLimiter  # noqa: E402
from community_metrics.store import HISTORY, StoreWriter  # noqa: E402

# Catalog source -> the fake's path prefix (its rate limit) and how a metric is named there.
SOURCES = {
    "pypistats": ("/api/packages/", "downloads", "python", "pkg{i:04d}"),
    "npm": ("/downloads/", "downloads", "nodejs", "pkg{i:04d}"),
    "cratesio": ("/api/v1/crates/", "downloads", "rust", "pkg{i:04d}"),
    "github": ("/repos/", "stars", "github", "org{i:04d}/repo{i:04d}"),
}


def write_catalog(path: Path, packages: int) -> dict[str, int]:
    """N metrics, a quarter per source (products without search terms: no mention search)."""
    counts = dict.fromkeys(SOURCES, 0)
    entries = []
    for i in range(packages):
        source = list(SOURCES)[i % len(SOURCES)]
        _, family, sdk, subject = SOURCES[source]
        counts[source] += 1
        entries.append(
            "[[metric]]\n"
            f'metric_id = "{family}:p{i:04d}:{sdk}"\nfamily = "{family}"\n'
            f'product = "p{i:04d}"\nsubject = "{subject.format(i=i)}"\nsdk = "{sdk}"\n'
            f'source = "{source}"\nunit = "{family}"\ndisplay_name = "p{i:04d} {sdk}"\n'
        )
    path.write_text("\n".join(entries))
    return counts


def earliest_last_call(calls: int, limits) -> float:
    """When the last of `calls` requests can start at the soonest under sliding-window limits
    ((calls, window s) pairs), the first at 0: the floor the limits impose."""
    times: list[float] = []
    for k in range(calls):
        start = 0.0
        for allowed, window in limits:
            if k >= allowed:
                start = max(start, times[k - allowed] + window)
        times.append(start)
    return times[-1] if times else 0.0


def serve(conn, time_scale: float) -> None:
    """The fake APIs in a process of their own (their timing free of the pipeline's GIL)."""
    with FakeSources(history_repos=()) as fake:
        fake.enforce_limits(DOCUMENTED_LIMITS, time_scale)
        conn.send(fake.url)
        while True:
            command = conn.recv()
            if command == "stats":
                conn.send(
                    {
                        prefix: (fake.count(prefix), fake.refused[prefix])
                        for prefix in DOCUMENTED_LIMITS
                    }
                )
            elif command[0] == "hang":
                fake.always(command[1], ("sleep", command[2]))
                conn.send("ok")
            elif command == "stop":
                return


def refresh(url: str, tmp: str, seed_dir: Path, week: str, extra: dict) -> tuple[float, dict]:
    env = {
        **os.environ,
        # the archives off: the 1,000-package refresh measures the rate-limited APIs
        **fake_env(url),
        "GITHUB_TOKEN": "bench-token",
        "CM_DB_PATH": f"{tmp}/db-{time.monotonic_ns()}",
        "CM_SEED_DIR": str(seed_dir),
        **extra,
    }
    settings = load_settings(env)
    _, wall = timed_refresh(settings, [week])
    (row,) = StoreWriter.connect(settings).read_all(HISTORY)
    return wall, row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=1000)
    parser.add_argument("--time-scale", type=float, default=4.0)
    parser.add_argument("--hang", default="cratesio", help="source to hang in run 2 ('' skips)")
    args = parser.parse_args()
    scale = args.time_scale
    # The clients' windows shrink with the server's.
    RateLimiter.SECOND_MS = round(1000 / scale)
    RateLimiter.MINUTE_MS = round(60_000 / scale)
    week = weeks.closed_weeks(1)[0]
    limits = {
        s: tuple((n, w / scale) for n, w in DOCUMENTED_LIMITS[prefix])
        for s, (prefix, *_) in SOURCES.items()
    }

    spawn = multiprocessing.get_context("spawn")
    parent, child = spawn.Pipe()
    server = spawn.Process(target=serve, args=(child, scale), daemon=True)
    server.start()
    url = parent.recv()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        seed_dir = Path(tmp) / "seed"
        seed_dir.mkdir()
        counts = write_catalog(seed_dir / "catalog.toml", args.packages)
        scenarios = [("healthy", None, {})]
        if args.hang:
            scenarios.append(
                (
                    f"{args.hang} hanging",
                    args.hang,
                    {"CM_HTTP_TIMEOUT": "2", "CM_RETRY_BUDGET_SECONDS": "10"},
                )
            )
        for n, (label, hang, extra) in enumerate(scenarios):
            if n:
                # The runs are separate refreshes: the fake's windows still hold the previous
                # run's last requests, which a new run's limiter cannot know of, so wait out
                # every window that run filled (at real scale a week apart).
                filled = [
                    window
                    for source, (prefix, *_) in SOURCES.items()
                    for allowed, window in limits[source]
                    if allowed <= runs[-1][6][prefix][0] - runs[-1][5][prefix][0]
                ]
                time.sleep(max(filled, default=0.0))
            before = _stats(parent)
            if hang:
                parent.send(("hang", SOURCES[hang][0], 3.0))
                parent.recv()
            wall, row = refresh(url, tmp, seed_dir, week, extra)
            after = _stats(parent)
            runs.append((label, hang, extra, wall, row, before, after))
    parent.send("stop")
    server.join(5)

    print(
        f"weekly refresh of a {args.packages}-metric catalog (week {week}), documented rate "
        f"limits with windows {scale:g}x shorter, {os.cpu_count()} cores"
    )
    for label, hang, extra, wall, row, before, after in runs:
        print(f"\n{label}: run {row['status']}")
        print(f"  {'source':12}{'metrics':>9}{'requests':>10}{'refused':>9}{'floor s':>9}")
        floors = {}
        for source, (prefix, *_) in SOURCES.items():
            made = after[prefix][0] - before[prefix][0]
            refused = after[prefix][1] - before[prefix][1]
            # the floor of the calls the limits let through (a hanging source's are not
            # limited by its rate but by its budget)
            floors[source] = earliest_last_call(made - refused, limits[source])
            print(f"  {source:12}{counts[source]:>9}{made:>10}{refused:>9}{floors[source]:>9.2f}")
        healthy = max(f for s, f in floors.items() if s != hang)
        budget = float(extra.get("CM_RETRY_BUDGET_SECONDS", 0)) if hang else 0.0
        goal = healthy + budget
        errors = json.loads(row["error_summary"] or "{}")
        print(
            f"  wall {wall:.2f} s; floor {healthy:.2f} s"
            + (f" + one {budget:g}-s budget = {goal:.2f} s" if hang else "")
            + f"; {wall / goal:.2f}x"
            + (f"; {len(errors)} metrics failed" if hang else "")
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the pipeline process: {peak:.0f} MiB")


def _stats(conn) -> dict:
    conn.send("stats")
    return conn.recv()


if __name__ == "__main__":
    main()
