"""The write face of the store, used by the assets only.

Writes go through `StoreWriter.upsert`: the batch is validated against the table's Arrow schema,
de-duplicated on `key`, hashed, and merged in ONE `merge_insert("key")` commit that updates a
matched row only when its `row_hash` differs. That gives atomic, idempotent writes: a crash
leaves the before or the after state, and a re-run reports 0 inserted and 0 updated.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from lancedb.index import FTS, Bitmap, BTree, IvfFlat

from community_metrics.config import Settings
from community_metrics.store.filters import StoreError
from community_metrics.store.reader import StoreReader, async_opener, open_database
from community_metrics.store.schemas import EMBEDDINGS_TABLE, TABLES, TableSpec, embeddings_spec


@dataclass(frozen=True)
class Maintenance:
    """When a write builds indexes and compacts, chosen by measurement.

    Vector index: at 100k mentions IVF_FLAT over cosine distance kept recall@10 at 1.0 against
    brute force (IVF_HNSW_SQ 0.99, IVF_PQ with defaults 0.67) and builds in seconds; below
    `vector_index_min_rows` brute force is exact and fast enough (about 20 ms at 10k rows).
    Compaction: `optimize()` costs 50-90 ms a call while a dashboard read over 1,000 metrics
    went from 2.0 ms (compacted) to 3.6 ms at 16 small fragments, 4.5 ms at 32 and 8.1 ms at 64
    (bench/compaction.py), so a table is compacted once it has `compact_small_fragments`
    small fragments, or once more than `max_unindexed_share` of its rows (and at least
    `min_unindexed_rows`, which a scan reads in a few ms) are outside an index (a bulk load),
    rather than after every write. Rows written since the last compaction are
    still found: Lance scans what its indexes do not cover yet.
    """

    vector_index_min_rows: int = 10_000
    compact_small_fragments: int = 16
    max_unindexed_share: float = 0.1
    min_unindexed_rows: int = 5_000


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


def vector_index_config(rows: int) -> IvfFlat:
    return IvfFlat(distance_type="cosine", num_partitions=max(1, round(math.sqrt(rows))))


def _concurrently(maintain) -> None:
    """Run an index build or compaction; if another writer's commit preempted it, that writer
    did the same upkeep (or the next write will), so the conflict is not an error. The data
    commit before it has already succeeded."""
    try:
        maintain()
    except RuntimeError as exc:
        if "Retryable commit conflict" not in str(exc):
            raise


class StoreWriter(StoreReader):
    """A reader that may also create tables, merge rows, and build indexes."""

    def __init__(
        self,
        db: Any,
        description: str,
        open_async: Callable[[], Awaitable[Any]],
        maintenance: Maintenance = Maintenance(),
    ):
        super().__init__(db, description, open_async)
        self.maintenance = maintenance

    @classmethod
    def connect(cls, settings: Settings, maintenance: Maintenance = Maintenance()):
        return cls(
            open_database(settings), settings.describe(), async_opener(settings), maintenance
        )

    # -- tables -----------------------------------------------------------------------------

    def ensure_tables(self) -> None:
        """Create missing tables with their schema and primary key; check existing ones."""
        existing = set(self.table_names())
        for spec in TABLES.values():
            if spec.name in existing:
                self._check_schema(spec, self._db.open_table(spec.name))
                continue
            table = self._db.create_table(spec.name, schema=spec.schema, exist_ok=True)
            table.set_unenforced_primary_key("key")
            self._handles[spec.name] = table

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
        table = self._open(spec.name)
        if table is None:
            self.ensure_tables()
            table = self._open(spec.name)
        return table

    # -- writes -----------------------------------------------------------------------------

    def prepare(self, spec: TableSpec, rows: Sequence[dict]) -> pa.Table:
        """Key, hash, de-duplicate and cast rows to the table schema; refuse conflicting keys."""
        by_key: dict[str, dict] = {}
        for row in rows:
            extra = set(row) - set(spec.schema.names)
            if extra:
                raise StoreError(f"table {spec.name}: unknown column(s) {sorted(extra)}")
            try:
                full = {**row, "key": spec.row_key(row), "row_hash": spec.row_hash(row)}
            except ValueError as exc:
                raise StoreError(str(exc)) from exc
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
        """Build the indexes a table lacks; compact it once small fragments pile up
        (`optimize()` also folds rows written since an index was built into it)."""
        rows = table.count_rows()
        if rows == 0:
            return
        indexes = table.list_indices()
        have = {column for index in indexes for column in index.columns}
        wanted = [
            *((column, Bitmap()) for column in spec.bitmap_indexes),
            *((column, BTree()) for column in spec.btree_indexes),
            *([(spec.fts_column, FTS())] if spec.fts_column else []),
        ]
        vector = spec.vector_column
        if vector and rows >= self.maintenance.vector_index_min_rows:
            wanted.append((vector, vector_index_config(rows)))
        for column, config in wanted:
            if column not in have:
                _concurrently(lambda c=column, k=config: table.create_index(c, config=k))
        policy = self.maintenance
        small = table.stats()["fragment_stats"]["num_small_fragments"]
        unindexed = max((index.num_unindexed_rows or 0 for index in indexes), default=0)
        unindexed_limit = max(policy.max_unindexed_share * rows, policy.min_unindexed_rows)
        if small >= policy.compact_small_fragments or unindexed > unindexed_limit:
            _concurrently(table.optimize)

    # -- the search table -------------------------------------------------------------------

    def write_embeddings(self, rows: Sequence[dict], dim: int, *, replace: bool) -> WriteResult:
        """Merge embedded mentions; `replace` rewrites the whole table in ONE commit (a new
        embedder: vectors of two models never share a table)."""
        spec = embeddings_spec(dim)
        table = self._open(EMBEDDINGS_TABLE)
        if table is not None and not replace:
            have = table.schema.field("vector").type.list_size
            if have != dim:
                raise StoreError(
                    f"table {EMBEDDINGS_TABLE} holds {have}-dim vectors, these are {dim}-dim: "
                    "re-embed everything (replace=True) instead of mixing models"
                )
            return self.upsert(spec, rows)
        batch = self.prepare(spec, rows)
        # "create" when there is none: Lance warns on overwriting a dataset that does not exist
        mode = "create" if table is None else "overwrite"
        table = self._db.create_table(EMBEDDINGS_TABLE, data=batch, schema=spec.schema, mode=mode)
        table.set_unenforced_primary_key("key")
        self._handles[EMBEDDINGS_TABLE] = table
        self._maintain(spec, table)
        return WriteResult(spec.name, batch.num_rows, batch.num_rows, 0, 0, table.version)

    def build_vector_index(self, config: Any | None = None) -> str:
        """(Re)build the search table's vector index (default: the measured choice)."""
        table = self._open(EMBEDDINGS_TABLE)
        if table is None:
            raise StoreError(f"no {EMBEDDINGS_TABLE} table yet: embed mentions first")
        config = config or vector_index_config(table.count_rows())
        table.create_index("vector", config=config, replace=True)
        return repr(config)
