"""Benchmark: embedding throughput per embedder, and mention search at 100,000 mentions.

Prints texts/s for the offline embedder and for the OpenAI client path (against a local
OpenAI-compatible stub: client overhead only, not OpenAI's latency), then p50/p99 of
semantic, keyword and hybrid search through the store, brute force and with each candidate
vector index, with recall@10 against brute force. The store's default index is the first row
of the index table that keeps recall@10 >= 0.95.

Mentions are generated from templates (deterministic) and embedded with the real local model;
the vectors are cached in bench/.cache so a re-run skips the ~7 minutes of embedding.

    uv run python bench/search_100k.py [--mentions 100000] [--queries 200]
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
from community_metrics.search.core import MentionSearch  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mentions", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    texts = generate(args.mentions)
    local = LocalEmbedder()

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

    vectors = vectors_for(texts, local)
    query_texts = queries(args.queries)
    query_vectors = [v.tolist() for v in local.embed(query_texts)]

    tmp = tempfile.mkdtemp(prefix="cm_bench_search_")
    settings = load_settings({"CM_DB_PATH": f"{tmp}/db", "DAGSTER_HOME": tmp})
    # load without an index; the indexes are built below
    store = StoreWriter.connect(settings, Maintenance(vector_index_min_rows=10**12))
    search = MentionSearch(store, settings.embedder)
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
                    "embedder": local.id,
                    "vector": vectors[i].tolist(),
                    "embedded_at": start,
                }
            )
        store.write_embeddings(rows, local.dim, replace=offset == 0)
    print(
        f"\nloaded {len(texts):,} mentions into the search table in "
        f"{time.perf_counter() - began:.0f} s"
    )

    print(f"\n== search, {len(query_texts)} queries, limit 10, p50 / p99 ms ==")
    truth = {}
    for mode in ("semantic", "keyword", "hybrid"):
        times, results = run_queries(search, mode, query_texts, query_vectors, exact=True)
        truth[mode] = results
        print(
            f"{mode:8s} no vector index (brute force): {percentile(times, 50):6.1f} / "
            f"{percentile(times, 99):6.1f}"
        )

    n = len(texts)
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
            f"{name:40s} build {built:5.1f}  semantic {percentile(sem_t, 50):5.1f} / "
            f"{percentile(sem_t, 99):5.1f}  hybrid {percentile(hyb_t, 50):5.1f} / "
            f"{percentile(hyb_t, 99):5.1f}  recall@10 semantic "
            f"{recall(truth['semantic'], sem_r):.3f} hybrid {recall(truth['hybrid'], hyb_r):.3f}"
        )
    print(
        f"\nstore default: {vector_index_config(n)!r} from "
        f"{Maintenance().vector_index_min_rows:,} rows, nprobes {NPROBES} (tmp db: {tmp})"
    )


if __name__ == "__main__":
    main()
