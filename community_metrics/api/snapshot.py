"""What the API serves, held in memory and rebuilt only when a table's version changes.

A `Snapshot` is read once from a `StoreReader` at a set of table versions: the catalog as the
graph mirrored it, every weekly stats row as one Arrow table sorted by metric and week, a dense
metric x week grid of values (NaN = missing week, never zero) for the vectorised dashboard, and
the newest runs. `Snapshots.current()` is given the versions (read once per request, about
0.1 ms a table) and reloads when they moved, so a new materialization is served at once.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from community_metrics import weeks
from community_metrics.catalog import Metric
from community_metrics.status import RunStatus, recent_runs
from community_metrics.store import HISTORY, METRICS, STATS, StoreReader
from community_metrics.store.filters import stats_filter

# The tables a snapshot is built from: a new version of any of them means a new snapshot.
SNAPSHOT_TABLES = (METRICS.name, STATS.name, HISTORY.name)
RUNS_KEPT = 200
WEEK_COLUMNS = [
    "metric_id",
    "period_start",
    "period_end",
    "value",
    "days_observed",
    "is_carried_forward",
    "observed_on",
    "provenance",
    "recomputed",
    "previous_value",
]


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

    @classmethod
    def load(cls, store: StoreReader, versions: dict[str, int | None]) -> Snapshot:
        catalog = store.scan(METRICS).sort_by("metric_id").to_pylist()
        definitions = {
            r["metric_id"]: Metric(**{k: r[k] for k in Metric.model_fields}) for r in catalog
        }
        rows = store.scan(STATS, stats_filter(source_window="week"), WEEK_COLUMNS)
        rows = rows.sort_by([("metric_id", "ascending"), ("period_start", "ascending")])
        rows = rows.filter(pc.is_in(rows["metric_id"], pa.array(list(definitions), pa.string())))
        latest = weeks.latest_closed_week()
        starts = rows["period_start"]
        first = min(weeks.FIRST_WEEK, pc.min(starts).as_py()) if len(starts) else weeks.FIRST_WEEK
        last = max(latest, pc.max(starts).as_py()) if len(starts) else latest
        index = {metric_id: i for i, metric_id in enumerate(definitions)}
        shape = (len(index), (last - first).days // 7 + 1)
        values, complete = np.full(shape, np.nan), np.zeros(shape, dtype=bool)
        spans: dict[str, tuple[int, int]] = {}
        if rows.num_rows:
            ids = rows["metric_id"].to_numpy(zero_copy_only=False)
            metric_rows = np.array([index[m] for m in ids])
            day = starts.cast(pa.int32()).to_numpy() - (first - dt.date(1970, 1, 1)).days
            at = (metric_rows, day // 7)
            values[at] = rows["value"].to_numpy().astype(np.float64)
            days = rows["days_observed"].fill_null(0).to_numpy()
            carried = rows["is_carried_forward"].to_numpy(zero_copy_only=False)
            stars = np.array([definitions[m].family == "stars" for m in ids])
            complete[at] = np.where(stars, ~carried, days == 7)
            bounds = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1], True])
            spans = {ids[a]: (int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)}
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
        )

    def grid(self, metric_ids: list[str], window: list[dt.date]) -> tuple[np.ndarray, np.ndarray]:
        """(values, complete) of the metrics over the weeks; weeks outside the stored grid
        (one that closed after the snapshot was built) are missing."""
        rows = np.array([self._index[m] for m in metric_ids], dtype=int)
        columns = np.array([(w - self.first_week).days // 7 for w in window], dtype=int)
        inside = (columns >= 0) & (columns < self.values.shape[1])
        values = np.full((len(rows), len(columns)), np.nan)
        complete = np.zeros((len(rows), len(columns)), dtype=bool)
        if len(rows) and inside.any():
            picked = np.ix_(rows, columns[inside])
            values[:, inside] = self.values[picked]
            complete[:, inside] = self.complete[picked]
        return values, complete

    def weekly_rows(self, metric_id: str) -> dict[dt.date, dict]:
        """period_start -> the stored weekly row of one metric."""
        start, end = self._spans.get(metric_id, (0, 0))
        return {r["period_start"]: r for r in self.rows.slice(start, end - start).to_pylist()}

    @cached_property
    def last_success(self) -> RunStatus | None:
        return next((r for r in self.runs if r.status == "success"), None)


class Snapshots:
    """The current snapshot of one reader, reloaded when a table version changes."""

    def __init__(self, store: StoreReader):
        self.store = store
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()

    def current(self, versions: dict[str, int | None]) -> Snapshot:
        """The snapshot at these table versions (loaded if they moved)."""
        wanted = {name: versions[name] for name in SNAPSHOT_TABLES}
        snapshot = self._snapshot
        if snapshot is not None and snapshot.versions == wanted:
            return snapshot
        with self._lock:  # one reload at a time; the others wait and reuse it
            if self._snapshot is None or self._snapshot.versions != wanted:
                self._snapshot = Snapshot.load(self.store, wanted)
            return self._snapshot
