"""One week range of mention searches: what each search found, what it could not serve.
Plain Python over the clients: no Dagster.

A search that fails does not stop the others: what they found is kept, and the failure is an
error for the run to report. A search that needs a credential it lacks (discussions without a
token) is a note, not an error and not zero mentions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import httpx

from community_metrics.sources.clients import SourceClients
from community_metrics.sources.http import NotAvailable, SourceError
from community_metrics.sources.mention import FoundMention


@dataclass
class MentionFetch:
    found: list[FoundMention] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # per search that answered
    notes: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # per search that failed
    requests: int = 0  # made by the search clients (only the searches use them)


def fetch_mentions(
    clients: SourceClients, terms: list[str], start: dt.datetime, end: dt.datetime
) -> MentionFetch:
    """Every search over [start, end) for the catalog's search terms."""
    got = MentionFetch()
    if not terms:
        got.notes["catalog"] = "no [products.NAME] search_terms: nothing searched"
        return got
    searches = {
        "hackernews": clients.hackernews.search,
        "github issues": clients.github_search.issues,
        "github discussions": clients.github_search.discussions,
    }
    for name, search in searches.items():
        try:
            hits = search(terms, start, end)
        except NotAvailable as exc:
            got.notes[name] = f"not available: {exc}"
            continue
        except (SourceError, httpx.HTTPError) as exc:
            got.errors[name] = str(exc)
            continue
        got.counts[name] = len(hits)
        got.found.extend(hits)
    got.requests = clients.hackernews.http.requests + clients.github_search.http.requests
    return got
