"""The read face of the store: every query the API, status, search and assets make.

`StoreReader` has no method that writes, creates or maintains a table, so a process holding
only a reader (the API) cannot change the data; in enterprise mode it is opened with a read
key. Handles are opened with a read consistency interval of 0: every call sees the latest
committed version, so a long-lived reader shows new writes without a restart.

Hybrid search's two legs run at once through LanceDB's async API (`hybrid_legs`): a reader
holds an async connection beside its sync one, and every reader of the process awaits its
queries on one event loop on a daemon thread (`_EventLoop`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import lancedb
import pyarrow as pa
import pyarrow.compute as pc

from community_metrics.config import ConfigError, Settings
from community_metrics.store.filters import all_of, day_range, in_list, sql_string, stats_filter
from community_metrics.store.schemas import (
    EMBEDDINGS_TABLE,
    HISTORY,
    MENTIONS,
    OBSERVATIONS,
    SEARCH_FIELDS,
    STATS,
    TABLES,
    TableSpec,
)

# Probes of the IVF vector index per query: 20 of sqrt(n) partitions kept recall@10 at 1.0
# at 100k mentions (bench/search_100k.py).
NPROBES = 20


@dataclass(frozen=True)
class TableInfo:
    table: str
    rows: int
    version: int | None  # None: not created yet


def _connection(settings: Settings, api_key: str | None) -> tuple[str, dict[str, Any]]:
    """The URI and options `lancedb.connect` and `lancedb.connect_async` both take."""
    consistency = dt.timedelta(0)
    if settings.storage_mode == "enterprise":
        key = api_key or settings.lancedb_api_key
        if not key:
            raise ConfigError(
                "writing to LanceDB Enterprise needs CM_LANCEDB_API_KEY; this process has only "
                "CM_LANCEDB_READ_API_KEY, which serves the read-only API."
            )
        return settings.db_uri, {
            "api_key": key,
            "region": settings.lancedb_region,
            "host_override": settings.lancedb_host_override,
            "read_consistency_interval": consistency,
        }
    return settings.db_uri, {
        "storage_options": dict(settings.storage_options) or None,
        "read_consistency_interval": consistency,
    }


def open_database(settings: Settings, api_key: str | None = None) -> Any:
    """A LanceDB connection from settings; in enterprise mode with `api_key` (default: the
    write key, which a process holding only the read key does not have)."""
    uri, options = _connection(settings, api_key)
    return lancedb.connect(uri, **options)


def async_opener(settings: Settings, api_key: str | None = None) -> Callable[[], Awaitable[Any]]:
    """Opens the same database as `open_database` through LanceDB's async API, when awaited
    (a reader awaits it on its first hybrid search). The settings are checked now."""
    uri, options = _connection(settings, api_key)
    return lambda: lancedb.connect_async(uri, **options)


class _EventLoop:
    """One asyncio loop on a daemon thread, started on first use, where readers await their
    async queries from any thread (the API serves requests from a thread pool). A forked
    child starts its own: the parent's thread does not survive the fork."""

    def __init__(self):
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def run(self, coroutine: Coroutine) -> Any:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(
                    target=self._loop.run_forever, name="store-reader-loop", daemon=True
                ).start()
            loop = self._loop
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()

    def forget(self) -> None:
        self._loop, self._lock = None, threading.Lock()


_LOOP = _EventLoop()
os.register_at_fork(after_in_child=_LOOP.forget)


