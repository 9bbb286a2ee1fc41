"""Materialization metadata shared by every asset that writes a table."""

from __future__ import annotations

import dagster as dg

from community_metrics.store import WriteResult


def write_metadata(result: WriteResult, table_rows: int) -> dict:
    return {
        "dagster/row_count": dg.MetadataValue.int(result.rows),
        "table": dg.MetadataValue.text(result.table),
        "table_rows": dg.MetadataValue.int(table_rows),
        **{name: dg.MetadataValue.int(value) for name, value in result.as_metadata().items()},
    }
