"""The resource assets use to reach settings, the catalog and the store."""

from __future__ import annotations

from community_metrics.catalog import Catalog, load_catalog
from community_metrics.config import Settings
from community_metrics.sources.clients import SourceClients, build_clients
from community_metrics.store import Store


class MetricsResources:
    """Settings plus lazily opened store; the catalog is re-read on each use so edits apply."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            store = Store.connect(self.settings)
            store.ensure_tables()
            self._store = store
        return self._store

    def catalog(self) -> Catalog:
        return load_catalog(self.settings.seed_dir)

    def clients(self) -> SourceClients:
        """Fresh source clients (their own connections and request counters) for one asset."""
        return build_clients(self.settings.sources)
