"""GitHub issues (REST search) and discussions (GraphQL search) that mention a term.

Plain Python: no Dagster. The search API allows 30 requests/minute with a token (10 without)
and 1,000 results per query, so windows are sliced by creation time (see `mention.search_terms`).
Discussions are searchable only through GraphQL, which needs a token: without one they are
NotAvailable (reported, never counted as zero mentions).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from community_metrics.sources.http import HttpSource, NotAvailable, RateLimit, SourceError, require
from community_metrics.sources.mention import FoundMention, Page, count_or_none, search_terms

SEARCH_LIMIT_TOKEN = RateLimit(per_minute=30)
SEARCH_LIMIT_ANONYMOUS = RateLimit(per_minute=10)
PER_PAGE = 100
INCOMPLETE_RETRIES = 2
DISCUSSIONS_QUERY = """
query($q: String!, $first: Int!, $after: String) {
  search(query: $q, type: DISCUSSION, first: $first, after: $after) {
    discussionCount
    pageInfo { hasNextPage endCursor }
    nodes {
      ... on Discussion {
        id number title body url createdAt upvoteCount
        author { login }
        comments { totalCount }
      }
    }
  }
}
"""


def _stamp(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def created_range(lo: int, hi: int) -> str:
    """GitHub's `created:` qualifier is inclusive at both ends: [lo, hi) is lo..hi-1s."""
    return f"created:{_stamp(lo)}..{_stamp(hi - 1)}"


def _time(value, what: str) -> dt.datetime:
    require(isinstance(value, str), "github search", f"{what} without a creation time")
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC)


def found_from_issue(item: dict) -> FoundMention:
    require(isinstance(item, dict) and isinstance(item.get("id"), int), "github search", "item id")
    reactions = item.get("reactions") or {}
    return FoundMention(
        source="github",
        source_id=f"issue:{item['id']}",
        kind="pull_request" if item.get("pull_request") else "issue",
        created_at=_time(item.get("created_at"), f"issue {item['id']}"),
        title=item.get("title"),
        body=item.get("body"),
        body_format="markdown",
        url=item.get("html_url"),
        author=(item.get("user") or {}).get("login"),
        points=count_or_none(reactions.get("total_count")),
        comment_count=count_or_none(item.get("comments")),
    )


def found_from_discussion(node: dict) -> FoundMention:
    require(isinstance(node, dict) and isinstance(node.get("id"), str), "github search", "node id")
    return FoundMention(
        source="github",
        source_id=f"discussion:{node['id']}",
        kind="discussion",
        created_at=_time(node.get("createdAt"), f"discussion {node['id']}"),
        title=node.get("title"),
        body=node.get("body"),
        body_format="markdown",
        url=node.get("url"),
        author=(node.get("author") or {}).get("login"),
        points=count_or_none(node.get("upvoteCount")),
        comment_count=count_or_none((node.get("comments") or {}).get("totalCount")),
    )


class GitHubSearch:
    def __init__(self, http: HttpSource, authenticated: bool = False):
        self.http = http
        self.authenticated = authenticated

    # -- issues (REST) ----------------------------------------------------------------------

    def _issue_page(self, query: str, page: int) -> dict:
        params = {"q": query, "per_page": PER_PAGE, "page": page, "sort": "created"}
        for _ in range(INCOMPLETE_RETRIES + 1):
            body = self.http.get_json("/search/issues", params, not_available=(401, 403, 422))
            require(isinstance(body, dict), "github search", "body is not an object")
            require(isinstance(body.get("items"), list), "github search", "no items list")
            require(isinstance(body.get("total_count"), int), "github search", "no total_count")
            if not body.get("incomplete_results"):
                return body
        raise SourceError(
            f"github search: {query!r} page {page} kept answering incomplete_results (GitHub's "
            "search timed out); retry later"
        )

    def _issues_first(self, term: str):
        def first(lo: int, hi: int) -> Page:
            query = f'"{term}" is:issue {created_range(lo, hi)}'
            body = self._issue_page(query, 1)
            pages = range(2, -(-min(body["total_count"], 1000) // PER_PAGE) + 1)
            return Page(
                body["total_count"],
                body["items"],
                lambda: [i for p in pages for i in self._issue_page(query, p)["items"]],
            )

        return first

    def issues(
        self, terms: Sequence[str], start: dt.datetime, end: dt.datetime
    ) -> list[FoundMention]:
        """Issues created in [start, end) that mention any term."""
        return search_terms(
            terms, start, end, self._issues_first, found_from_issue, "github issues"
        )

    # -- discussions (GraphQL) --------------------------------------------------------------

    def _discussion_page(self, query: str, after: str | None) -> dict:
        body = self.http.post_json(
            "/graphql",
            {
                "query": DISCUSSIONS_QUERY,
                "variables": {"q": query, "first": PER_PAGE, "after": after},
            },
            not_available=(401, 403),
        )
        require(isinstance(body, dict), "github graphql", "body is not an object")
        if body.get("errors"):
            messages = "; ".join(str(e.get("message")) for e in body["errors"][:3])
            raise SourceError(f"github graphql: search failed: {messages}")
        search = (body.get("data") or {}).get("search")
        require(isinstance(search, dict), "github graphql", "no data.search")
        require(isinstance(search.get("discussionCount"), int), "github graphql", "no count")
        require(isinstance(search.get("nodes"), list), "github graphql", "no nodes")
        require(isinstance(search.get("pageInfo"), dict), "github graphql", "no pageInfo")
        return search

    def _discussions_first(self, term: str):
        def first(lo: int, hi: int) -> Page:
            query = f'"{term}" {created_range(lo, hi)}'
            search = self._discussion_page(query, None)

            def rest() -> list:
                nodes, info = [], search["pageInfo"]
                while info.get("hasNextPage"):
                    following = self._discussion_page(query, info.get("endCursor"))
                    nodes.extend(following["nodes"])
                    info = following["pageInfo"]
                return nodes

            return Page(search["discussionCount"], search["nodes"], rest)

        return first

    def discussions(
        self, terms: Sequence[str], start: dt.datetime, end: dt.datetime
    ) -> list[FoundMention]:
        """Discussions created in [start, end) that mention any term (needs a token)."""
        if not self.authenticated:
            raise NotAvailable("github: discussion search needs GITHUB_TOKEN (GraphQL only)")
        return search_terms(
            terms, start, end, self._discussions_first, found_from_discussion, "github discussions"
        )
