"""Benchmark: the per-source client-side rate limiter, ours vs pyrate-limiter, same limits.

Baseline: the 25-line sliding-window limiter that `community_metrics.sources.http.RateLimiter`
was before this benchmark (copied verbatim below as `SlidingWindow`, with the 60 s window made a
parameter so the run stays short). Candidate: pyrate-limiter 4.x, `Limiter` over an
`InMemoryBucket` with one `Rate` per limit (its default sliding-window log, default
`buffer_ms=50`); a second pyrate column with `buffer_ms=0` shows what the default buffer costs.
The last column is whatever `community_metrics.sources.http.RateLimiter` is now (its 60 s
window shortened the same way through its MINUTE_MS class attribute).

Shapes (windows shortened so the whole run takes about 35 s; said in the table):
  pypistats  5/s + 30/min  ->  5/s + 30/6 s   (both limits bind, as in production)
  npm/crates 1/s
  HN         3/s + 120/min ->  3/s + 12/6 s   (same ratio of burst to sustained rate)

Measured, per shape and limiter, on the real clock (all limiters run side by side, one thread
each, so they see the same machine):
  (a) correctness: the most acquisitions seen in any window of each length (half-open, by the
      time `acquire()` returned), and the smallest slack `t[n] - t[n-L] - W` in ms (>= 0 holds);
  (b) throughput: calls completed in RUN seconds vs an ideal limiter (greedy earliest-allowed
      schedule computed exactly), and the pace: the ideal time of the last call counted over
      the time it really took (100% = as fast as the limits allow);
  (c) overhead: us per acquire far below the limit, measured on a virtual clock (production
      limits, each call 10x the sustained spacing after the last, so nothing ever waits), and the
      median of the real-clock acquires in (b) that did not have to wait (none at 1/s);
  (d) burst after idle: after the run, idle longer than the longest window, then 2*L+1 calls at
      once: how many pass at once (< 5 ms) and how long the burst takes, vs ideal.

    uv run python bench/rate_limit.py
"""

from __future__ import annotations

import collections
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pyrate_limiter import AbstractClock, Duration, InMemoryBucket, Limiter, Rate  # noqa: E402

from community_metrics.sources.http import RateLimit, RateLimiter  # noqa: E402

RUN = 20.5  # seconds of saturated calling per limiter (mid-step: ideal times are whole s)
WINDOW_SCALE = 0.1  # the "minute" window is 6 s in the real-clock runs
SHAPES = {
    "pypistats 5/s+30/6s": RateLimit(per_second=5, per_minute=30),
    "npm/crates 1/s": RateLimit(per_second=1),
    "HN 3/s+12/6s": RateLimit(per_second=3, per_minute=12),
}
OVERHEAD_CALLS = 20_000


class SlidingWindow:
    """The baseline, verbatim but for `minute` (60 s in production)."""

    def __init__(self, limit: RateLimit, clock=time.monotonic, sleep=time.sleep, minute=60.0):
        self.limit, self._clock, self._sleep = limit, clock, sleep
        self._calls: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        self.minute = minute

    def _delay(self, now: float) -> float:
        while self._calls and now - self._calls[0] >= self.minute:
            self._calls.popleft()
        delay = 0.0
        if self.limit.per_minute and len(self._calls) >= self.limit.per_minute:
            delay = max(delay, self.minute - (now - self._calls[-self.limit.per_minute]))
        if self.limit.per_second:
            recent = [t for t in self._calls if now - t < 1.0]
            if len(recent) >= self.limit.per_second:
                delay = max(delay, 1.0 - (now - recent[-self.limit.per_second]))
        return delay

    def acquire(self) -> None:
        with self._lock:
            while (delay := self._delay(self._clock())) > 0:
                self._sleep(delay)
            self._calls.append(self._clock())


def rates(limit: RateLimit, minute: float) -> list[Rate]:
    out = []
    if limit.per_second:
        out.append(Rate(limit.per_second, Duration.SECOND))
    if limit.per_minute:
        out.append(Rate(limit.per_minute, int(Duration.MINUTE * minute / 60)))
    return out


