"""Rank fusion for hybrid search, and the gate on its keyword leg. Plain Python over hits that
carry a `key` (and `title`/`text` for the gate)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

RRF_K = 60
# A keyword hit takes part in hybrid fusion only if it contains at least this share of the
# query's content words (see `keyword_gate` for why and how it was chosen).
KEYWORD_MIN_COVERAGE = 2 / 3
# English function words and fillers that carry no topic. The FTS index drops its own
# (Lucene-like) list, but words such as "does", "would", "one", "like", "before", "only" or
# "without" still match; in a corpus of a few dozen mentions they are rare enough for BM25 to
# rank a mention first on one of them alone.
_STOP_WORDS = """
    a about above after again against all also am an and any anyone are as at be because
    been before being below between both but by can could did do does doing down during each
    few for from further get got had has have having he her here hers him his how i if in
    into is it its itself just like lot lots made make many me more most much my no nor not
    now of off on once one only or other our ours out over own really same she should so
    some someone something such than that the their them then there these they thing things
    this those through to too under until up us very was way we were what when where which
    while who whom why will with would you your yours
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())
_WORD = re.compile(r"\w+")
_SUFFIXES = ("ing", "ed", "es", "s")


def content_words(text: str) -> list[str]:
    """The query's words without stop words, lower-cased, in order, each once."""
    words = (w.casefold() for w in _WORD.findall(text))
    return list(dict.fromkeys(w for w in words if w not in STOP_WORDS))


@functools.lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    """A crude English stem, close enough to the index's stemmer for word overlap:
    writes/writing/write -> writ, duplicates/duplicate -> duplicat, days -> day. Cached: the
    gate stems every word of 40 hits a query, mostly the same words."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def coverage(terms: Iterable[str], text: str) -> float:
    """Share of `terms` (content words) that occur in `text`, compared by stem."""
    wanted = {_stem(t) for t in terms}
    if not wanted:
        return 0.0
    present = {_stem(w.casefold()) for w in _WORD.findall(text)}
    return len(wanted & present) / len(wanted)


def keyword_gate(
    hits: Sequence[dict], terms: Sequence[str], min_coverage: float = KEYWORD_MIN_COVERAGE
) -> list[dict]:
    """The keyword hits that contain at least `min_coverage` of the query's content words.

    Why a gate and not weights: the semantic leg ranks nearly every mention of a small corpus,
    so the keyword leg's first hit always collects both contributions, and with k = 60 the
    gap between semantic ranks 1 and 5 (1/61 - 1/65) is smaller than any useful keyword
    weight. A paraphrase ("the chatbot remembers what was said before") then ranks first the
    mention that shares one stray word with it ("Measure before you trust the defaults").
    Measured on 37 paraphrases and 60 exact-word queries over the seeded mentions
    (assets_tests/test_search.py keeps a selection): plain RRF ranked the paraphrase's target
    first 25 times, semantic alone 31; stop words alone 26, keyword weight 0.5 26 (0.05: 27,
    and it lost exact-word matches), a gate on BM25 >= half of the best score 25. Gating on
    coverage ranked 31 paraphrases right (every one semantic gets) with 2/3, 0.6 or 1.0, and
    60/60 exact-word queries (plain RRF 58, semantic 49); 1/2 let "400 ms" lose to a mention
    with only "ms". 2/3 tolerates one missed (or differently stemmed) word in three; with the
    gate a keyword weight changed nothing, so the legs stay equal.
    """
    return [
        h for h in hits if coverage(terms, f"{h['title'] or ''}\n{h['text'] or ''}") >= min_coverage
    ]


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[dict]], limit: int, k: int = RRF_K
) -> list[dict]:
    """Fuse rankings by reciprocal rank: each hit scores sum(1 / (k + rank)) over the rankings
    it appears in. Ties break on the key, so the order is stable."""
    fused: dict[str, dict] = {}
    for hits in rankings:
        for rank, hit in enumerate(hits, start=1):
            kept = fused.setdefault(hit["key"], {**hit, "score": 0.0})
            kept["score"] += 1.0 / (k + rank)
    return sorted(fused.values(), key=lambda h: (-h["score"], h["key"]))[:limit]
