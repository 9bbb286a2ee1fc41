"""The weekly raw mentions asset: Hacker News and GitHub mentions of each product into
`mentions`, keyed by source and id, so a re-run updates what moved (points, comments) without
duplicating anything. Unavailable sources (discussions without a token) are noted, not zero.
"""

import datetime as dt

import dagster as dg
import httpx

from community_metrics.mentions.records import mention_row
from community_metrics.resources import MetricsResources
from community_metrics.seed.assets import metric_catalog
from community_metrics.sources.http import NotAvailable, SourceError
from community_metrics.store import MENTIONS
from community_metrics.tracking import failure, store_asset, tracked, write_metadata


@store_asset(
    group="sources",
    kinds={"api"},
    weekly=True,
    deps=[metric_catalog],
    pool="lancedb_mentions",
    description="Hacker News stories and comments, GitHub issues and discussions mentioning "
    "each product's search terms (catalog [products.NAME]).",
)
def mentions(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    cm: MetricsResources = context.resources.cm
    store = cm.store
    catalog = cm.catalog
    terms = catalog.search_terms()
    start, end = context.partition_time_window  # [first Monday, Monday after the last), UTC
    clients = cm.clients()
    searches = {
        "hackernews": clients.hackernews.search,
        "github issues": clients.github_search.issues,
        "github discussions": clients.github_search.discussions,
    }
    found, counts = [], {}
    notes = {} if terms else {"catalog": "no [products.NAME] search_terms: nothing searched"}
    with tracked(context, store) as outcome:
        try:
            for name, search in searches.items() if terms else ():
                try:
                    hits = search(terms, start, end)
                except NotAvailable as exc:
                    notes[name] = f"not available: {exc}"
                    continue
                except (SourceError, httpx.HTTPError) as exc:
                    outcome.errors[name] = str(exc)
                    context.log.error(f"{name}: {exc}")
                    continue
                counts[name] = len(hits)
                found.extend(hits)
        finally:
            clients.close()
        now = dt.datetime.now(dt.UTC)
        rows = [mention_row(f, catalog, now, context.run.run_id) for f in found]
        result = outcome.add(store.upsert(MENTIONS, rows))
        if outcome.errors:
            raise failure(outcome, "mention source errors", partial=bool(counts))
    return dg.MaterializeResult(
        metadata={
            **write_metadata(result, store.count_rows(MENTIONS)),
            "search_terms": dg.MetadataValue.json(terms),
            "found": dg.MetadataValue.json(counts),
            "notes": dg.MetadataValue.json(notes),
            "requests": dg.MetadataValue.int(sum(clients.requests().values())),
            "window": dg.MetadataValue.text(f"{start.date()}..{end.date()} (end exclusive)"),
        }
    )
