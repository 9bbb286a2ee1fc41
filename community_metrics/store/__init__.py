"""Storage: the only package that knows LanceDB. A `StoreReader` reads; a `StoreWriter`
(assets only) also writes."""

from community_metrics.store.filters import StoreError, mention_filter
from community_metrics.store.reader import StoreReader, TableInfo
from community_metrics.store.schemas import (
    EMBEDDINGS_TABLE,
    HISTORY,
    MENTIONS,
    METRICS,
    OBSERVATIONS,
    SEARCH_FIELDS,
    STATS,
    TABLES,
    TableSpec,
    embedding_row_hash,
    embeddings_spec,
)
from community_metrics.store.writer import Maintenance, StoreWriter, WriteResult

__all__ = [
    "EMBEDDINGS_TABLE",
    "HISTORY",
    "MENTIONS",
    "METRICS",
    "OBSERVATIONS",
    "SEARCH_FIELDS",
    "STATS",
    "TABLES",
    "Maintenance",
    "StoreError",
    "StoreReader",
    "StoreWriter",
    "TableInfo",
    "TableSpec",
    "WriteResult",
    "embedding_row_hash",
    "embeddings_spec",
    "mention_filter",
]
