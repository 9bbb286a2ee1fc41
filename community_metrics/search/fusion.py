"""Rank fusion for hybrid search. Plain Python over hits that carry a `key`."""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60


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
