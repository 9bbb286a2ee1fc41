"""Hacker News mentions via Algolia `search_by_date`. Plain Python: no Dagster.

Algolia serves at most 1,000 hits per query whatever the page, so a time window reporting
more is split in halves until every slice is reachable. Search is case-insensitive:
case-variant terms return the same hits, de-duplicated here by objectID, with every term that
matched kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from community_metrics.sources.http import HttpSource, RateLimit, SourceError, require

# 10,000 requests/hour per IP and no rate-limit headers: budget well under it.
HN_LIMIT = RateLimit(per_second=3, per_minute=120)
REACHABLE_HITS = 1000
HITS_PER_PAGE = 1000


@dataclass
class Mention:
    object_id: str
    created_at: dt.datetime
    hit: dict
    matched_terms: set[str] = field(default_factory=set)


def _epoch(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("HN windows need time-zone aware datetimes")
    return int(moment.timestamp())


class HackerNews:
    def __init__(self, http: HttpSource):
        self.http = http

    def _page(self, term: str, lo: int, hi: int, page: int, tags: str) -> dict:
        body = self.http.get_json(
            "/api/v1/search_by_date",
            {
                "query": term,
                "tags": tags,
                "numericFilters": f"created_at_i>={lo},created_at_i<{hi}",
                "page": page,
                "hitsPerPage": HITS_PER_PAGE,
            },
        )
        require(isinstance(body, dict), "hackernews", "body is not an object")
        require(isinstance(body.get("hits"), list), "hackernews", "no hits list")
        require(isinstance(body.get("nbHits"), int), "hackernews", "no nbHits")
        require(isinstance(body.get("nbPages", 1), int), "hackernews", "bad nbPages")
        return body

    def _window(self, term: str, lo: int, hi: int, tags: str) -> list[dict]:
        first = self._page(term, lo, hi, 0, tags)
        if first["nbHits"] > REACHABLE_HITS:
            if hi - lo <= 1:
                raise SourceError(
                    f"hackernews: more than {REACHABLE_HITS} hits for {term!r} within one second "
                    f"at {lo}: cannot slice further"
                )
            middle = (lo + hi) // 2
            return self._window(term, lo, middle, tags) + self._window(term, middle, hi, tags)
        hits = list(first["hits"])
        for page in range(1, first.get("nbPages", 1)):
            hits.extend(self._page(term, lo, hi, page, tags)["hits"])
        return hits

    def search(
        self,
        terms: Sequence[str],
        start: dt.datetime,
        end: dt.datetime,
        tags: str = "(story,comment)",
    ) -> list[Mention]:
        """Stories and comments matching any term with start <= created_at < end."""
        found: dict[str, Mention] = {}
        for term in terms:
            for hit in self._window(term, _epoch(start), _epoch(end), tags):
                object_id, created = hit.get("objectID"), hit.get("created_at_i")
                require(
                    isinstance(object_id, str) and object_id, "hackernews", "hit without objectID"
                )
                require(
                    isinstance(created, int), "hackernews", f"hit {object_id} without created_at_i"
                )
                mention = found.setdefault(
                    object_id,
                    Mention(object_id, dt.datetime.fromtimestamp(created, tz=dt.UTC), hit),
                )
                mention.matched_terms.add(term)
        return sorted(found.values(), key=lambda m: (m.created_at, m.object_id))
