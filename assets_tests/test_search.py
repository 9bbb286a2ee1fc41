"""Mention search over the seeded example mentions, with the real offline embedder, through
real seed runs; embedder switches against the local OpenAI-compatible stub."""

import datetime as dt

import numpy as np
import pytest

from community_metrics.catalog import load_catalog
from community_metrics.config import load_settings
from community_metrics.definitions import build_definitions
from community_metrics.embeddings import sync
from community_metrics.embeddings.embedders import LocalEmbedder
from community_metrics.jobs import SEED_JOB
from community_metrics.mentions.records import mention_row
from community_metrics.runner import execute
from community_metrics.search.core import HYBRID_DEPTH, MentionSearch, SearchError
from community_metrics.search.fusion import content_words, keyword_gate, reciprocal_rank_fusion
from community_metrics.seed.parsers import parse_mentions
from community_metrics.store import (
    MENTIONS,
    Maintenance,
    StoreReader,
    StoreWriter,
    embeddings_spec,
    mention_filter,
)

from .fake_openai import OpenAIStub
from .test_mentions import metadata

EXAMPLES = 32
PARAPHRASES = {
    "moving off pinecone onto lancedb halved what we pay": "example|ex-001",
    "random access in lance is much quicker than parquet": "example|ex-002",
    "a single rust binary with the database compiled in": "example|ex-004",
    "query a table the way it looked some days ago": "example|ex-006",
}


@pytest.fixture(scope="module")
def local():
    return LocalEmbedder()


@pytest.fixture
def seeded(defs, settings, instance):
    result = execute(defs, SEED_JOB, instance)
    assert result.success
    return result


@pytest.fixture
def search(seeded, settings, store, local):
    return MentionSearch(store, settings.embedder, make_embedder=lambda _: local)


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
def test_a_paraphrase_finds_its_example_mention_first(search, mode):
    for query, key in PARAPHRASES.items():
        hits = search.search(query, mode, limit=5)
        assert hits[0].key == key, (query, [h.key for h in hits])
        assert hits[0].url.startswith("https://example.com/") and hits[0].snippet
        assert hits[0].score > hits[1].score


# Paraphrases sharing few or no content words with their target, but common words with other
# mentions. Plain reciprocal rank fusion ranked the first seven wrong (semantic alone right):
# the keyword leg's first hit, matched on one stray word, also had a semantic rank and won.
FEW_SHARED_WORDS = {
    # ex-031 (agents' long-term memory); plain fusion: ex-014 on "before"
    "the chatbot remembers what was said before": "example|ex-031",
    # ex-007 (video frames, captions, CLIP embeddings in one dataset); plain: ex-023 on "model"
    "the data for the model is in one place with the pictures and the text": "example|ex-007",
    # ex-005 (lancedb in production, upserts, concurrent writers); plain: ex-010 on "write(s)"
    "can it be used by a big company for real work with lots of writes": "example|ex-005",
    # ex-028 (0.38 cannot open a table by 0.40); plain: ex-008 on "new", "one", "wrote"
    "old client can't read what the new one wrote": "example|ex-028",
    # ex-018 (rolled back a bad labeling batch); plain: ex-002 on "data"
    "we reverted the mistake in the data quickly": "example|ex-018",
    # ex-030 (deleting rows older than 90 days); plain: ex-006 on "last" (Tuesday)
    "we want to throw away last year's data": "example|ex-030",
    # ex-007 again; plain: ex-026 on "data" and "vectors"
    "data for pictures, subtitles and vectors in a single place": "example|ex-007",
    # Plain fusion ranked these right already; they must stay right.
    "which is the right way to throw away rows that are too old": "example|ex-030",
    "it got slow after we wrote lots of tiny batches": "example|ex-012",
    "can I read my tables from a desktop app with no internet": "example|ex-011",
    "undo a bad change to the data in a few seconds": "example|ex-018",
    "does it work with tables in a google bucket": "example|ex-013",
    "one vector for every token of the document": "example|ex-017",
    "the error when an old client opens a table from a newer release": "example|ex-028",
    "new column without copying all the data again": "example|ex-025",
}
# Exact rare words whose mention semantic search alone does NOT rank first (so only the
# keyword leg can lift it); plain fusion also lost "400 ms" (to ex-026, "under 100 ms") and
# "ML feature store" (to ex-029, "vector store").
RARE_WORDS = {
    "pgvector": "example|ex-005",
    "epoch": "example|ex-002",
    "400 ms": "example|ex-019",
    "ML feature store": "example|ex-021",
}


