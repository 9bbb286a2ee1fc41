"""Arrow schemas of every table: the one definition imported by the store, assets and tests.

Each keyed table has a single non-nullable string `key` (LanceDB's unenforced primary key: the
only merge key that stayed duplicate-free under concurrent writers) and a `row_hash` over its
content columns, so a merge updates a row only when its content really changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

UTC_TS = pa.timestamp("us", tz="UTC")


def _key() -> pa.Field:
    return pa.field("key", pa.string(), nullable=False)


def _hash() -> pa.Field:
    return pa.field("row_hash", pa.string(), nullable=False)


@dataclass(frozen=True)
class TableSpec:
    name: str
    schema: pa.Schema
    key_columns: tuple[str, ...]
    # Columns whose change counts as new content; bookkeeping (run id, timestamps) is excluded so
    # a re-run with the same data updates nothing.
    content_columns: tuple[str, ...]
    bitmap_indexes: tuple[str, ...] = ()
    btree_indexes: tuple[str, ...] = ()
    fts_column: str | None = None
    vector_column: str | None = None

    def row_key(self, row: dict) -> str:
        """The row's `key`: its key columns joined by `|` (dates in ISO form)."""
        parts = []
        for column in self.key_columns:
            value = row.get(column)
            if value is None:
                raise ValueError(f"table {self.name}: key column {column!r} is empty in {row!r}")
            parts.append(value.isoformat() if isinstance(value, dt.date) else str(value))
        return "|".join(parts)

    def row_hash(self, row: dict) -> str:
        """sha256 over the content columns: equal content, equal hash, whatever the run."""
        content = [_jsonable(row.get(column)) for column in self.content_columns]
        return hashlib.sha256(json.dumps(content, default=str).encode()).hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


METRICS = TableSpec(
    name="metrics",
    schema=pa.schema(
        [
            _key(),
            pa.field("metric_id", pa.string(), nullable=False),
            pa.field("family", pa.string(), nullable=False),
            pa.field("product", pa.string(), nullable=False),
            pa.field("subject", pa.string(), nullable=False),
            pa.field("sdk", pa.string(), nullable=False),
            pa.field("source", pa.string(), nullable=False),
            pa.field("unit", pa.string(), nullable=False),
            pa.field("display_name", pa.string(), nullable=False),
            pa.field("active", pa.bool_(), nullable=False),
            pa.field("seed_column", pa.string()),
            pa.field("mirrors", pa.bool_(), nullable=False),
            pa.field("updated_at", UTC_TS, nullable=False),
            _hash(),
        ]
    ),
    key_columns=("metric_id",),
    content_columns=(
        "metric_id",
        "family",
        "product",
        "subject",
        "sdk",
        "source",
        "unit",
        "display_name",
        "active",
        "seed_column",
        "mirrors",
    ),
)

OBSERVATIONS = TableSpec(
    name="observations",
    schema=pa.schema(
        [
            _key(),
            pa.field("metric_id", pa.string(), nullable=False),
            pa.field("day", pa.date32(), nullable=False),
            pa.field("value", pa.int64(), nullable=False),
            # csv_seed | api: both are kept, weekly metrics prefer api for the same day.
            pa.field("provenance", pa.string(), nullable=False),
            pa.field("source_ref", pa.string(), nullable=False),
            pa.field("fetched_at", UTC_TS, nullable=False),
            pa.field("run_id", pa.string(), nullable=False),
            _hash(),
        ]
    ),
    key_columns=("metric_id", "day", "provenance"),
    content_columns=("metric_id", "day", "value", "provenance", "source_ref"),
    bitmap_indexes=("metric_id",),
    btree_indexes=("day",),
)

STATS = TableSpec(
    name="stats",
    schema=pa.schema(
        [
            _key(),
            pa.field("metric_id", pa.string(), nullable=False),
            # week (Monday..Sunday totals or week-end values) | discrete_snapshot (seeded)
            pa.field("source_window", pa.string(), nullable=False),
            pa.field("period_start", pa.date32()),
            pa.field("period_end", pa.date32(), nullable=False),
            pa.field("value", pa.int64(), nullable=False),
            pa.field("unit", pa.string(), nullable=False),
            pa.field("days_observed", pa.int32()),
            pa.field("is_carried_forward", pa.bool_(), nullable=False),
            pa.field("observed_on", pa.date32()),
            pa.field("provenance", pa.string(), nullable=False),
            pa.field("recomputed", pa.bool_(), nullable=False),
            pa.field("previous_value", pa.int64()),
            pa.field("run_id", pa.string(), nullable=False),
            pa.field("updated_at", UTC_TS, nullable=False),
            _hash(),
        ]
    ),
    key_columns=("metric_id", "source_window", "period_end"),
    content_columns=(
        "metric_id",
        "source_window",
        "period_start",
        "period_end",
        "value",
        "unit",
        "days_observed",
        "is_carried_forward",
        "observed_on",
        "provenance",
        "recomputed",
        "previous_value",
    ),
    bitmap_indexes=("metric_id", "source_window"),
    btree_indexes=("period_end",),
)

