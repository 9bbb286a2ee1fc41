"""Benchmark: embedding throughput per embedder, and mention search at 100,000 mentions.

Prints texts/s for the offline embedder and for the OpenAI client path (against a local
OpenAI-compatible stub: client overhead only, not OpenAI's latency); p50/p99 of semantic,
keyword and hybrid search by brute force (the recall reference); then, with the store's
default vector index, the hybrid figure beside its floor measured in the same run: each query
runs semantic alone, keyword alone, the previous hybrid (the legs one after the other, full
rows from both, as before they ran at once) and hybrid as it is, in rotating order, so load
from other processes falls on all of them alike. The floor of hybrid is the slower of the two
single-mode searches for the same query. A per-phase profile of hybrid follows, then every
candidate vector index with recall@10 against brute force (the store's default index is the
first row that keeps recall@10 >= 0.95).

Mentions are generated from templates (deterministic) and embedded with the real local model;
the vectors are cached in bench/.cache so a re-run skips the ~10 minutes of embedding.

    uv run python bench/search_100k.py [--mentions 100000] [--queries 200] [--repeats 3]
        [--skip-embedders] [--skip-indexes]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lancedb.index import IvfFlat, IvfHnswSq, IvfPq  # noqa: E402

from assets_tests.fake_openai import OpenAIStub  # noqa: E402
from community_metrics.config import load_settings  # noqa: E402
from community_metrics.embeddings.embedders import LocalEmbedder, OpenAIEmbedder  # noqa: E402
from community_metrics.mentions.records import content_hash, document  # noqa: E402
from community_metrics.search.core import HYBRID_DEPTH, MentionSearch  # noqa: E402
from community_metrics.search.fusion import (  # noqa: E402
    content_words,
    keyword_gate,
    reciprocal_rank_fusion,
)
from community_metrics.store import Maintenance, StoreWriter  # noqa: E402
from community_metrics.store.reader import NPROBES  # noqa: E402
from community_metrics.store.writer import vector_index_config  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
SUBJECTS = [
    "LanceDB",
    "the lance format",
    "lancedb",
    "Lance columnar files",
    "our vector store",
    "pgvector",
    "DuckDB",
    "Parquet",
    "Pinecone",
    "Chroma",
    "Elasticsearch",
    "the Rust SDK",
    "the Node.js client",
    "the Python package",
    "hybrid search",
    "the FTS index",
]
VERBS = [
    "is much faster than",
    "replaced",
    "works well with",
    "crashed when used with",
    "uses less memory than",
    "was hard to deploy next to",
    "integrates cleanly with",
    "gave better recall than",
    "costs less to run than",
    "scales further than",
]
TOPICS = [
    "for retrieval-augmented generation",
    "on S3",
    "in our training pipeline",
    "for image search",
    "in a serverless function",
    "with ten million vectors",
    "for recommendation features",
    "on a laptop",
    "behind our chatbot",
    "for log analytics",
    "after the last upgrade",
    "with frequent upserts",
    "for multimodal data",
    "in production at work",
    "for a weekend project",
]
TAILS = [
    "Happy so far.",
    "Anyone else seeing this?",
    "Benchmarks in the linked post.",
    "Would not go back.",
    "Still evaluating.",
    "The docs could be clearer.",
    "Latency dropped a lot.",
    "Memory use is the main win.",
    "Setup took an afternoon.",
]


def generate(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(SUBJECTS)} "
        f"{rng.choice(TOPICS)}. {rng.choice(TAILS)} (#{i})"
        for i in range(n)
    ]


def queries(n: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    return [
        f"{rng.choice(SUBJECTS)} {rng.choice(['beats', 'swapped out', 'pairs with', 'broke with'])}"
        f" {rng.choice(SUBJECTS)} {rng.choice(TOPICS)}"
        for _ in range(n)
    ]


def throughput(embedder, texts: list[str]) -> float:
    embedder.embed(texts[:64])  # warm-up
    started = time.perf_counter()
    embedder.embed(texts)
    return len(texts) / (time.perf_counter() - started)


def vectors_for(texts: list[str], local: LocalEmbedder) -> np.ndarray:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"vectors_{len(texts)}_{local.id}.npy"
    if path.exists():
        return np.load(path)
    # generate(n) is the first n texts of any larger run: a larger cache serves a smaller run
    for cached in CACHE.glob(f"vectors_*_{local.id}.npy"):
        rows = int(cached.name.removeprefix("vectors_").split("_", 1)[0])
        if rows > len(texts):
            return np.load(cached, mmap_mode="r")[: len(texts)]
    started = time.perf_counter()
    vectors = local.embed(texts)
    print(f"embedded {len(texts):,} mentions in {time.perf_counter() - started:.0f} s")
    np.save(path, vectors)
    return vectors


def percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1000, q))


def run_queries(search, mode, texts, vectors, exact, nprobes=NPROBES):
    times, results = [], []
    for text, vector in zip(texts, vectors, strict=True):
        started = time.perf_counter()
        hits = search.ranked(mode, text, vector, limit=10, exact=exact, nprobes=nprobes)
        times.append(time.perf_counter() - started)
        results.append([h["key"] for h in hits])
    return times, results


def recall(truth: list[list[str]], got: list[list[str]]) -> float:
    return float(
        np.mean([len(set(t) & set(g)) / max(len(t), 1) for t, g in zip(truth, got, strict=True)])
    )


def previous_hybrid(store, text, vector, limit=10, nprobes=NPROBES):
    """Hybrid as it was: the semantic leg, then the keyword leg, each reading full rows."""
    depth = max(limit * HYBRID_DEPTH, 40)
    rankings = [store.nearest_mentions(vector, limit=depth, nprobes=nprobes)]
    terms = content_words(text)
    if terms:
        hits = store.keyword_mentions(" ".join(terms), limit=depth)
        rankings.append(keyword_gate(hits, terms))
    return reciprocal_rank_fusion(rankings, limit)


class PrecomputedEmbedder:
    """The bench's query vectors, so `search()` is timed without the model."""

    def __init__(self, texts, vectors):
        self.vectors = dict(zip(texts, vectors, strict=True))

    def embed(self, texts):
        return np.asarray([self.vectors[t] for t in texts], dtype=np.float32)