class Pyrate:
    def __init__(
        self, limit: RateLimit, minute=60.0, buffer_ms=50, clock: AbstractClock | None = None
    ):
        bucket = InMemoryBucket(rates(limit, minute))
        if clock is not None:  # bench only: the virtual clock for (c)
            bucket._clock = clock
        self.limiter = Limiter(bucket, buffer_ms=buffer_ms)

    def acquire(self) -> None:
        assert self.limiter.try_acquire("bench")


def windows(limit: RateLimit, minute: float) -> list[tuple[int, float]]:
    out = []
    if limit.per_second:
        out.append((limit.per_second, 1.0))
    if limit.per_minute:
        out.append((limit.per_minute, minute))
    return out


def ideal_schedule(limit: RateLimit, minute: float, until: float, most=10**9) -> list[float]:
    """Earliest-allowed times from 0 up to `until`: t[n] = max(t[n-L] + W) over the limits."""
    ts: list[float] = []
    while len(ts) < most:
        t = 0.0
        for n_max, w in windows(limit, minute):
            if len(ts) >= n_max:
                t = max(t, ts[-n_max] + w)
        if t > until:
            break
        ts.append(t)
    return ts


def max_in_window(stamps: list[float], w: float) -> int:
    best, j = 0, 0
    for i in range(len(stamps)):
        while stamps[i] - stamps[j] >= w:
            j += 1
        best = max(best, i - j + 1)
    return best


def min_slack_ms(stamps: list[float], n_max: int, w: float) -> float:
    gaps = [stamps[i] - stamps[i - n_max] - w for i in range(n_max, len(stamps))]
    return min(gaps) * 1000 if gaps else float("nan")


def real_run(make, limit: RateLimit, minute: float, out: dict) -> None:
    lim = make()
    stamps, fast = [], []
    t0 = None
    while True:
        before = time.perf_counter()
        lim.acquire()
        now = time.monotonic()
        took = time.perf_counter() - before
        if t0 is None:
            t0 = now
        if now - t0 > RUN:
            stamps.append(now)
            break
        stamps.append(now)
        if took < 1e-3 and len(stamps) > 1:  # did not wait; the first call is warm-up
            fast.append(took)
    out["done"] = sum(1 for s in stamps if s - t0 <= RUN)
    ideal = ideal_schedule(limit, minute, 1e9, most=out["done"])
    out["pace"] = ideal[-1] / (stamps[out["done"] - 1] - t0)
    out["fast_us"] = statistics.median(fast) * 1e6 if fast else float("nan")
    longest = max(w for _, w in windows(limit, minute))
    time.sleep(longest + 0.5)  # idle: every window empties
    burst_n = 2 * windows(limit, minute)[0][0] + 1
    b0 = time.monotonic()
    burst = []
    for _ in range(burst_n):
        lim.acquire()
        burst.append(time.monotonic())
    out["burst_at_once"] = sum(1 for s in burst if s - b0 < 0.005)
    out["burst_s"] = burst[-1] - b0
    out["burst_n"] = burst_n
    out["stamps"] = stamps + burst
    close = getattr(getattr(lim, "limiter", None), "close", None)
    if close:
        close()


class ProjectShort(RateLimiter):
    MINUTE_MS = int(60_000 * WINDOW_SCALE)


class VirtualClock(AbstractClock):
    def __init__(self):
        self.t = 1000.0

    def seconds(self) -> float:
        return self.t

    def now(self) -> int:
        return int(self.t * 1000)


def overhead_us(kind: str, limit: RateLimit) -> float:
    clock = VirtualClock()
    step = 10 * max(w / n for n, w in windows(limit, 60.0))

    def no_sleep(_):
        raise AssertionError("far below the limit nothing may wait")

    if kind == "ours":
        lim = SlidingWindow(limit, clock=clock.seconds, sleep=no_sleep)
    elif kind == "pyrate":
        lim = Pyrate(limit, clock=clock)
    elif kind == "pyrate0":
        lim = Pyrate(limit, buffer_ms=0, clock=clock)
    else:
        lim = RateLimiter(limit, clock=clock.seconds, sleep=no_sleep)
    spent = 0.0
    for _ in range(OVERHEAD_CALLS):
        clock.t += step
        before = time.perf_counter()
        lim.acquire()
        spent += time.perf_counter() - before
    close = getattr(getattr(lim, "limiter", None), "close", None)
    if close:
        close()
    return spent / OVERHEAD_CALLS * 1e6


