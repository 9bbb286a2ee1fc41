"""The weekly raw mentions asset: Hacker News and GitHub mentions of each product into
`mentions`, keyed by source and id, so a re-run updates what moved (points, comments) without
duplicating anything. Unavailable sources (discussions without a token) are noted, not zero.

Computed by the sources' multi-asset (sources/assets.py) in a thread of its own beside the
download and star sources, so a run waits for the slowest source, not for their sum; this
module says what the asset is and what its materialization reports.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from community_metrics.mentions.fetch import MentionFetch
from community_metrics.mentions.records import mention_row
from community_metrics.partitions import WEEKLY
from community_metrics.seed.assets import metric_catalog
from community_metrics.store import MENTIONS, StoreWriter, WriteResult
from community_metrics.tracking import write_metadata

MENTIONS_ASSET = "mentions"

mentions = dg.AssetSpec(
    MENTIONS_ASSET,
    group_name="sources",
    kinds={"lancedb", "api"},
    deps=[metric_catalog],
    partitions_def=WEEKLY,
    description="Hacker News stories and comments, GitHub issues and discussions mentioning "
    "each product's search terms (catalog [products.NAME]).",
)


def write_mentions(store: StoreWriter, got: MentionFetch, catalog, run_id: str) -> WriteResult:
    """Upsert what the searches found (by source and id: a re-run updates in place)."""
    now = dt.datetime.now(dt.UTC)
    return store.upsert(MENTIONS, [mention_row(f, catalog, now, run_id) for f in got.found])


def mentions_result(
    store: StoreWriter,
    got: MentionFetch,
    result: WriteResult,
    terms: list[str],
    window: tuple[dt.datetime, dt.datetime],
) -> dg.MaterializeResult:
    start, end = window
    return dg.MaterializeResult(
        asset_key=MENTIONS_ASSET,
        metadata={
            **write_metadata(result, store.count_rows(MENTIONS)),
            "search_terms": dg.MetadataValue.json(terms),
            "found": dg.MetadataValue.json(got.counts),
            "notes": dg.MetadataValue.json(got.notes),
            # per search that failed: the run fails once the weeks are written
            "errors": dg.MetadataValue.json(got.errors),
            "requests": dg.MetadataValue.int(got.requests),
            "window": dg.MetadataValue.text(f"{start.date()}..{end.date()} (end exclusive)"),
        },
    )