def test_hybrid_ranks_paraphrases_as_semantic_does(search):
    for query, key in FEW_SHARED_WORDS.items():
        semantic = search.search(query, "semantic", limit=3)[0].key
        hybrid = search.search(query, "hybrid", limit=3)[0].key
        assert (semantic, hybrid) == (key, key), query


def test_hybrid_still_puts_an_exact_rare_word_first(search):
    for query, key in RARE_WORDS.items():
        assert search.search(query, "semantic", limit=3)[0].key != key, query
        assert search.search(query, "hybrid", limit=3)[0].key == key, query
    for query, key in {
        "Electron": "example|ex-011",
        "ColBERT": "example|ex-017",
        "Hugging Face": "example|ex-032",
    }.items():
        assert search.search(query, "hybrid", limit=3)[0].key == key, query


def test_hybrid_of_only_stop_words_is_semantic(search):
    # The index keeps "would", "one" and "like"; plain fusion ranked ex-017 first on "one".
    query = "would one do it like that"
    semantic = [h.key for h in search.search(query, "semantic", limit=5)]
    assert [h.key for h in search.search(query, "hybrid", limit=5)] == semantic
    assert search.search(query, "keyword")  # keyword mode still searches the words as given


def test_keyword_search_ranks_exact_words(search):
    hits = search.search("Electron", "keyword")
    assert [h.key for h in hits] == ["example|ex-011"]
    assert hits[0].snippet.startswith("The JavaScript SDK") and hits[0].score > 0


def test_filters_on_product_source_and_dates(search):
    lance = search.search("fast reads of columnar files", "hybrid", products=["lance"], limit=20)
    assert lance and all("lance" in h.products for h in lance)
    everything = search.search("fast reads of columnar files", "hybrid", limit=50)
    assert len(lance) < len(everything)  # the filter removed lancedb-only mentions
    assert search.search("lancedb", "hybrid", sources=["github"]) == []
    day = dt.date(2025, 4, 24)  # ex-003's day
    hits = search.search("index", "hybrid", start=day, end=day)
    assert [h.key for h in hits] == ["example|ex-003"]
    assert all(h.occurred_at.date() >= day for h in search.search("x", "semantic", start=day))


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"query": "  "}, "empty"),
        ({"query": "x", "mode": "fuzzy"}, "not one of"),
        ({"query": "lancedb " * 200}, "at most 1000"),
        ({"query": "x", "limit": 0}, "out of range"),
        ({"query": "x", "start": dt.date(2026, 2, 1), "end": dt.date(2026, 1, 1)}, "after"),
        ({"query": "x", "products": ["lance') OR true --"]}, "invalid filter"),
    ],
)
def test_bad_searches_say_what_to_change(search, kwargs, problem):
    with pytest.raises(SearchError, match=problem):
        search.search(**kwargs)