KINDS = {
    "ours (baseline)": lambda limit, minute: SlidingWindow(limit, minute=minute),
    "pyrate Limiter": lambda limit, minute: Pyrate(limit, minute=minute),
    "Limiter buf=0": lambda limit, minute: Pyrate(limit, minute=minute, buffer_ms=0),
    "project now": lambda limit, minute: ProjectShort(limit),
}
OVERHEAD_KIND = {
    "ours (baseline)": "ours",
    "pyrate Limiter": "pyrate",
    "Limiter buf=0": "pyrate0",
    "project now": "project",
}


def main() -> None:
    minute = 60.0 * WINDOW_SCALE
    results: dict[tuple[str, str], dict] = {}
    threads = []
    for shape, limit in SHAPES.items():
        for kind, make in KINDS.items():
            make = lambda make=make, limit=limit, minute=minute: make(limit, minute)  # noqa: E731
            out: dict = {}
            results[(shape, kind)] = out
            threads.append(threading.Thread(target=real_run, args=(make, limit, minute, out)))
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started

    prod = {
        "pypistats 5/s+30/min": RateLimit(per_second=5, per_minute=30),
        "npm/crates 1/s": RateLimit(per_second=1),
        "GitHub 10/s": RateLimit(per_second=10),
        "HN 3/s+120/min": RateLimit(per_second=3, per_minute=120),
    }
    over = {(s, k): overhead_us(OVERHEAD_KIND[k], lim) for s, lim in prod.items() for k in KINDS}

    kinds = list(KINDS)
    width = 16
    print(f"rate limiters, real clock, {RUN:g} s saturated run per limiter ({wall:.0f} s wall);")
    print("'minute' windows shortened to 6 s; baseline = ours (the sliding window http.py had);")
    print("pyrate Limiter = Limiter(InMemoryBucket([Rate..])), default buffer_ms=50;")
    print("project now = community_metrics.sources.http.RateLimiter as it is in the tree.\n")
    print(f"{'':34}" + "".join(f"{k:>{width}}" for k in kinds))
    for shape, limit in SHAPES.items():
        ideal = len(ideal_schedule(limit, minute, RUN))
        burst_n = 2 * windows(limit, minute)[0][0] + 1
        ideal_burst = ideal_schedule(limit, minute, 1e9, most=burst_n)
        ideal_once = sum(1 for t in ideal_burst if t < 0.005)
        print(f"{shape}")

        def row(label, fmt, shape=shape):
            cells = []
            for k in kinds:
                r = results.get((shape, k))
                cells.append(fmt(r) if r else "-")
            print(f"  {label:32}" + "".join(f"{c:>{width}}" for c in cells))

        for n_max, w in windows(limit, minute):
            row(
                f"(a) max in any {w:g} s (limit {n_max})",
                lambda r, w=w: str(max_in_window(r["stamps"], w)),
            )
            row(
                f"    min slack ms, {n_max}/{w:g} s",
                lambda r, n_max=n_max, w=w: f"{min_slack_ms(r['stamps'], n_max, w):.2f}",
            )
        row(
            f"(b) calls in {RUN:g} s (ideal {ideal})",
            lambda r, ideal=ideal: f"{r['done']} {100 * r['done'] / ideal:.1f}%",
        )
        row("    pace vs ideal", lambda r: f"{100 * r['pace']:.1f}%")
        row(
            "(c) us/acquire, unblocked (real)",
            lambda r: "n/a" if r["fast_us"] != r["fast_us"] else f"{r['fast_us']:.1f}",
        )
        row(
            f"(d) burst {burst_n}: at once (ideal {ideal_once})",
            lambda r: str(r["burst_at_once"]),
        )
        row(
            f"    burst {burst_n} takes s (ideal {ideal_burst[-1]:.2f})",
            lambda r: f"{r['burst_s']:.3f}",
        )
    print(f"\n(c) us/acquire far below the limit, virtual clock, {OVERHEAD_CALLS} calls")
    for s in prod:
        print(f"  {s:32}" + "".join(f"{over[(s, k)]:>{width}.2f}" for k in kinds))


if __name__ == "__main__":
    main()