def ms(samples: list[float]) -> str:
    return f"{percentile(samples, 50):5.1f} / {percentile(samples, 99):5.1f}"


def hybrid_against_floor(store, settings, query_texts, query_vectors, truth, repeats) -> None:
    """Every query through every variant, in rotating order; one line per variant a repeat."""
    search = MentionSearch(store, settings.embedder)
    embedder = PrecomputedEmbedder(query_texts, query_vectors)
    end_to_end = MentionSearch(store, settings.embedder, make_embedder=lambda _: embedder)
    variants = {
        "semantic alone": lambda t, v: search.ranked("semantic", t, v),
        "keyword alone": lambda t, v: search.ranked("keyword", t, v),
        "previous hybrid (sequential)": lambda t, v: previous_hybrid(store, t, v),
        "hybrid": lambda t, v: search.ranked("hybrid", t, v),
        "hybrid via search()": lambda t, v: end_to_end.search(t, "hybrid"),
    }
    for text, vector in zip(query_texts[:20], query_vectors[:20], strict=True):  # warm-up
        for run in variants.values():
            run(text, vector)
    print(
        f"\n== hybrid vs its floor, default index, {len(query_texts)} queries, limit 10, "
        "p50 / p99 ms =="
    )
    print(
        "(floor: per query the slower of semantic alone and keyword alone; search() adds the "
        "embedder check, snippets and hits, not the query's embedding. The generated texts give "
        "many equal BM25 scores, and Lance may order equal scores differently in two handles of "
        "one table (the sync one the previous hybrid reads, the async one hybrid reads; so do "
        "two sync handles), swapping tied hits: compare recall, not order.)"
    )
    names = list(variants)
    hybrid_p99 = []
    for repeat in range(1, repeats + 1):
        times = {name: [] for name in names}
        keys = {name: [] for name in names}
        for i, (text, vector) in enumerate(zip(query_texts, query_vectors, strict=True)):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                started = time.perf_counter()
                hits = variants[name](text, vector)
                times[name].append(time.perf_counter() - started)
                keys[name].append([h.key if hasattr(h, "key") else h["key"] for h in hits])
        floor = [
            max(a, b) for a, b in zip(times["semantic alone"], times["keyword alone"], strict=True)
        ]
        legs_p99 = max(
            percentile(times["semantic alone"], 99), percentile(times["keyword alone"], 99)
        )
        hybrid_p99.append(percentile(times["hybrid"], 99))
        print(f"-- repeat {repeat}")
        for name in names:
            print(f"{name:30s} {ms(times[name])}")
        print(f"{'floor (per-query max)':30s} {ms(floor)}   (max of the two p99s: {legs_p99:.1f})")
        previous = keys["previous hybrid (sequential)"]
        print(
            f"recall@10 vs brute-force hybrid: hybrid {recall(truth['hybrid'], keys['hybrid']):.3f}"
            f", previous {recall(truth['hybrid'], previous):.3f}; hybrid vs previous "
            f"{recall(previous, keys['hybrid']):.3f}, same order "
            f"{sum(a == b for a, b in zip(previous, keys['hybrid'], strict=True))}/{len(previous)}"
        )
    print(f"hybrid p99 over {repeats} repeats: {min(hybrid_p99):.1f} - {max(hybrid_p99):.1f} ms")