def test_rerun_embeds_nothing_and_switching_embedder_re_embeds_all(
    seeded, defs, settings, env, store, instance, local
):
    assert metadata(seeded, "mention_embeddings")["embedded"] == EXAMPLES
    again = execute(defs, SEED_JOB, instance)
    assert metadata(again, "mention_embeddings")["embedded"] == 0
    rerun = metadata(again, "mention_embeddings")
    assert (rerun["rows_inserted"], rerun["rows_updated"], rerun["table"]) == (
        0,
        0,
        "mention_embeddings",
    )
    assert rerun["table_version"] == store.table_versions()["mention_embeddings"] > 0
    assert metadata(again, "mention_embeddings")["unchanged"] == EXAMPLES

    stub = OpenAIStub(max_chars=100_000)
    try:
        remote_env = {
            **env,
            "CM_EMBEDDER": "openai",
            "OPENAI_API_KEY": "sk-test-not-real",
            "OPENAI_BASE_URL": stub.url,
        }
        remote = load_settings(remote_env)
        switched = execute(build_definitions(remote), SEED_JOB, instance)
        meta = metadata(switched, "mention_embeddings")
        assert meta["embedded"] == EXAMPLES and meta["replaced_embedders"] == [LocalEmbedder.id]
        assert meta["embedding_requests"] == 1 and meta["prompt_tokens"] > 0
        assert "sk-test-not-real" not in str(switched.all_events)
        info = store.embeddings_info()
        assert info == {
            **info,
            "rows": EXAMPLES,
            "dim": 8,
            "embedders": ["openai:text-embedding-3-small"],
        }

        with pytest.raises(SearchError, match="CM_EMBEDDER"):
            MentionSearch(store, settings.embedder, lambda _: local).search("lancedb", "semantic")
        assert MentionSearch(store, remote.embedder).search("lancedb on s3", "semantic")
        # keyword search needs no embedder at all
        assert MentionSearch(store, settings.embedder, lambda _: local).search("S3", "keyword")
    finally:
        stub.close()

    back = execute(defs, SEED_JOB, instance)
    assert metadata(back, "mention_embeddings")["embedded"] == EXAMPLES
    assert store.embeddings_info()["embedders"] == [LocalEmbedder.id]


def test_vector_index_keeps_recall_at_10(settings, monkeypatch):
    """Once the table is large enough the measured index is built; recall@10 vs brute force."""
    store = StoreWriter.connect(settings, Maintenance(vector_index_min_rows=3_000))
    rng = np.random.default_rng(3)
    centers = rng.normal(size=(40, 64))
    vectors = centers[rng.integers(0, 40, 4_000)] + 0.35 * rng.normal(size=(4_000, 64))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    at = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    rows = [
        {
            "source": "bench",
            "source_id": str(i),
            "kind": "comment",
            "title": None,
            "text": f"mention {i}",
            "url": None,
            "author": None,
            "occurred_at": at,
            "products": ["lancedb"],
            "content_hash": str(i),
            "document": f"mention {i}",
            "embedder": "test",
            "vector": v.tolist(),
            "embedded_at": at,
        }
        for i, v in enumerate(vectors)
    ]
    store.write_embeddings(rows, 64, replace=True)
    assert any(i.startswith("IvfFlat(vector)") for i in store.embeddings_info()["indexes"])
    queries = centers[rng.integers(0, 40, 30)] + 0.35 * rng.normal(size=(30, 64))
    found = []
    for q in queries:
        exact = {h["key"] for h in store.nearest_mentions(q, exact=True)}
        approx = {h["key"] for h in store.nearest_mentions(q)}
        found.append(len(exact & approx) / 10)
    assert np.mean(found) >= 0.95


def test_an_interrupted_embedding_keeps_its_finished_chunks(settings, seed_dir, local, monkeypatch):
    store = StoreWriter.connect(settings)
    store.ensure_tables()
    catalog = load_catalog(seed_dir)
    found = parse_mentions([seed_dir / "mentions.jsonl"], catalog, dt.date(2026, 11, 23))
    now = dt.datetime.now(dt.UTC)
    store.upsert(MENTIONS, [mention_row(f, catalog, now, "test-run") for f in found])
    monkeypatch.setattr(sync, "CHUNK", 10)

    class DiesOnThirdChunk:
        usage = local.usage

        def __init__(self):
            self.calls = 0

        def embed(self, texts):
            self.calls += 1
            if self.calls == 3:
                raise RuntimeError("the process was killed")
            return local.embed(texts)

    with pytest.raises(RuntimeError, match="killed"):
        sync.sync_embeddings(store, LocalEmbedder.id, DiesOnThirdChunk)
    assert store.embeddings_info()["rows"] == 20  # two committed chunks, nothing partial
    resumed = sync.sync_embeddings(store, LocalEmbedder.id, lambda: local)
    assert (resumed.embedded, resumed.unchanged) == (EXAMPLES - 20, 20)
    assert store.embeddings_info()["rows"] == EXAMPLES


