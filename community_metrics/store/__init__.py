"""Storage: LanceDB tables behind one `Store` class."""

from community_metrics.store.schemas import HISTORY, METRICS, OBSERVATIONS, STATS, TABLES, TableSpec
from community_metrics.store.store import Store, StoreError, WriteResult

__all__ = [
    "HISTORY",
    "METRICS",
    "OBSERVATIONS",
    "STATS",
    "TABLES",
    "Store",
    "StoreError",
    "TableSpec",
    "WriteResult",
]