HISTORY = TableSpec(
    name="history",
    schema=pa.schema(
        [
            _key(),
            pa.field("run_id", pa.string(), nullable=False),
            pa.field("job_name", pa.string(), nullable=False),
            pa.field("assets", pa.list_(pa.string()), nullable=False),
            pa.field("partition_start", pa.string()),
            pa.field("partition_end", pa.string()),
            pa.field("started_at", UTC_TS, nullable=False),
            pa.field("finished_at", UTC_TS),
            # success | partial | failed
            pa.field("status", pa.string(), nullable=False),
            pa.field("rows_inserted", pa.int64(), nullable=False),
            pa.field("rows_updated", pa.int64(), nullable=False),
            # JSON object: metric_id (or file / asset) -> error message
            pa.field("error_summary", pa.string()),
            _hash(),
        ]
    ),
    key_columns=("run_id",),
    content_columns=(
        "run_id",
        "job_name",
        "assets",
        "partition_start",
        "partition_end",
        "started_at",
        "finished_at",
        "status",
        "rows_inserted",
        "rows_updated",
        "error_summary",
    ),
    btree_indexes=("started_at",),
)

_MENTION_FIELDS = [
    # hackernews | github | example (seed_data/mentions.jsonl)
    pa.field("source", pa.string(), nullable=False),
    pa.field("source_id", pa.string(), nullable=False),
    # story | comment | issue | pull_request | discussion
    pa.field("kind", pa.string(), nullable=False),
    pa.field("title", pa.string()),
    # plain text: HTML tags and entities removed
    pa.field("text", pa.string(), nullable=False),
    pa.field("url", pa.string()),
    pa.field("author", pa.string()),
    pa.field("occurred_at", UTC_TS, nullable=False),
    pa.field("products", pa.list_(pa.string()), nullable=False),
    # sha256 of title and text: what is embedded, so a change of points never re-embeds
    pa.field("content_hash", pa.string(), nullable=False),
]

# The mention fields the search table carries (and filters on) beside each vector.
SEARCH_FIELDS = tuple(f.name for f in _MENTION_FIELDS)

MENTIONS = TableSpec(
    name="mentions",
    schema=pa.schema(
        [
            _key(),
            *_MENTION_FIELDS,
            pa.field("points", pa.int64()),
            pa.field("comment_count", pa.int64()),
            # the Monday of occurred_at's week: the partition that fetched it
            pa.field("week", pa.date32(), nullable=False),
            pa.field("matched_terms", pa.list_(pa.string()), nullable=False),
            pa.field("metric_ids", pa.list_(pa.string()), nullable=False),
            pa.field("fetched_at", UTC_TS, nullable=False),
            pa.field("run_id", pa.string(), nullable=False),
            _hash(),
        ]
    ),
    key_columns=("source", "source_id"),
    content_columns=(
        *SEARCH_FIELDS,
        "points",
        "comment_count",
        "week",
        "matched_terms",
        "metric_ids",
    ),
    bitmap_indexes=("source",),
    btree_indexes=("week",),
)

EMBEDDINGS_TABLE = "mention_embeddings"


def embeddings_spec(dim: int) -> TableSpec:
    """The search table: one row per mention with its vector, the text searched by FTS
    (`document`) and the filter columns. Its vector width depends on the embedder, so the
    schema is built for the configured one; `embedder` is recorded on every row."""
    return TableSpec(
        name=EMBEDDINGS_TABLE,
        schema=pa.schema(
            [
                _key(),
                *_MENTION_FIELDS,
                pa.field("document", pa.string(), nullable=False),
                pa.field("embedder", pa.string(), nullable=False),
                pa.field("vector", pa.list_(pa.float32(), dim), nullable=False),
                pa.field("embedded_at", UTC_TS, nullable=False),
                _hash(),
            ]
        ),
        key_columns=("source", "source_id"),
        content_columns=(*SEARCH_FIELDS, "embedder"),
        bitmap_indexes=("source",),
        btree_indexes=("occurred_at",),
        fts_column="document",
        vector_column="vector",
    )


def embedding_row_hash(row: dict) -> str:
    """The search table's row hash (it does not depend on the vector width)."""
    return embeddings_spec(1).row_hash(row)


TABLES = {spec.name: spec for spec in (METRICS, OBSERVATIONS, STATS, HISTORY, MENTIONS)}