def sequential_hybrid(store, text, vector, where, limit):
    """Hybrid search as it was before the legs ran at once: one leg after the other, full rows
    from both, fused by the same gate and reciprocal rank fusion."""
    depth = max(limit * HYBRID_DEPTH, 40)
    rankings = [store.nearest_mentions(vector, where=where, limit=depth)]
    terms = content_words(text)
    if terms:
        hits = store.keyword_mentions(" ".join(terms), where=where, limit=depth)
        rankings.append(keyword_gate(hits, terms))
    return reciprocal_rank_fusion(rankings, limit)


def test_concurrent_hybrid_equals_the_sequential_fusion(search, store, local):
    queries = [*PARAPHRASES, *FEW_SHARED_WORDS, *RARE_WORDS, "would one do it like that"]
    filters = [None, mention_filter(products=["lance"]), mention_filter(end=dt.date(2025, 6, 1))]
    vectors = local.embed(queries)
    compared = 0
    for query, vector in zip(queries, vectors, strict=True):
        for where in filters:
            for limit in (3, 10, 20):
                want = sequential_hybrid(store, query, vector.tolist(), where, limit)
                got = search.ranked("hybrid", query, vector.tolist(), where=where, limit=limit)
                assert got == want, (query, where, limit)
                compared += bool(want)
    assert compared > 3 * len(queries)  # the filters left hits to compare


def _row_ids(store, vector, text):
    semantic, keyword = store.hybrid_legs(vector, text)
    return {h["key"]: h["row_id"] for h in [*keyword, *semantic]}


def test_rows_updated_deleted_or_compacted_between_the_legs_and_the_fetch(seeded, settings, local):
    """Row ids name rows of one table layout: an update moves its row, compaction moves all.
    The fused hits still come back with the rows stored now, in fusion's order."""
    reader = StoreReader.connect(settings)  # the API's kind of handle, apart from the writer
    query = "random access in lance is much quicker than parquet"
    vector = local.embed([query])[0].tolist()
    terms = content_words(query)
    semantic, keyword = reader.hybrid_legs(vector, " ".join(terms))
    hits = reciprocal_rank_fusion([semantic, keyword_gate(keyword, terms)], 10)
    before = _row_ids(reader, vector, " ".join(terms))
    changed, deleted = hits[0]["key"], hits[4]["key"]
    spec = embeddings_spec(local.dim)
    writer = StoreWriter.connect(settings, Maintenance(compact_small_fragments=1))

    def fetched_as_stored():
        stored = {r["key"]: r for r in writer.scan(spec).to_pylist()}
        got = reader.rows_of(hits)
        assert [r["key"] for r in got] == [h["key"] for h in hits if h["key"] != deleted]
        for row, hit in zip(got, [h for h in hits if h["key"] != deleted], strict=True):
            want = {k: stored[row["key"]][k] for k in row if k != "score"}
            assert row == {**want, "score": hit["score"]}
        return {r["key"]: r for r in got}

    rows = {r["key"]: r for r in writer.scan(spec).to_pylist()}
    rows[changed] = {**rows[changed], "text": "Rewritten since the search ran."}
    kept = [r for k, r in rows.items() if k != deleted]
    writer.upsert(spec, kept, mirror=True)  # moves `changed`; its optimize() indexes it
    moved = _row_ids(reader, vector, " ".join(terms))
    assert deleted not in moved and moved[changed] != before[changed]
    assert any(moved[k] == before[k] for k in moved)  # the others are still where they were
    assert fetched_as_stored()[changed]["text"] == "Rewritten since the search ran."

    writer.upsert(spec, kept, mirror=True)  # no change, but now optimize() compacts
    compacted = _row_ids(reader, vector, " ".join(terms))
    assert all(compacted[k] != moved[k] for k in compacted)
    assert fetched_as_stored()[changed]["text"] == "Rewritten since the search ran."
    # a filter applies to the rows read by key too
    lance_only = reader.rows_of(hits, where=mention_filter(products=["lance"]))
    assert lance_only and all("lance" in r["products"] for r in lance_only)
    assert len(lance_only) < len(hits) - 1
