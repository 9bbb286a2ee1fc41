"""Keep the search table in step with `mentions`: embed only what changed.

A mention is embedded when it is new, or its content hash (title and text) changed. Rows whose
other fields changed (products after a catalog edit) keep their vector. When the configured
embedder differs from the one that made the stored vectors, everything is re-embedded and the
table rewritten in one commit: vectors of two models are never mixed or compared.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from community_metrics.embeddings.embedders import Usage
from community_metrics.mentions.records import document
from community_metrics.store import Store, WriteResult, embeddings_spec
from community_metrics.store.schemas import SEARCH_FIELDS
from community_metrics.store.store import row_hash

# row hashes do not depend on the vector width
_HASH_SPEC = embeddings_spec(1)


@dataclass
class SyncResult:
    mentions: int
    embedded: int
    reused: int
    unchanged: int
    replaced_embedders: list[str]
    seconds_embedding: float = 0.0
    dim: int | None = None
    usage: Usage | None = None
    write: WriteResult | None = None


def sync_embeddings(
    store: Store, embedder_id: str, make_embedder: Callable[[], object]
) -> SyncResult:
    """Embed new and changed mentions with the configured embedder (loaded only if needed)."""
    mentions = store.mentions(columns=SEARCH_FIELDS)
    info = store.embeddings_info()
    replace = bool(info["rows"]) and info["embedders"] != [embedder_id]
    existing = {} if replace else store.embedding_hashes()
    now = dt.datetime.now(dt.UTC)

    to_embed, to_copy, unchanged = [], [], 0
    for mention in mentions:
        row = {
            **{name: mention[name] for name in SEARCH_FIELDS},
            "document": document(mention["title"], mention["text"]),
            "embedder": embedder_id,
            "embedded_at": now,
        }
        key = f"{mention['source']}|{mention['source_id']}"
        stored = existing.get(key)
        if stored is None or stored[1] != mention["content_hash"]:
            to_embed.append(row)
        elif stored[0] != row_hash(_HASH_SPEC, row):
            to_copy.append((key, row))
        else:
            unchanged += 1

    result = SyncResult(
        mentions=len(mentions),
        embedded=len(to_embed),
        reused=len(to_copy),
        unchanged=unchanged,
        replaced_embedders=info["embedders"] if replace else [],
        dim=info["dim"],
    )
    if not to_embed and not to_copy:
        return result
    if to_embed:
        embedder = make_embedder()
        started = time.perf_counter()
        vectors = embedder.embed([row["document"] for row in to_embed])
        result.seconds_embedding = time.perf_counter() - started
        result.usage = embedder.usage
        for row, vector in zip(to_embed, vectors, strict=True):
            row["vector"] = vector.tolist()
        result.dim = int(vectors.shape[1])
    old = store.embedding_vectors(key for key, _ in to_copy)
    for key, row in to_copy:
        row["vector"] = old[key]
    rows = to_embed + [row for _, row in to_copy]
    result.write = store.write_embeddings(rows, result.dim, replace=replace or not info["rows"])
    return result