class StoreReader:
    """Reads the project's LanceDB tables; a table not created yet reads as empty."""

    def __init__(self, db: Any, description: str, open_async: Callable[[], Awaitable[Any]]):
        """`db` is a sync connection; `open_async` opens the same database's async one."""
        self._db = db
        self.description = description
        self._handles: dict[str, Any] = {}
        self._open_async = open_async
        self._async_db: Any | None = None
        self._async_handles: dict[str, Any] = {}
        self._embedder_at: tuple[int, str | None] | None = None  # (table version, embedder)

    @classmethod
    def connect(cls, settings: Settings, api_key: str | None = None):
        """A reader; in enterprise mode with `api_key` (default: whichever key the process
        has)."""
        key = api_key or settings.lancedb_api_key or settings.lancedb_read_api_key
        return cls(
            open_database(settings, api_key=key),
            settings.describe(),
            async_opener(settings, api_key=key),
        )

    # -- tables -----------------------------------------------------------------------------

    def table_names(self) -> list[str]:
        names: list[str] = []
        token = None
        while True:
            page = self._db.list_tables(page_token=token)
            names.extend(page.tables)
            token = page.page_token
            if not token:
                return names

    def _open(self, name: str) -> Any | None:
        """The cached handle of a table (it follows new versions), or None if it is absent."""
        handle = self._handles.get(name)
        if handle is None and name in self.table_names():
            handle = self._handles[name] = self._db.open_table(name)
        return handle

    async def _open_for_async(self, name: str) -> Any:
        """The cached async handle of a table the sync side has found (it follows new
        versions too); the async connection is opened on first use."""
        handle = self._async_handles.get(name)
        if handle is None:
            if self._async_db is None:
                self._async_db = await self._open_async()
            handle = self._async_handles[name] = await self._async_db.open_table(name)
        return handle

    def table_info(self) -> list[TableInfo]:
        """Rows and version of every table (the search table once it exists)."""
        names = [*TABLES, EMBEDDINGS_TABLE]
        info = []
        for name in names:
            table = self._open(name)
            if table is None and name == EMBEDDINGS_TABLE:
                continue
            info.append(
                TableInfo(name, table.count_rows(), table.version)
                if table is not None
                else TableInfo(name, 0, None)
            )
        return info

    def table_versions(self, names: Sequence[str] | None = None) -> dict[str, int | None]:
        """The current version of each table (default: all; None: not created yet); about
        0.1 ms a table, so a server can check them on every request."""
        return {
            name: (table.version if (table := self._open(name)) is not None else None)
            for name in (names or (*TABLES, EMBEDDINGS_TABLE))
        }

    def count_rows(self, spec: TableSpec, where: str | None = None) -> int:
        table = self._open(spec.name)
        return 0 if table is None else table.count_rows(where)

    def scan(
        self, spec: TableSpec, where: str | None = None, columns: Sequence[str] | None = None
    ) -> pa.Table:
        """Rows matching `where` with only `columns` (the filter and projection run in Lance)."""
        table = self._open(spec.name)
        if table is None:
            schema = spec.schema
            return schema.empty_table().select(list(columns)) if columns else schema.empty_table()
        query = table.search()
        if where:
            query = query.where(where)
        if columns:
            query = query.select(list(columns))
        return query.limit(None).to_arrow()

    def read_all(self, spec: TableSpec) -> list[dict]:
        return self.scan(spec).to_pylist()

    # -- metrics ------------------------------------------------------------------------------

    def observations(
        self,
        metric_ids: Iterable[str],
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> list[dict]:
        """Observations of the metrics with start <= day <= end (either bound optional)."""
        where = all_of([in_list("metric_id", metric_ids), *day_range("day", start, end)])
        return self.scan(OBSERVATIONS, where).to_pylist()

    def first_downloads(self, metric_ids: Iterable[str]) -> dict[str, dt.date]:
        """Each metric's first day with a value above 0: where its series starts, so a later
        fetch reads a covered day without a row as 0, not as before the series began."""
        ids = list(metric_ids)
        if not ids:
            return {}
        where = all_of([in_list("metric_id", ids), "value > 0"])
        rows = self.scan(OBSERVATIONS, where, ["metric_id", "day"])
        if not rows.num_rows:
            return {}
        firsts = rows.group_by("metric_id").aggregate([("day", "min")])
        return dict(
            zip(firsts["metric_id"].to_pylist(), firsts["day_min"].to_pylist(), strict=True)
        )

    def observed_days(self) -> tuple[dt.date, dt.date] | None:
        """(first, last) day of any observation, or None when there is none."""
        days = self.scan(OBSERVATIONS, columns=["day"])["day"]
        if len(days) == 0:
            return None
        bounds = pc.min_max(days)
        return bounds["min"].as_py(), bounds["max"].as_py()

    def stats(
        self,
        metric_ids: Iterable[str] | None = None,
        source_window: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        columns: Sequence[str] | None = None,
    ) -> list[dict]:
        """Stats rows filtered by metric, window and start <= period_end <= end."""
        where = stats_filter(metric_ids, source_window, start, end)
        return self.scan(STATS, where, columns).to_pylist()

    # -- runs ---------------------------------------------------------------------------------

    def history(
        self, run_id: str | None = None, status: str | None = None, limit: int | None = None
    ) -> list[dict]:
        """Runs newest first. With a limit only the run ids and start times are scanned; the
        rows of the newest `limit` runs are then fetched by key."""
        clauses = []
        if run_id is not None:
            clauses.append(f"run_id = {sql_string(run_id)}")
        if status is not None:
            clauses.append(f"status = {sql_string(status)}")
        where = all_of(clauses)
        if limit is not None:
            starts = self.scan(HISTORY, where, ["run_id", "started_at"])
            newest = pc.select_k_unstable(
                starts, k=min(limit, starts.num_rows), sort_keys=[("started_at", "descending")]
            )
            ids = starts.take(newest)["run_id"].to_pylist()
            if not ids:
                return []
            where = in_list("run_id", ids)
        rows = self.scan(HISTORY, where).to_pylist()
        rows.sort(key=lambda r: (r["started_at"], r["run_id"]), reverse=True)
        return rows

    # -- mentions and the search table ----------------------------------------------------------

    def mentions(self, columns: Sequence[str] | None = None) -> list[dict]:
        return self.scan(MENTIONS, columns=columns).to_pylist()

    def embeddings_info(self) -> dict:
        """Rows, vector width, the embedders present and the indexes of the search table."""
        table = self._open(EMBEDDINGS_TABLE)
        if table is None:
            return {"rows": 0, "dim": None, "embedders": [], "indexes": []}
        embedder = self.stored_embedder()
        return {
            "rows": table.count_rows(),
            "dim": table.schema.field("vector").type.list_size,
            "embedders": [embedder] if embedder else [],
            "indexes": sorted(
                f"{index.index_type}({', '.join(index.columns)})" for index in table.list_indices()
            ),
        }

    def stored_embedder(self) -> str | None:
        """The embedder of the stored vectors. One row tells: writes never mix embedders (a
        new one rewrites the table in one commit). Read once per table version: checking the
        version costs about 0.4 ms, reading the row about 5 (search checks on every query)."""
        table = self._open(EMBEDDINGS_TABLE)
        if table is None:
            return None
        version = table.version
        seen = self._embedder_at
        if seen is None or seen[0] != version:
            rows = table.search().select(["embedder"]).limit(1).to_list()
            seen = self._embedder_at = (version, rows[0]["embedder"] if rows else None)
        return seen[1]

    def embedding_hashes(self) -> dict[str, tuple[str, str]]:
        """key -> (row_hash, content_hash) of every embedded mention."""
        table = self._open(EMBEDDINGS_TABLE)
        if table is None:
            return {}
        rows = table.search().select(["key", "row_hash", "content_hash"]).limit(None).to_arrow()
        return {
            k: (r, c)
            for k, r, c in zip(
                rows["key"].to_pylist(),
                rows["row_hash"].to_pylist(),
                rows["content_hash"].to_pylist(),
                strict=True,
            )
        }

    def embedding_vectors(self, keys: Iterable[str]) -> dict[str, list[float]]:
        keys = list(keys)
        table = self._open(EMBEDDINGS_TABLE)
        if table is None or not keys:
            return {}
        rows = (
            table.search()
            .where(in_list("key", keys))
            .select(["key", "vector"])
            .limit(None)
            .to_arrow()
        )
        return dict(zip(rows["key"].to_pylist(), rows["vector"].to_pylist(), strict=True))

    def nearest_mentions(
        self,
        vector: Sequence[float],
        *,
        where: str | None = None,
        limit: int = 10,
        exact: bool = False,
        nprobes: int = NPROBES,
    ) -> list[dict]:
        """Mentions nearest the vector, best first, `score` = 1 - cosine distance. `exact`
        skips the vector index (brute force, for recall checks)."""
        table = self._open(EMBEDDINGS_TABLE)
        if table is None:
            return []
        query = table.search(list(vector), vector_column_name="vector").distance_type("cosine")
        query = query.bypass_vector_index() if exact else query.nprobes(nprobes)
        return self._hits(query, where, limit, "_distance", lambda d: 1.0 - d)

    def keyword_mentions(
        self, text: str, *, where: str | None = None, limit: int = 10
    ) -> list[dict]:
        """Mentions matching the words of `text` (BM25 over `document`), best first."""
        table = self._open(EMBEDDINGS_TABLE)
        if table is None:
            return []
        query = table.search(text, query_type="fts", fts_columns="document")
        return self._hits(query, where, limit, "_score", float)

    def hybrid_legs(
        self,
        vector: Sequence[float],
        text: str | None,
        *,
        where: str | None = None,
        limit: int = 40,
        exact: bool = False,
        nprobes: int = NPROBES,
    ) -> tuple[list[dict], list[dict]]:
        """The two rankings hybrid search fuses, run at once: the mentions nearest `vector`
        (`key`, `score`, `row_id`) and, if `text`, those matching its words (also `title` and
        `text`, which the keyword gate reads). Only what fusion needs is read: the other
        fields of 80 rows cost about 6 ms, so `rows_of` fetches them for the fused top hits.
        Awaited together the legs cost about the slower one, not the sum."""
        if self._open(EMBEDDINGS_TABLE) is None:
            return [], []
        return _LOOP.run(self._legs(list(vector), text, where, limit, exact, nprobes))

    async def _legs(self, vector, text, where, limit, exact, nprobes):
        table = await self._open_for_async(EMBEDDINGS_TABLE)
        semantic = table.query().nearest_to(vector).column("vector").distance_type("cosine")
        semantic = semantic.bypass_vector_index() if exact else semantic.nprobes(nprobes)
        legs = [_leg_hits(semantic, where, limit, ["key"], "_distance", lambda d: 1.0 - d)]
        if text:
            keyword = table.query().nearest_to_text(text, columns="document")
            legs.append(_leg_hits(keyword, where, limit, ["key", "title", "text"], "_score", float))
        found = await asyncio.gather(*legs)
        return found[0], found[1] if text else []

    def rows_of(self, hits: Sequence[dict], where: str | None = None) -> list[dict]:
        """The stored mentions of `hits` (from `hybrid_legs`), in order, each with its hit's
        `score`. Taken by row id (about 2 ms, where a filter on `key` scans the table: 10).
        A row id stops naming its row once the row is updated or the table compacted, so the
        rows not found under their ids are read by key (and `where`); a mention deleted since
        the legs ran is left out."""
        if not hits or self._open(EMBEDDINGS_TABLE) is None:
            return []
        rows = _LOOP.run(self._rows(hits, where))
        return [{**rows[h["key"]], "score": h["score"]} for h in hits if h["key"] in rows]

    async def _rows(self, hits: Sequence[dict], where: str | None) -> dict[str, dict]:
        table = await self._open_for_async(EMBEDDINGS_TABLE)
        columns = ["key", *SEARCH_FIELDS]
        taken = await table.take_row_ids([h["row_id"] for h in hits]).select(columns).to_list()
        rows = {row["key"]: row for row in taken}
        moved = [h["key"] for h in hits if h["key"] not in rows]
        if moved:
            clauses = [in_list("key", moved), *([f"({where})"] if where else [])]
            query = table.query().where(all_of(clauses)).select(columns).limit(len(moved))
            rows.update((row["key"], row) for row in await query.to_list())
        return rows

    @staticmethod
    def _hits(query: Any, where: str | None, limit: int, column: str, score) -> list[dict]:
        if where:
            query = query.where(where, prefilter=True)
        hits = query.select(["key", *SEARCH_FIELDS, column]).limit(limit).to_list()
        for hit in hits:
            hit["score"] = score(hit.pop(column))
        return hits


async def _leg_hits(
    query: Any, where: str | None, limit: int, columns: list[str], column: str, score
) -> list[dict]:
    """One async leg's hits, best first, with `score` and `row_id` (filters apply before the
    search, as in the sync legs)."""
    if where:
        query = query.where(where)
    hits = await query.select([*columns, column]).with_row_id().limit(limit).to_list()
    for hit in hits:
        hit["score"] = score(hit.pop(column))
        hit["row_id"] = hit.pop("_rowid")
    return hits
