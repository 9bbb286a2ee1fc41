"""Benchmark: the read-only API at 1,000 metrics x 520 weeks, over HTTP on loopback.

Generates the catalog and weekly stats straight into a fresh store (through the writer),
serves the real app with uvicorn, and drives it with 4 concurrent client processes (on a
core of their own, the servers on the others; one warm-up pass of unmeasured URLs first).
Each endpoint is measured cold (every URL requested for the first time: built from the
in-memory snapshot) and warm (the same URLs again: served from the response cache), beside a
naive baseline served by the same uvicorn setup that reads the whole stats table per request,
as the ancestor did.

    uv run python bench/api.py [--metrics 1000] [--weeks 520] [--requests 400]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI, Response  # noqa: E402

from community_metrics import weeks  # noqa: E402
from community_metrics.config import load_settings  # noqa: E402
from community_metrics.store import METRICS, STATS, StoreReader, StoreWriter  # noqa: E402

CLIENTS = 4
POOL: ProcessPoolExecutor | None = None


def generate(store: StoreWriter, metrics: int, n_weeks: int) -> list[str]:
    rng = np.random.default_rng(7)
    now = dt.datetime.now(dt.UTC)
    ids = [
        f"stars:p{i}:github" if i % 5 == 4 else f"downloads:p{i // 5}:sdk{i % 5}"
        for i in range(metrics)
    ]
    store.upsert(
        METRICS,
        [
            {
                "metric_id": m,
                "family": m.split(":")[0],
                "product": m.split(":")[1],
                "subject": f"org/{m.split(':')[1]}" if m.startswith("stars") else m,
                "sdk": m.split(":")[2],
                "source": "github" if m.startswith("stars") else "pypistats",
                "unit": m.split(":")[0],
                "display_name": m,
                "active": True,
                "seed_column": None,
                "mirrors": False,
                "updated_at": now,
            }
            for m in ids
        ],
    )
    latest = weeks.latest_closed_week()  # 520 weeks reach back before FIRST_WEEK: fine here
    mondays = [(latest - dt.timedelta(weeks=n_weeks - 1 - i)).isoformat() for i in range(n_weeks)]
    chunk = []
    for metric_id in ids:
        stars = metric_id.startswith("stars")
        level = rng.integers(100, 100_000)
        series = np.maximum(0, level + np.cumsum(rng.normal(0, level / 50, n_weeks))).astype(int)
        if stars:
            series = np.sort(series)
        for key, value in zip(mondays, series, strict=True):
            monday = dt.date.fromisoformat(key)
            chunk.append(
                {
                    "metric_id": metric_id,
                    "source_window": "week",
                    "period_start": monday,
                    "period_end": monday + dt.timedelta(days=6),
                    "value": int(value),
                    "unit": metric_id.split(":")[0],
                    "days_observed": None if stars else 7,
                    "is_carried_forward": False,
                    "observed_on": monday + dt.timedelta(days=6) if stars else None,
                    "provenance": "api",
                    "recomputed": False,
                    "previous_value": None,
                    "run_id": "bench",
                    "updated_at": now,
                }
            )
        if len(chunk) >= 100_000:
            store.upsert(STATS, chunk)
            chunk = []
    if chunk:
        store.upsert(STATS, chunk)
    return ids


def naive_app(store: StoreReader) -> FastAPI:
    """The baseline: every request reads the whole stats table into Python and filters there."""
    app = FastAPI()

    def rows_of(ids: set[str]) -> list[dict]:
        return [r for r in store.read_all(STATS) if r["metric_id"] in ids]

    @app.get("/api/v1/series/{metric_id}")
    def series(metric_id: str, weeks_: int = 52):
        rows = sorted(rows_of({metric_id}), key=lambda r: r["period_start"])[-weeks_:]
        return Response(json.dumps(rows, default=str), media_type="application/json")

    @app.get("/api/v1/dashboard/weekly")
    def dashboard(metrics: str):
        rows = rows_of(set(metrics.split(",")))
        return Response(json.dumps(rows, default=str), media_type="application/json")

    @app.get("/api/v1/export/{metric_id}.csv")
    def export(metric_id: str):
        rows = rows_of({metric_id})
        body = "\n".join(f"{r['metric_id']},{r['period_start']},{r['value']}" for r in rows)
        return Response(body, media_type="text/csv")

    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(args: list[str], env: dict) -> tuple[subprocess.Popen, str]:
    """A server in its own process (its own GIL, as in production) on a free loopback port,
    pinned to every core but the last, which the client processes get: on 2 cores, clients
    scheduled over the server's core made its latency theirs."""
    port = free_port()
    cores = set(range(max(1, os.cpu_count() - 1)))
    process = subprocess.Popen(
        [sys.executable, *args, "--port", str(port)],
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    os.sched_setaffinity(process.pid, cores)  # before it starts threads: they inherit it
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{base}/api/v1/definitions", timeout=300)
            return process, base
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"{args} did not start")


def drive(base: str, urls: list[str]) -> tuple[list[float], float]:
    """Latencies (ms) of `urls` fetched by CLIENTS concurrent client processes, and requests/s
    (processes, so the clients do not share one GIL)."""
    shares = [(base, urls[i::CLIENTS]) for i in range(CLIENTS)]
    started = time.perf_counter()
    latencies = [t for part in POOL.map(client, shares) for t in part]
    return latencies, len(urls) / (time.perf_counter() - started)


