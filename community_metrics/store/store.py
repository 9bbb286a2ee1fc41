"""The only module that knows LanceDB.

Writes go through `Store.upsert`: the batch is validated against the table's Arrow schema,
de-duplicated on `key`, hashed, and merged in ONE `merge_insert("key")` commit that updates a
matched row only when its `row_hash` differs. That gives atomic, idempotent writes: a crash
leaves the before or the after state, and a re-run reports 0 inserted and 0 updated.
Filters are built here from typed values only; nothing is pasted into a predicate unchecked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import lancedb
import pyarrow as pa
from lancedb.index import FTS, Bitmap, BTree, IvfFlat

from community_metrics.config import Settings
from community_metrics.store.schemas import (
    EMBEDDINGS_TABLE,
    HISTORY,
    MENTIONS,
    OBSERVATIONS,
    SEARCH_FIELDS,
    STATS,
    TABLES,
    TableSpec,
    embeddings_spec,
)

# Vector index, chosen by measurement (bench/search_100k.py, README "Search"): at 100k mentions
# IVF_FLAT over cosine distance kept recall@10 at 1.0 against brute force (IVF_HNSW_SQ 0.99,
# IVF_PQ with defaults 0.67) and builds in seconds. Below VECTOR_INDEX_MIN_ROWS brute force is
# exact and fast enough (about 20 ms at 10k rows).
VECTOR_INDEX_MIN_ROWS = 10_000
NPROBES = 20
RRF_K = 60
SEARCH_MODES = ("semantic", "keyword", "hybrid")

_SAFE_LITERAL = re.compile(r"^[A-Za-z0-9_.:/@| -]{1,200}$")


class StoreError(RuntimeError):
    """A write or read the store refuses; the message says which table and why."""


@dataclass(frozen=True)
class WriteResult:
    table: str
    rows: int
    inserted: int
    updated: int
    deleted: int
    version: int

    @classmethod
    def total(cls, writes: Sequence[WriteResult]) -> WriteResult:
        """Several commits to one table as one result (the last version)."""
        return cls(
            writes[-1].table,
            sum(w.rows for w in writes),
            sum(w.inserted for w in writes),
            sum(w.updated for w in writes),
            sum(w.deleted for w in writes),
            writes[-1].version,
        )

    def as_metadata(self) -> dict[str, int]:
        return {
            "rows_inserted": self.inserted,
            "rows_updated": self.updated,
            "rows_deleted": self.deleted,
            "table_version": self.version,
        }


def row_key(spec: TableSpec, row: dict) -> str:
    parts = []
    for column in spec.key_columns:
        value = row.get(column)
        if value is None:
            raise StoreError(f"table {spec.name}: key column {column!r} is empty in row {row!r}")
        parts.append(value.isoformat() if isinstance(value, dt.date) else str(value))
    return "|".join(parts)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def row_hash(spec: TableSpec, row: dict) -> str:
    content = [_jsonable(row.get(column)) for column in spec.content_columns]
    return hashlib.sha256(json.dumps(content, default=str).encode()).hexdigest()


def sql_string(value: str) -> str:
    """A string literal for a filter; only identifier-like values are accepted."""
    if not isinstance(value, str) or not _SAFE_LITERAL.match(value):
        raise StoreError(f"refusing to filter on {value!r}: not a valid identifier")
    return "'" + value.replace("'", "''") + "'"


def sql_date(value: dt.date) -> str:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise StoreError(f"expected a date for a date filter, got {value!r}")
    return f"date '{value.isoformat()}'"


def _in_list(column: str, values: Iterable[str]) -> str:
    literals = sorted({sql_string(v) for v in values})
    if not literals:
        raise StoreError(f"empty list of values to filter {column} on")
    return f"{column} IN ({', '.join(literals)})"


def vector_index_config(rows: int) -> IvfFlat:
    return IvfFlat(distance_type="cosine", num_partitions=max(1, round(math.sqrt(rows))))


def mention_filter(
    products: Sequence[str] = (),
    sources: Sequence[str] = (),
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> str | None:
    """A predicate over the search table: any of the products, any of the sources, and
    start <= occurred_at's day <= end (UTC)."""
    clauses = []
    if products:
        clauses.append(
            "(" + " OR ".join(f"array_has(products, {sql_string(p)})" for p in products) + ")"
        )
    if sources:
        clauses.append(_in_list("source", sources))
    if start is not None:
        clauses.append(f"occurred_at >= timestamp '{_midnight(start)}'")
    if end is not None:
        clauses.append(f"occurred_at < timestamp '{_midnight(end + dt.timedelta(days=1))}'")
    return " AND ".join(clauses) or None