def hybrid_profile(store, query_texts, query_vectors) -> None:
    """Hybrid's phases timed apart, through the same store calls `MentionSearch.ranked` makes."""
    depth = max(10 * HYBRID_DEPTH, 40)
    phases = {
        name: []
        for name in (
            "embedder check (stored_embedder)",
            "semantic leg alone (key, score)",
            "both legs at once",
            "keyword gate",
            "fusion",
            "rows of the top 10",
        )
    }

    def timed(name, call, *args, **kwargs):
        started = time.perf_counter()
        result = call(*args, **kwargs)
        phases[name].append(time.perf_counter() - started)
        return result

    for text, vector in zip(query_texts, query_vectors, strict=True):
        terms = content_words(text)
        timed("embedder check (stored_embedder)", store.stored_embedder)
        timed("semantic leg alone (key, score)", store.hybrid_legs, vector, "", limit=depth)
        semantic, keyword = timed(
            "both legs at once", store.hybrid_legs, vector, " ".join(terms), limit=depth
        )
        gated = timed("keyword gate", keyword_gate, keyword, terms)
        fused = timed("fusion", reciprocal_rank_fusion, [semantic, gated], 10)
        timed("rows of the top 10", store.rows_of, fused)
    print("\n== hybrid, per phase, p50 / p99 ms ==")
    for name, samples in phases.items():
        print(f"{name:34s} {ms(samples)}")


def load(store, texts, vectors, embedder_id) -> None:
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    chunk = 25_000
    began = time.perf_counter()
    for offset in range(0, len(texts), chunk):
        rows = []
        for i in range(offset, min(offset + chunk, len(texts))):
            title, text = None, texts[i]
            rows.append(
                {
                    "source": "bench",
                    "source_id": str(i),
                    "kind": "comment",
                    "title": title,
                    "text": text,
                    "url": None,
                    "author": None,
                    "occurred_at": start + dt.timedelta(minutes=i),
                    "products": ["lancedb"] if i % 3 else ["lance"],
                    "content_hash": content_hash(title, text),
                    "document": document(title, text),
                    "embedder": embedder_id,
                    "vector": vectors[i].tolist(),
                    "embedded_at": start,
                }
            )
        store.write_embeddings(rows, len(vectors[0]), replace=offset == 0)
    print(
        f"\nloaded {len(texts):,} mentions into the search table in "
        f"{time.perf_counter() - began:.0f} s"
    )


def embedding_throughput(local: LocalEmbedder, texts: list[str]) -> None:
    # Throughput depends on length (tokens per text), so it is shown at several lengths.
    samples = {
        "short (~8 tokens, a title)": [f"mention number {i} about lancedb" for i in range(2000)],
        "mention (~26 tokens, bench texts)": texts[:2000],
        "long (~100 tokens, a comment)": [" ".join(texts[i : i + 4]) for i in range(0, 2000, 4)],
    }
    print("== embedding throughput, texts/s (target >= 200 for the local embedder) ==")
    stub = OpenAIStub(max_chars=10**9)
    try:
        remote = OpenAIEmbedder(api_key="sk-bench", base_url=stub.url)
        for name, sample in samples.items():
            tokens = np.mean([len(local.tokenizer.encode(t).ids) for t in sample[:200]])
            print(
                f"{name:36s} local {local.id}: {throughput(local, sample):5.0f}   "
                f"openai client vs local stub: {throughput(remote, sample):6.0f}   "
                f"({tokens:.0f} tokens/text)"
            )
    finally:
        stub.close()
    print("(the openai figure is client and JSON overhead only, not OpenAI's latency)")


