"""Hacker News mentions via Algolia `search_by_date`. Plain Python: no Dagster.

Algolia serves at most 1,000 hits per query whatever the page, so windows are sliced (see
`mention.search_terms`). Search is case-insensitive: case-variant terms return the same hits,
de-duplicated here by objectID, with every term that matched kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from community_metrics.sources.http import HttpSource, RateLimit, require
from community_metrics.sources.mention import FoundMention, Page, count_or_none, search_terms

# 10,000 requests/hour per IP and no rate-limit headers: budget well under it.
HN_LIMIT = RateLimit(per_second=3, per_minute=120)
HITS_PER_PAGE = 1000
ITEM_URL = "https://news.ycombinator.com/item?id={}"


def found_from_hit(hit: dict) -> FoundMention:
    object_id, created = hit.get("objectID"), hit.get("created_at_i")
    require(isinstance(object_id, str) and object_id, "hackernews", "hit without objectID")
    require(isinstance(created, int), "hackernews", f"hit {object_id} without created_at_i")
    tags = hit.get("_tags") or []
    kind = "story" if "story" in tags else "comment"
    return FoundMention(
        source="hackernews",
        source_id=object_id,
        kind=kind,
        created_at=dt.datetime.fromtimestamp(created, tz=dt.UTC),
        title=hit.get("title") or hit.get("story_title"),
        body=hit.get("comment_text") or hit.get("story_text"),
        body_format="html",
        url=ITEM_URL.format(object_id),
        author=hit.get("author"),
        points=count_or_none(hit.get("points")),
        comment_count=count_or_none(hit.get("num_comments")),
    )


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

    def _first(self, term: str, tags: str):
        def first(lo: int, hi: int) -> Page:
            body = self._page(term, lo, hi, 0, tags)
            pages = range(1, body.get("nbPages", 1))
            return Page(
                body["nbHits"],
                body["hits"],
                lambda: [h for p in pages for h in self._page(term, lo, hi, p, tags)["hits"]],
            )

        return first

    def search(
        self,
        terms: Sequence[str],
        start: dt.datetime,
        end: dt.datetime,
        tags: str = "(story,comment)",
    ) -> list[FoundMention]:
        """Stories and comments matching any term with start <= created_at < end."""
        return search_terms(
            terms, start, end, lambda term: self._first(term, tags), found_from_hit, "hackernews"
        )
