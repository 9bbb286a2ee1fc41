"""What every mention source returns, and the time slicing their 1,000-result caps need.

Plain Python: no Dagster. Hacker News (Algolia) and GitHub search both stop at 1,000 results
per query whatever the page, so a window reporting more is split in halves until every slice
is reachable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from community_metrics.sources.http import SourceError

REACHABLE_RESULTS = 1000


@dataclass
class FoundMention:
    source: str  # hackernews | github
    source_id: str
    kind: str  # story | comment | issue | discussion
    created_at: dt.datetime
    title: str | None
    body: str | None
    body_format: str  # html | markdown | text
    url: str | None
    author: str | None
    points: int | None
    comment_count: int | None
    matched_terms: set[str] = field(default_factory=set)


@dataclass
class Page:
    """The first page of a query: the reported total, its items, and how to get the rest."""

    total: int
    items: list
    rest: Callable[[], list]


def epoch(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("mention windows need time-zone aware datetimes")
    return int(moment.timestamp())


def sliced(lo: int, hi: int, first: Callable[[int, int], Page], what: str) -> list:
    """Every result in [lo, hi) epoch seconds, halving the window while it is over the cap."""
    page = first(lo, hi)
    if page.total > REACHABLE_RESULTS:
        if hi - lo <= 1:
            raise SourceError(
                f"{what}: more than {REACHABLE_RESULTS} results within one second at {lo}: "
                "cannot slice further"
            )
        middle = (lo + hi) // 2
        return sliced(lo, middle, first, what) + sliced(middle, hi, first, what)
    return page.items + page.rest()


def count_or_none(value) -> int | None:
    """An optional count (points, comments): an int, or None when absent or not a number."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def search_terms(
    terms: Sequence[str],
    start: dt.datetime,
    end: dt.datetime,
    first_for: Callable[[str], Callable[[int, int], Page]],
    to_found: Callable[[object], FoundMention],
    what: str,
) -> list[FoundMention]:
    """Every result for any term in [start, end), sliced under the cap, one per id across
    case-variant terms with every term that matched, oldest first."""
    found: dict[str, FoundMention] = {}
    for term in terms:
        for item in sliced(epoch(start), epoch(end), first_for(term), what):
            if not item:  # GraphQL answers {} for nodes of other types
                continue
            mention = to_found(item)
            found.setdefault(mention.source_id, mention).matched_terms.add(term)
    return sorted(found.values(), key=lambda m: (m.created_at, m.source_id))
