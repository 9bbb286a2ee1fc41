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
from dataclasses import dataclass, field

from community_metrics.embeddings.embedders import Usage
from community_metrics.mentions.records import document
from community_metrics.store import SEARCH_FIELDS, StoreWriter, WriteResult, embedding_row_hash

# Rows embedded and committed together: a crash loses at most one chunk of work, and the
# next run picks up after the last commit. A switch of embedder is the exception (see below).
CHUNK = 2048


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
    writes: list[WriteResult] = field(default_factory=list)


def sync_embeddings(
    store: StoreWriter,
    embedder_id: str,
    make_embedder: Callable[[], object],
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> SyncResult:
    """Embed new and changed mentions with the configured embedder (loaded only if needed).

    With a new embedder every mention is embedded and the table rewritten in ONE commit, so
    readers never see vectors of two models side by side; otherwise chunks of CHUNK rows are
    merged one commit each."""
    mentions = store.mentions(columns=("key", *SEARCH_FIELDS))
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
        key = mention["key"]
        stored = existing.get(key)
        if stored is None or stored[1] != mention["content_hash"]:
            to_embed.append(row)
        elif stored[0] != embedding_row_hash(row):
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
    if to_copy:
        old = store.embedding_vectors(key for key, _ in to_copy)
        for key, row in to_copy:
            row["vector"] = old[key]
        result.writes.append(
            store.write_embeddings([r for _, r in to_copy], result.dim, replace=False)
        )
    if not to_embed:
        return result
    embedder = make_embedder()
    result.usage = embedder.usage
    chunks = (
        [to_embed] if replace else [to_embed[i : i + CHUNK] for i in range(0, len(to_embed), CHUNK)]
    )
    table_exists = bool(info["rows"])
    done = 0
    for chunk in chunks:
        started = time.perf_counter()
        vectors = embedder.embed([row["document"] for row in chunk])
        result.seconds_embedding += time.perf_counter() - started
        for row, vector in zip(chunk, vectors, strict=True):
            row["vector"] = vector.tolist()
        result.dim = int(vectors.shape[1])
        result.writes.append(
            store.write_embeddings(chunk, result.dim, replace=replace or not table_exists)
        )
        table_exists = True
        done += len(chunk)
        progress(done, len(to_embed))
    return result
