"""Storage: LanceDB tables behind one `Store` class."""

from community_metrics.store.schemas import (
    EMBEDDINGS_TABLE,
    HISTORY,
    MENTIONS,
    METRICS,
    OBSERVATIONS,
    STATS,
    TABLES,
    TableSpec,
    embeddings_spec,
)
from community_metrics.store.store import (
    SEARCH_MODES,
    Store,
    StoreError,
    WriteResult,
    mention_filter,
)

__all__ = [
    "EMBEDDINGS_TABLE",
    "HISTORY",
    "MENTIONS",
    "METRICS",
    "OBSERVATIONS",
    "SEARCH_MODES",
    "STATS",
    "TABLES",
    "Store",
    "StoreError",
    "TableSpec",
    "WriteResult",
    "embeddings_spec",
    "mention_filter",
]