def _midnight(day: dt.date) -> str:
    sql_date(day)  # validates the type
    return f"{day.isoformat()} 00:00:00+00:00"


class Store:
    """A handle on the project's LanceDB database; `connect` opens it from settings."""

    def __init__(self, db: Any, description: str):
        self._db = db
        self.description = description

    @classmethod
    def connect(cls, settings: Settings) -> Store:
        # Consistency interval 0: a long-lived handle (API, daemon) sees other writers' commits.
        consistency = dt.timedelta(0)
        if settings.storage_mode == "enterprise":
            db = lancedb.connect(
                settings.db_uri,
                api_key=settings.lancedb_api_key,
                region=settings.lancedb_region,
                host_override=settings.lancedb_host_override,
                read_consistency_interval=consistency,
            )
        else:
            db = lancedb.connect(
                settings.db_uri,
                storage_options=dict(settings.storage_options) or None,
                read_consistency_interval=consistency,
            )
        return cls(db, settings.describe())

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

    def ensure_tables(self) -> None:
        """Create missing tables with their schema and primary key; check existing ones."""
        existing = set(self.table_names())
        for spec in TABLES.values():
            if spec.name in existing:
                self._check_schema(spec, self._db.open_table(spec.name))
                continue
            table = self._db.create_table(spec.name, schema=spec.schema, exist_ok=True)
            table.set_unenforced_primary_key("key")

    def _check_schema(self, spec: TableSpec, table: Any) -> None:
        have = table.schema
        if [f.name for f in have] != spec.schema.names or any(
            have.field(f.name).type != f.type for f in spec.schema
        ):
            raise StoreError(
                f"table {spec.name!r} in {self.description} has schema {have.names}, expected "
                f"{spec.schema.names}: it was written by another version of community-metrics; "
                "migrate it or point CM_DB_PATH at a new database."
            )

    def _table(self, spec: TableSpec) -> Any:
        try:
            return self._db.open_table(spec.name)
        except (ValueError, FileNotFoundError):
            self.ensure_tables()
            return self._db.open_table(spec.name)

    def table_info(self) -> list[dict]:
        existing = set(self.table_names())
        info = []
        for spec in TABLES.values():
            if spec.name not in existing:
                info.append({"table": spec.name, "rows": 0, "version": None})
                continue
            table = self._db.open_table(spec.name)
            info.append({"table": spec.name, "rows": table.count_rows(), "version": table.version})
        if EMBEDDINGS_TABLE in existing:
            table = self._db.open_table(EMBEDDINGS_TABLE)
            info.append(
                {"table": EMBEDDINGS_TABLE, "rows": table.count_rows(), "version": table.version}
            )
        return info

    def count_rows(self, spec: TableSpec) -> int:
        if spec.name not in self.table_names():
            return 0
        return self._db.open_table(spec.name).count_rows()

    # -- writes -----------------------------------------------------------------------------

    def prepare(self, spec: TableSpec, rows: Sequence[dict]) -> pa.Table:
        """Key, hash, de-duplicate and cast rows to the table schema; refuse conflicting keys."""
        by_key: dict[str, dict] = {}
        for row in rows:
            extra = set(row) - set(spec.schema.names)
            if extra:
                raise StoreError(f"table {spec.name}: unknown column(s) {sorted(extra)}")
            full = dict(row)
            full["key"] = row_key(spec, row)
            full["row_hash"] = row_hash(spec, row)
            previous = by_key.get(full["key"])
            if previous is not None and previous["row_hash"] != full["row_hash"]:
                raise StoreError(
                    f"table {spec.name}: two different rows for key {full['key']!r} in one batch"
                )
            by_key[full["key"]] = full
        try:
            batch = pa.Table.from_pylist(list(by_key.values()), schema=spec.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise StoreError(f"table {spec.name}: rows do not match the schema: {exc}") from exc
        for fld in spec.schema:
            if not fld.nullable and batch.column(fld.name).null_count:
                raise StoreError(f"table {spec.name}: column {fld.name!r} must not be empty")
        return batch

    def upsert(self, spec: TableSpec, rows: Sequence[dict], *, mirror: bool = False) -> WriteResult:
        """Merge rows in one atomic commit; with mirror=True also delete rows not in `rows`."""
        batch = self.prepare(spec, rows)
        table = self._table(spec)
        if batch.num_rows == 0 and not mirror:
            return WriteResult(spec.name, 0, 0, 0, 0, table.version)
        merge = (
            table.merge_insert("key")
            .when_matched_update_all(where="target.row_hash != source.row_hash")
            .when_not_matched_insert_all()
        )
        if mirror:
            merge = merge.when_not_matched_by_source_delete()
        result = merge.execute(batch)
        self._maintain(spec, table)
        return WriteResult(
            spec.name,
            batch.num_rows,
            result.num_inserted_rows,
            result.num_updated_rows,
            result.num_deleted_rows,
            table.version,
        )

    def _maintain(self, spec: TableSpec, table: Any) -> None:
        """Build missing indexes and compact, so reads stay fast as versions pile up.

        `optimize()` also folds rows added since an index was built into it."""
        rows = table.count_rows()
        if rows == 0:
            return
        have = {column for index in table.list_indices() for column in index.columns}
        for column in spec.bitmap_indexes:
            if column not in have:
                table.create_index(column, config=Bitmap())
        for column in spec.btree_indexes:
            if column not in have:
                table.create_index(column, config=BTree())
        if spec.fts_column and spec.fts_column not in have:
            table.create_index(spec.fts_column, config=FTS())
        vector = spec.vector_column
        if vector and vector not in have and rows >= VECTOR_INDEX_MIN_ROWS:
            table.create_index(vector, config=vector_index_config(rows))
        table.optimize()

    # -- reads ------------------------------------------------------------------------------

    def _query(self, spec: TableSpec, where: str | None, columns: Sequence[str] | None) -> pa.Table:
        if spec.name not in self.table_names():
            return spec.schema.empty_table()
        table = self._db.open_table(spec.name)
        query = table.search()
        if where:
            query = query.where(where)
        if columns:
            query = query.select(list(columns))
        return query.limit(None).to_arrow()

    def read_all(self, spec: TableSpec) -> list[dict]:
        return self._query(spec, None, None).to_pylist()

    def observations(
        self,
        metric_ids: Iterable[str],
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> list[dict]:
        """Observations of the metrics with start <= day <= end (either bound optional)."""
        clauses = [_in_list("metric_id", metric_ids)]
        if start is not None:
            clauses.append(f"day >= {sql_date(start)}")
        if end is not None:
            clauses.append(f"day <= {sql_date(end)}")
        return self._query(OBSERVATIONS, " AND ".join(clauses), None).to_pylist()

    def stats(
        self,
        metric_ids: Iterable[str] | None = None,
        source_window: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> list[dict]:
        """Stats rows filtered by metric, window and start <= period_end <= end."""
        clauses = []
        if metric_ids is not None:
            clauses.append(_in_list("metric_id", metric_ids))
        if source_window is not None:
            clauses.append(f"source_window = {sql_string(source_window)}")
        if start is not None:
            clauses.append(f"period_end >= {sql_date(start)}")
        if end is not None:
            clauses.append(f"period_end <= {sql_date(end)}")
        return self._query(STATS, " AND ".join(clauses) or None, None).to_pylist()

    def mentions(self, columns: Sequence[str] | None = None) -> list[dict]:
        return self._query(MENTIONS, None, columns).to_pylist()

    # -- mention embeddings (the search table) ------------------------------------------------

    def _embeddings(self) -> Any | None:
        if EMBEDDINGS_TABLE not in self.table_names():
            return None
        return self._db.open_table(EMBEDDINGS_TABLE)

    def embeddings_info(self) -> dict:
        """Rows, vector width, the embedders present and the indexes of the search table."""
        table = self._embeddings()
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
        new one rewrites the table in one commit), so this is cheap enough for every query."""
        table = self._embeddings()
        if table is None:
            return None
        rows = table.search().select(["embedder"]).limit(1).to_list()
        return rows[0]["embedder"] if rows else None

    def embedding_hashes(self) -> dict[str, tuple[str, str]]:
        """key -> (row_hash, content_hash) of every embedded mention."""
        table = self._embeddings()
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
        table = self._embeddings()
        if table is None or not keys:
            return {}
        rows = (
            table.search()
            .where(_in_list("key", keys))
            .select(["key", "vector"])
            .limit(None)
            .to_arrow()
        )
        return dict(zip(rows["key"].to_pylist(), rows["vector"].to_pylist(), strict=True))

    def write_embeddings(self, rows: Sequence[dict], dim: int, *, replace: bool) -> WriteResult:
        """Merge embedded mentions; `replace` rewrites the whole table in ONE commit (a new
        embedder: vectors of two models never share a table)."""
        spec = embeddings_spec(dim)
        table = self._embeddings()
        if table is not None and not replace:
            have = table.schema.field("vector").type.list_size
            if have != dim:
                raise StoreError(
                    f"table {EMBEDDINGS_TABLE} holds {have}-dim vectors, these are {dim}-dim: "
                    "re-embed everything (replace=True) instead of mixing models"
                )
            return self.upsert(spec, rows)
        batch = self.prepare(spec, rows)
        table = self._db.create_table(
            EMBEDDINGS_TABLE, data=batch, schema=spec.schema, mode="overwrite"
        )
        table.set_unenforced_primary_key("key")
        self._maintain(spec, table)
        return WriteResult(spec.name, batch.num_rows, batch.num_rows, 0, 0, table.version)

    def build_vector_index(self, config: Any | None = None) -> str:
        """(Re)build the search table's vector index (default: the measured choice)."""
        table = self._embeddings()
        if table is None:
            raise StoreError(f"no {EMBEDDINGS_TABLE} table yet: embed mentions first")
        config = config or vector_index_config(table.count_rows())
        table.create_index("vector", config=config, replace=True)
        return repr(config)

    def search_mentions(
        self,
        mode: str,
        *,
        vector: Sequence[float] | None = None,
        text: str | None = None,
        where: str | None = None,
        limit: int = 10,
        exact: bool = False,
    ) -> list[dict]:
        """Hits of the search table, best first, each with `score` (higher is better):
        1 - cosine distance (semantic), BM25 (keyword) or reciprocal-rank fusion (hybrid)."""
        if mode not in SEARCH_MODES:
            raise StoreError(f"unknown search mode {mode!r}: use one of {', '.join(SEARCH_MODES)}")
        table = self._embeddings()
        if table is None:
            return []
        if mode == "hybrid":
            # Reciprocal rank fusion of both rankings, each fetched deeper than `limit` so an
            # item ranked well by one and poorly by the other still has a rank on both sides.
            depth = max(limit * 4, 40)
            ranked = [
                self.search_mentions(
                    sub, vector=vector, text=text, where=where, limit=depth, exact=exact
                )
                for sub in ("semantic", "keyword")
            ]
            fused: dict[str, dict] = {}
            for hits in ranked:
                for rank, hit in enumerate(hits, start=1):
                    kept = fused.setdefault(hit["key"], {**hit, "score": 0.0})
                    kept["score"] += 1.0 / (RRF_K + rank)
            return sorted(fused.values(), key=lambda h: (-h["score"], h["key"]))[:limit]
        columns = ["key", *SEARCH_FIELDS]
        if mode == "semantic":
            query = table.search(list(vector), vector_column_name="vector").distance_type("cosine")
            query = query.bypass_vector_index() if exact else query.nprobes(NPROBES)
            columns.append("_distance")
        else:
            query = table.search(text, query_type="fts", fts_columns="document")
            columns.append("_score")
        if where:
            query = query.where(where, prefilter=True)
        hits = query.select(columns).limit(limit).to_list()
        for hit in hits:
            distance = hit.pop("_distance", None)
            bm25 = hit.pop("_score", None)
            hit["score"] = 1.0 - distance if distance is not None else bm25
        return hits

    def history(self, run_id: str | None = None, limit: int | None = None) -> list[dict]:
        where = f"run_id = {sql_string(run_id)}" if run_id else None
        rows = self._query(HISTORY, where, None).to_pylist()
        rows.sort(key=lambda r: r["started_at"], reverse=True)
        return rows[:limit] if limit else rows
