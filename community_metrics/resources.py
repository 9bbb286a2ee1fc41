"""The resource assets use to reach settings, the catalog and the store's writer."""

from __future__ import annotations

from community_metrics.catalog import Catalog
from community_metrics.config import Settings
from community_metrics.sources.clients import SourceClients, build_clients
from community_metrics.store import StoreWriter


class MetricsResources:
    """Settings, the catalog the code location validated at load, and a lazily opened writer.

    Every run loads the code location anew (a CLI command, a run worker of the daemon or UI),
    so an edited catalog applies to the next run; within a run every asset sees the same one.
    """

    def __init__(self, settings: Settings, catalog: Catalog):
        self.settings = settings
        self.catalog = catalog
        self._store: StoreWriter | None = None

    @property
    def store(self) -> StoreWriter:
        if self._store is None:
            store = StoreWriter.connect(self.settings)
            store.ensure_tables()
            self._store = store
        return self._store

    def clients(self) -> SourceClients:
        """Fresh source clients (their own connections and request counters) for one asset."""
        return build_clients(self.settings.sources)