def client(job: tuple[str, list[str]]) -> list[float]:
    """One keep-alive connection per client (the stdlib's http.client, lighter than httpx:
    the clients' CPU is not what is measured)."""
    base, share = job
    host, port = base.removeprefix("http://").split(":")
    out = []
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    for url in share:
        started = time.perf_counter()
        connection.request("GET", url)
        answer = connection.getresponse()
        body = answer.read()
        out.append((time.perf_counter() - started) * 1000)
        if answer.status != 200:
            raise SystemExit(f"{url}: HTTP {answer.status} {body[:200]!r}")
    connection.close()
    return out


def pin_clients() -> None:
    """Client processes on the last core, servers on the others (see serve)."""
    os.sched_setaffinity(0, {os.cpu_count() - 1})


def pct(samples: list[float], q: float) -> float:
    return float(np.percentile(samples, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=int, default=1000)
    parser.add_argument("--weeks", type=int, default=520)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--baseline-requests", type=int, default=16)
    parser.add_argument("--naive-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.port:  # the baseline's own process
        store = StoreReader.connect(load_settings())
        uvicorn.run(naive_app(store), host="127.0.0.1", port=args.port, log_level="warning")
        return
    rng = random.Random(11)
    global POOL
    POOL = ProcessPoolExecutor(
        CLIENTS, mp_context=multiprocessing.get_context("spawn"), initializer=pin_clients
    )
    list(POOL.map(abs, range(CLIENTS)))  # start the client processes before timing

    with tempfile.TemporaryDirectory() as tmp:
        env = {"CM_DB_PATH": f"{tmp}/db", "CM_API_RATE_LIMIT": "0"}
        settings = load_settings(env)
        started = time.perf_counter()
        ids = generate(StoreWriter.connect(settings), args.metrics, args.weeks)
        print(
            f"generated {len(ids):,} metrics x {args.weeks} weeks "
            f"({len(ids) * args.weeks:,} stats rows) in {time.perf_counter() - started:.0f} s"
        )
        started = time.perf_counter()
        ours, base = serve(["-m", "community_metrics.cli", "serve"], env)
        took = time.perf_counter() - started
        print(f"`community-metrics serve` up with its first snapshot: {took:.1f} s")
        naive, naive_base = serve([__file__, "--naive-port", "1"], env)

        def sample(make, n):
            return [make() for _ in range(n)]

        tens = lambda: ",".join(rng.sample(ids, 10))  # noqa: E731
        cases = {
            "/series (52 weeks)": lambda: f"/api/v1/series/{rng.choice(ids)}?weeks=52",
            "/dashboard/weekly (10 metrics)": lambda: f"/api/v1/dashboard/weekly?metrics={tens()}",
            "/dashboard/weekly (all 1,000)": lambda: (
                f"/api/v1/dashboard/weekly?weeks={rng.randint(2, 519)}"
            ),
            "/export (one metric)": lambda: f"/api/v1/export/{rng.choice(ids)}.csv",
        }
        print(f"\n{CLIENTS} concurrent clients over HTTP on loopback; ms per request")
        header = f"{'endpoint':34}{'':8}{'p50':>8}{'p99':>8}{'req/s':>9}"
        print(header)
        for name, make in cases.items():
            count = args.requests if "all" not in name else args.requests // 4
            urls = list(dict.fromkeys(sample(make, count)))  # each distinct: a cold pass
            if "all" in name:  # before any warm-up: nothing of this selection computed yet
                started = time.perf_counter()
                client((base, ["/api/v1/dashboard/weekly?weeks=520"]))  # not among the measured
                first_board = (time.perf_counter() - started) * 1000
            # one request per client first, of URLs not measured: the server's one-time costs
            # (worker threads, Arrow's CSV writer) belong to its start, not to a request
            drive(base, [u for u in dict.fromkeys(sample(make, 4 * CLIENTS)) if u not in urls])
            cold, cold_rps = drive(base, urls)
            warm, warm_rps = drive(base, urls)
            print(f"{name:34}{'cold':8}{pct(cold, 50):8.2f}{pct(cold, 99):8.2f}{cold_rps:9.0f}")
            print(f"{'':34}{'warm':8}{pct(warm, 50):8.2f}{pct(warm, 99):8.2f}{warm_rps:9.0f}")
            if "all" in name:
                print(f"{'':34}{'first':8}{first_board:8.2f}{'':8}{'':9}   one request, alone")
                continue
            naive_urls = urls[: args.baseline_requests]
            slow, slow_rps = drive(naive_base, naive_urls)
            print(
                f"{'':34}{'naive':8}{pct(slow, 50):8.2f}{pct(slow, 99):8.2f}{slow_rps:9.1f}"
                f"   cold is {slow_rps and cold_rps / slow_rps:.0f}x the naive req/s, "
                f"p50 {statistics.median(slow) / statistics.median(cold):.0f}x lower"
            )
        for process in (ours, naive):
            process.terminate()
            process.wait()
    print(
        "\ncold: first request of each URL (answer built from the in-memory snapshot; the "
        "dashboard's cards are computed once per selection, then each sparkline length is "
        "spliced in); first: the selection's first request; warm: the same URLs again "
        "(response cache, ETag); naive: whole stats table read per request"
    )


if __name__ == "__main__":
    main()
