"""What the API serves, held in memory and rebuilt only when a table's version changes.

A `Snapshot` is read once from a `StoreReader` at a set of table versions: the catalog as the
graph mirrored it, every weekly stats row as one Arrow table sorted by metric and week, a dense
metric x week grid of values (NaN = missing week, never zero) for the vectorised dashboard, and
the newest runs. `Snapshots` checks the table versions at most once per refresh interval and
loads the next snapshot beside the one it serves, so a new materialization is served within
about a second, without a restart.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from community_metrics import weeks
from community_metrics.api.models import Point
from community_metrics.catalog import Metric
from community_metrics.status import RunStatus, recent_runs
from community_metrics.store import HISTORY, METRICS, STATS, StoreReader
from community_metrics.store.filters import stats_filter

LOG = logging.getLogger(__name__)
EPOCH = dt.date(1970, 1, 1)
# The tables a snapshot is built from: a new version of any of them means a new snapshot.
SNAPSHOT_TABLES = (METRICS.name, STATS.name, HISTORY.name)
RUNS_KEPT = 200
MEMO_KEPT = 64
T = TypeVar("T")
# The stats columns a snapshot keeps: what a models.Point shows, keyed by metric and week
# (`complete` is derived at load).
WEEK_COLUMNS = [
    "metric_id",
    "period_start",
    *(f for f in Point.model_fields if f not in ("week", "complete")),
]


# The columns of an export: each week's models.Point with its metric.
EXPORT_COLUMNS = ["metric_id", *Point.model_fields]


@dataclass
class Snapshot:
    versions: dict[str, int | None]
    definitions: dict[str, Metric]  # the catalog as the graph mirrored it
    rows: pa.Table  # weekly stats rows, sorted by metric_id then period_start
    first_week: dt.date  # the grid's first column
    values: np.ndarray  # float64 [metric, week]; NaN where a week has no row
    complete: np.ndarray  # bool [metric, week]: 7 days observed / stars not carried forward
    runs: list[RunStatus]
    _index: dict[str, int] = field(default_factory=dict)
    _spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    _days: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    _rendered: list[bytes] = field(default_factory=list)  # grid rows as JSON numbers
    _offsets: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), dtype=np.int64))
    _memo: OrderedDict = field(default_factory=OrderedDict)

    @classmethod
    def load(cls, store: StoreReader, versions: dict[str, int | None]) -> Snapshot:
        catalog = store.scan(METRICS).sort_by("metric_id").to_pylist()
        definitions = {r["metric_id"]: Metric.from_row(r) for r in catalog}
        rows = store.scan(STATS, stats_filter(source_window="week"), WEEK_COLUMNS)
        rows = rows.sort_by([("metric_id", "ascending"), ("period_start", "ascending")])
        rows = rows.filter(pc.is_in(rows["metric_id"], pa.array(list(definitions), pa.string())))
        if not rows.num_rows:
            rows = rows.append_column("complete", pa.array([], pa.bool_()))
        latest = weeks.latest_closed_week()
        starts = rows["period_start"]
        first = pc.min(starts).as_py() if len(starts) else latest
        last = max(latest, pc.max(starts).as_py()) if len(starts) else latest
        index = {metric_id: i for i, metric_id in enumerate(definitions)}
        shape = (len(index), (last - first).days // 7 + 1)
        values, complete = np.full(shape, np.nan), np.zeros(shape, dtype=bool)
        spans: dict[str, tuple[int, int]] = {}
        days_since_epoch = np.zeros(0, dtype=np.int32)
        if rows.num_rows:
            ids = rows["metric_id"].to_numpy(zero_copy_only=False)
            metric_rows = np.array([index[m] for m in ids])
            days_since_epoch = starts.cast(pa.int32()).to_numpy()
            day = days_since_epoch - (first - EPOCH).days
            at = (metric_rows, day // 7)
            values[at] = rows["value"].to_numpy().astype(np.float64)
            days = rows["days_observed"].fill_null(0).to_numpy()
            carried = rows["is_carried_forward"].to_numpy(zero_copy_only=False)
            stars = np.array([definitions[m].family == "stars" for m in ids])
            done = np.where(stars, ~carried, days == 7)
            complete[at] = done
            rows = rows.append_column("complete", pa.array(done, pa.bool_()))
            bounds = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1], True])
            spans = {ids[a]: (int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)}
        rendered, offsets = _render(values)
        return cls(
            versions=versions,
            definitions=definitions,
            rows=rows,
            first_week=first,
            values=values,
            complete=complete,
            runs=recent_runs(store, RUNS_KEPT),
            _index=index,
            _spans=spans,
            _days=days_since_epoch,
            _rendered=rendered,
            _offsets=offsets,
        )

    def grid(self, metric_ids: list[str], window: list[dt.date]) -> tuple[np.ndarray, np.ndarray]:
        """(values, complete) of the metrics over consecutive weeks; weeks outside the stored
        grid (one that closed after the snapshot was built) are missing."""
        rows = np.array([self._index[m] for m in metric_ids], dtype=int)
        values = np.full((len(rows), len(window)), np.nan)
        complete = np.zeros((len(rows), len(window)), dtype=bool)
        if not window:
            return values, complete
        first = (window[0] - self.first_week).days // 7
        a, b = max(first, 0), min(first + len(window), self.values.shape[1])
        if len(rows) and a < b:
            # a slice of columns, and of rows when the ids are every metric in order: a view,
            # where fancy indexing of 1,000 x 520 cells copied them
            every = len(rows) == len(self._index) and bool((rows == np.arange(len(rows))).all())
            picked = slice(None) if every else rows
            values[:, a - first : b - first] = self.values[picked, a:b]
            complete[:, a - first : b - first] = self.complete[picked, a:b]
        return values, complete

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()` once per key for this snapshot (the newest MEMO_KEPT keys kept): the
        parts of answers that many URLs share."""
        if key in self._memo:
            self._memo.move_to_end(key)
            return self._memo[key]
        value = self._memo[key] = compute()
        while len(self._memo) > MEMO_KEPT:
            self._memo.popitem(last=False)
        return value

    def sparklines(self, metric_ids: list[str], window: list[dt.date]) -> list[bytes]:
        """Each metric's values over consecutive weeks as a JSON array (null: no data), cut
        from the rows rendered at load: at 1,000 metrics x 520 weeks one answer costs about
        1 ms instead of 40 ms of number formatting."""
        if not window:
            return [b"[]"] * len(metric_ids)
        width = self.values.shape[1]
        first = (window[0] - self.first_week).days // 7
        last = first + len(window)  # exclusive
        a, b = min(max(first, 0), width), min(max(last, 0), width)
        before = b"null," * (a - first)
        after = b",null" * (last - b)
        if a == b:  # the window lies outside the grid: every week missing
            return [b"[" + (b"null," * len(window))[:-1] + b"]"] * len(metric_ids)
        out = []
        for metric_id in metric_ids:
            i = self._index[metric_id]
            row, offsets = self._rendered[i], self._offsets[i]
            out.append(b"[" + before + row[offsets[a] : offsets[b] - 1] + after + b"]")
        return out

    def export(self, metric_ids: list[str] | None = None) -> pa.Table:
        """Every stored week of the metrics (default: all), in metric then week order, with
        the columns of models.Point; slices of the snapshot's rows, not copies."""
        if metric_ids is None:
            table = self.rows
        else:
            spans = [self._spans.get(m, (0, 0)) for m in metric_ids]
            table = pa.concat_tables([self.rows.slice(a, b - a) for a, b in spans])
        return table.rename_columns({"period_start": "week"}).select(EXPORT_COLUMNS)

    def weekly_rows(
        self, metric_id: str, first: dt.date | None = None, last: dt.date | None = None
    ) -> dict[dt.date, dict]:
        """period_start -> the stored weekly row of one metric (only weeks first..last, when
        given: a metric's rows are sorted by week, so the window is found by bisection and
        only its rows become Python)."""
        lo, hi = self._spans.get(metric_id, (0, 0))
        days = self._days[lo:hi]
        start = int(np.searchsorted(days, (first - EPOCH).days)) if first else 0
        end = int(np.searchsorted(days, (last - EPOCH).days, side="right")) if last else hi - lo
        rows = self.rows.slice(lo + start, max(0, end - start)).to_pylist()
        return {r["period_start"]: r for r in rows}

    @cached_property
    def last_success(self) -> RunStatus | None:
        return next((r for r in self.runs if r.status == "success"), None)


