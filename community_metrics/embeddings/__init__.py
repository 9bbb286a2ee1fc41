"""Embeddings stage: text embedders (offline ONNX default, OpenAI-compatible)."""
