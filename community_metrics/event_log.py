"""Dagster event log storages that write a batch of asset events in one transaction.

A range run emits, for every asset and week, one "materialization planned" event at launch and
one materialization at the end: 2,000 events for a 3-year backfill. Dagster hands them to the
storage in batches (when `DAGSTER_EVENT_BATCH_SIZE` is set), but its SQLite storage and its
Postgres storage for planned events still write them one at a time, each in its own
transactions: on this machine's disk, fsync-bound commits cost 15-50 ms an event on SQLite,
most of a backfill's wall time (bench/backfill_3y.py). These subclasses write the same rows
with the same Dagster methods, one transaction per shard per batch; anything else (a mixed
batch, another event type) goes to Dagster's own code.

Configured in dagster.yaml (`event_log_storage:`) for the embedded default and in deploy/;
`EVENT_BATCH_ENV` in runner.py (and the Dockerfile, deploy/'s units) sets the batch size in
every Dagster process we start.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

BATCHED = {DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_MATERIALIZATION_PLANNED}


def _split(events: Sequence[EventLogEntry], types=BATCHED):
    """The events written here (of those types, each of an asset, all of one run) and the
    rest, left to Dagster's code (its batch of planned events also holds the checks')."""
    ours = [
        e
        for e in events
        if e.is_dagster_event
        and e.get_dagster_event().event_type in types
        and e.get_dagster_event().asset_key
    ]
    if len({e.run_id for e in ours}) > 1:
        return [], list(events)
    kept = {id(e) for e in ours}
    return ours, [e for e in events if id(e) not in kept]


def _last_of_each_asset(events: Sequence[EventLogEntry], event_ids: Sequence[int]):
    """The last event of each asset and type: the asset's row keeps only the latest one (last
    materialization, last planned run), so writing the others would be overwritten at once.
    Dagster's own Postgres batch of materializations writes only the last event too."""
    last = {}
    for event, event_id in zip(events, event_ids, strict=True):
        last[(event.get_dagster_event().asset_key, event.get_dagster_event().event_type)] = (
            event,
            event_id,
        )
    return sorted(last.values(), key=lambda pair: pair[1])


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log (runs in per-run files, asset events mirrored in the index
    file), with a batch written in one transaction per file instead of two per event."""

    def __init__(self, base_dir: str | None = None, inst_data=None):
        # Dagster's own default place: $DAGSTER_HOME/storage.
        base_dir = base_dir or os.path.join(os.environ["DAGSTER_HOME"], "storage")
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def config_type(cls):
        return {"base_dir": dg.Field(dg.StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(config_value.get("base_dir"), inst_data=inst_data)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        events, rest = _split(events)
        if rest:
            super().store_event_batch(rest)
        if not events:
            return
        # Each row as Dagster's own insert makes it, written with one executemany per file.
        rows = [self._event_to_row(e) for e in events]
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        with self.index_transaction() as conn:
            inserted = conn.execute(
                SqlEventLogStorageTable.insert().returning(
                    SqlEventLogStorageTable.c.id, sort_by_parameter_order=True
                ),
                rows,
            )
            event_ids = [row[0] for row in inserted]
            self._store_asset_event_tags(conn, events, event_ids)
            for event, event_id in _last_of_each_asset(events, event_ids):
                self._store_asset_event(conn, event, event_id)


try:  # dagster-postgres comes with the `production` extra
    from dagster_postgres.event_log import PostgresEventLogStorage
except ImportError:  # pragma: no cover - the embedded default does not need it
    PostgresEventLogStorage = None

if PostgresEventLogStorage is not None:

    class BatchedPostgresEventLogStorage(PostgresEventLogStorage):
        """Dagster's Postgres event log, with planned events batched as Dagster batches
        materializations: one transaction for the events, one for the index."""

        @classmethod
        def from_config_value(cls, inst_data, config_value):
            # The parent builds a PostgresEventLogStorage by name, not `cls`.
            from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

            return cls(
                inst_data=inst_data,
                postgres_url=pg_url_from_config(config_value),
                should_autocreate_tables=config_value.get("should_autocreate_tables", True),
                token_provider=get_token_provider_from_config(config_value),
            )

        def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
            events, rest = _split(events, {DagsterEventType.ASSET_MATERIALIZATION_PLANNED})
            if rest:
                super().store_event_batch(rest)
            if not events:
                return
            with self._connect() as conn:
                result = conn.execute(
                    self.prepare_insert_event_batch(events).returning(SqlEventLogStorageTable.c.id)
                )
                event_ids = [int(row[0]) for row in result.fetchall()]
            with self.index_transaction() as conn:
                self._store_asset_event_tags(conn, events, event_ids)
                for event, event_id in _last_of_each_asset(events, event_ids):
                    self._store_asset_event(conn, event, event_id)