def index_candidates(store, search, query_texts, query_vectors, truth, n) -> None:
    candidates = [
        ("store default (IVF_FLAT sqrt(n))", None, NPROBES),
        ("IVF_FLAT partitions=n/1000 nprobes=20", IvfFlat("cosine", num_partitions=n // 1000), 20),
        ("IVF_FLAT partitions=n/1000 nprobes=10", IvfFlat("cosine", num_partitions=n // 1000), 10),
        (
            "IVF_FLAT partitions=sqrt(n) nprobes=5",
            IvfFlat("cosine", num_partitions=int(n**0.5)),
            5,
        ),
        ("IVF_HNSW_SQ defaults nprobes=20", IvfHnswSq(distance_type="cosine"), 20),
        ("IVF_PQ defaults nprobes=20", IvfPq(distance_type="cosine"), 20),
    ]
    print("\n== vector indexes: build s, semantic p50/p99 ms, hybrid p50/p99 ms, recall@10 ==")
    for name, config, nprobes in candidates:
        began = time.perf_counter()
        store.build_vector_index(config)
        built = time.perf_counter() - began
        sem_t, sem_r = run_queries(
            search, "semantic", query_texts, query_vectors, exact=False, nprobes=nprobes
        )
        hyb_t, hyb_r = run_queries(
            search, "hybrid", query_texts, query_vectors, exact=False, nprobes=nprobes
        )
        print(
            f"{name:40s} build {built:5.1f}  semantic {ms(sem_t)}  hybrid {ms(hyb_t)}  "
            f"recall@10 semantic {recall(truth['semantic'], sem_r):.3f} "
            f"hybrid {recall(truth['hybrid'], hyb_r):.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mentions", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3, help="passes of the hybrid vs floor")
    parser.add_argument("--skip-embedders", action="store_true", help="no throughput section")
    parser.add_argument("--skip-indexes", action="store_true", help="no vector index table")
    args = parser.parse_args()
    texts = generate(args.mentions)
    local = LocalEmbedder()
    if not args.skip_embedders:
        embedding_throughput(local, texts)

    vectors = vectors_for(texts, local)
    query_texts = queries(args.queries)
    embed_times = []
    for text in query_texts:
        started = time.perf_counter()
        local.embed([text])
        embed_times.append(time.perf_counter() - started)
    query_vectors = [v.tolist() for v in local.embed(query_texts)]

    tmp = tempfile.mkdtemp(prefix="cm_bench_search_")
    settings = load_settings({"CM_DB_PATH": f"{tmp}/db", "DAGSTER_HOME": tmp})
    # load without an index; the indexes are built below
    store = StoreWriter.connect(settings, Maintenance(vector_index_min_rows=10**12))
    search = MentionSearch(store, settings.embedder)
    load(store, texts, vectors, local.id)

    print(f"\n== search, {len(query_texts)} queries, limit 10, p50 / p99 ms ==")
    print(f"{'query embedding (local model)':38s} {ms(embed_times)}  (in search(), not below)")
    truth = {}
    for mode in ("semantic", "keyword", "hybrid"):
        times, results = run_queries(search, mode, query_texts, query_vectors, exact=True)
        truth[mode] = results
        print(f"{mode:8s} no vector index (brute force): {ms(times)}")

    store.build_vector_index()
    hybrid_against_floor(store, settings, query_texts, query_vectors, truth, args.repeats)
    hybrid_profile(store, query_texts, query_vectors)
    if not args.skip_indexes:
        index_candidates(store, search, query_texts, query_vectors, truth, len(texts))
    print(
        f"\nstore default: {vector_index_config(len(texts))!r} from "
        f"{Maintenance().vector_index_min_rows:,} rows, nprobes {NPROBES} (tmp db: {tmp})"
    )


if __name__ == "__main__":
    main()
