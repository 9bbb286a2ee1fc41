"""Mention search: semantic, keyword (BM25) and hybrid (reciprocal rank fusion of both, the
keyword leg limited to mentions holding most of the query's content words).

Used by `community-metrics search`; plain Python over a `StoreReader`: no Dagster, no HTTP.
The query is embedded with the configured embedder, which must be the one that made the
stored vectors (comparing vectors of two models is meaningless), so a mismatch is an error
that says how to fix it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from community_metrics.config import EmbedderSettings
from community_metrics.embeddings.embedders import build_embedder, embedder_id
from community_metrics.search.fusion import content_words, keyword_gate, reciprocal_rank_fusion
from community_metrics.store import StoreError, StoreReader, mention_filter
from community_metrics.store.reader import NPROBES

SEARCH_MODES = ("semantic", "keyword", "hybrid")
# Hybrid fetches each ranking this much deeper than asked, so an item ranked well by one leg
# and poorly by the other still has a rank on both sides.
HYBRID_DEPTH = 4
MAX_LIMIT = 100
MAX_QUERY_CHARS = 1000
SNIPPET_CHARS = 280
_WORD = re.compile(r"\w+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


class SearchError(ValueError):
    """The search cannot be run as asked; the message says what to change."""


@dataclass(frozen=True)
class Hit:
    key: str
    source: str
    kind: str
    title: str | None
    snippet: str  # the part of the text that best matches the query
    text: str
    url: str | None
    author: str | None
    occurred_at: dt.datetime
    products: list[str]
    score: float


def snippet(text: str, query: str) -> str:
    """The sentence sharing most words with the query (the text's start if none does)."""
    words = {w.casefold() for w in _WORD.findall(query)}
    sentences = [s.strip() for s in _SENTENCE.split(text) if s.strip()]
    if not sentences:
        return ""
    best = max(sentences, key=lambda s: len(words & {w.casefold() for w in _WORD.findall(s)}))
    if not words & {w.casefold() for w in _WORD.findall(best)}:
        best = sentences[0]
    return best if len(best) <= SNIPPET_CHARS else best[: SNIPPET_CHARS - 1] + "…"


class MentionSearch:
    """One per process: holds the query embedder, loaded on the first semantic query."""

    def __init__(
        self,
        store: StoreReader,
        settings: EmbedderSettings,
        make_embedder: Callable[[EmbedderSettings], object] = build_embedder,
    ):
        self.store = store
        self.settings = settings
        self.embedder_id = embedder_id(settings)
        self._make = make_embedder
        self._embedder = None

    def _query_vector(self, query: str) -> list[float]:
        stored = self.store.stored_embedder()
        if stored and stored != self.embedder_id:
            raise SearchError(
                f"mentions are embedded with {stored} but CM_EMBEDDER selects "
                f"{self.embedder_id}: materialize mention_embeddings (community-metrics seed) "
                "to re-embed them, or switch CM_EMBEDDER back"
            )
        if self._embedder is None:
            self._embedder = self._make(self.settings)
        return self._embedder.embed([query])[0].tolist()

    def ranked(
        self,
        mode: str,
        text: str,
        vector: Sequence[float] | None,
        *,
        where: str | None = None,
        limit: int = 10,
        exact: bool = False,
        nprobes: int = NPROBES,
    ) -> list[dict]:
        """Stored hits for an already embedded query, best first (what `search` ranks)."""
        if mode == "keyword":
            return self.store.keyword_mentions(text, where=where, limit=limit)
        if mode == "semantic":
            return self.store.nearest_mentions(
                vector, where=where, limit=limit, exact=exact, nprobes=nprobes
            )
        # Hybrid: the keyword leg searches the query's content words only (none left: no
        # keyword leg) and votes only for hits holding most of them (`keyword_gate`), so a
        # paraphrase is ranked as semantic ranks it while an exact rare word still lifts its
        # mention. Keyword mode above searches the words as given. The store runs both legs
        # at once and reads only what fusion needs; the fused top hits' rows come after.
        depth = max(limit * HYBRID_DEPTH, 40)
        terms = content_words(text)
        semantic, keyword = self.store.hybrid_legs(
            vector, " ".join(terms), where=where, limit=depth, exact=exact, nprobes=nprobes
        )
        rankings = [semantic, keyword_gate(keyword, terms)] if terms else [semantic]
        return self.store.rows_of(reciprocal_rank_fusion(rankings, limit), where=where)

    def search(
        self,
        query: str,
        mode: str = "hybrid",
        *,
        products: Sequence[str] = (),
        sources: Sequence[str] = (),
        start: dt.date | None = None,
        end: dt.date | None = None,
        limit: int = 10,
        exact: bool = False,
    ) -> list[Hit]:
        """Best hits first. `exact` skips the vector index (brute force, for recall checks)."""
        query = (query or "").strip()
        if not query:
            raise SearchError("the query is empty: give some words to search for")
        if len(query) > MAX_QUERY_CHARS:
            raise SearchError(
                f"the query is {len(query)} characters: use at most {MAX_QUERY_CHARS}"
            )
        if mode not in SEARCH_MODES:
            raise SearchError(f"mode {mode!r} is not one of {', '.join(SEARCH_MODES)}")
        if not 1 <= limit <= MAX_LIMIT:
            raise SearchError(f"limit {limit} is out of range: use 1..{MAX_LIMIT}")
        if start and end and start > end:
            raise SearchError(f"start {start} is after end {end}")
        try:
            where = mention_filter(products, sources, start, end)
        except StoreError as exc:
            raise SearchError(f"invalid filter: {exc}") from exc
        vector = self._query_vector(query) if mode != "keyword" else None
        rows = self.ranked(mode, query, vector, where=where, limit=limit, exact=exact)
        return [
            Hit(
                key=row["key"],
                source=row["source"],
                kind=row["kind"],
                title=row["title"],
                snippet=snippet(row["text"] or row["title"] or "", query),
                text=row["text"],
                url=row["url"],
                author=row["author"],
                occurred_at=row["occurred_at"],
                products=row["products"],
                score=float(row["score"]),
            )
            for row in rows
        ]