def _render(values: np.ndarray) -> tuple[list[bytes], np.ndarray]:
    """Each grid row as comma-terminated JSON numbers ("12,null,40,") and the byte offset of
    each week's number in it (one more column for the end)."""
    known = ~np.isnan(values)
    text = np.where(known, np.nan_to_num(values).astype(np.int64).astype(str), "null")
    offsets = np.zeros((values.shape[0], values.shape[1] + 1), dtype=np.int64)
    if values.size:
        np.cumsum(np.char.str_len(text) + 1, axis=1, out=offsets[:, 1:])
    return [(",".join(row) + ",").encode() for row in text.tolist()], offsets


class Snapshots:
    """The snapshot a reader serves. Table versions are checked at most once per
    `refresh_seconds` (about 0.3 ms a table here, one LIST per table on S3: too dear for every
    request); when they moved, the next snapshot loads in a background thread while the
    current one is still served, so no request waits on a load but the very first."""

    def __init__(self, store: StoreReader, tables: tuple[str, ...], refresh_seconds: float):
        self.store = store
        self.tables = tables  # every table the app serves (snapshot tables and more)
        self.refresh_seconds = refresh_seconds
        self._checked_at = -math.inf
        self._versions: dict[str, int | None] | None = None
        self._snapshot: Snapshot | None = None
        self._loading: threading.Thread | None = None
        self._check = threading.Lock()
        self._load = threading.Lock()

    def versions(self) -> dict[str, int | None]:
        """The served tables' versions as last checked (checked now if the interval passed;
        a request arriving while another thread checks uses the previous answer)."""
        first = self._versions is None
        due = first or time.monotonic() - self._checked_at >= self.refresh_seconds
        if due and self._check.acquire(blocking=first):
            try:
                self._versions = self.store.table_versions(self.tables)
                self._checked_at = time.monotonic()
            finally:
                self._check.release()
        return self._versions

    def current(self) -> Snapshot:
        """The snapshot to serve: the newest loaded one (a newer one loading meanwhile)."""
        versions = self.versions()
        wanted = {name: versions[name] for name in SNAPSHOT_TABLES}
        snapshot = self._snapshot
        if snapshot is None:
            with self._load:  # the first load: every request waits for it, one loads it
                if self._snapshot is None:
                    self._snapshot = Snapshot.load(self.store, wanted)
                return self._snapshot
        if snapshot.versions != wanted:
            with self._load:
                if self._loading is None or not self._loading.is_alive():
                    self._loading = threading.Thread(
                        target=self._reload, args=(wanted,), name="snapshot-load", daemon=True
                    )
                    self._loading.start()
        return snapshot

    def _reload(self, wanted: dict[str, int | None]) -> None:
        try:
            snapshot = Snapshot.load(self.store, wanted)
        except Exception:  # the store moved under the load, or cannot be read: keep serving
            LOG.exception("loading the snapshot at %s failed; the previous one is served", wanted)
            self._checked_at = -math.inf  # check (and try) again on the next request
            return
        self._snapshot = snapshot
