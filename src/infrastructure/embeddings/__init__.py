"""Embedders: hashing (offline default), sentence-transformers, OpenAI-compatible HTTP.

Importing this package imports neither torch nor sentence-transformers: the sentence-transformers
embedder loads them when it is built.
"""

from infrastructure.embeddings.hashing import HashingEmbedder
from infrastructure.embeddings.openai_compatible import OpenAICompatibleEmbedder
from infrastructure.embeddings.sentence_transformer import (
    SentenceTransformerEmbedder,
    bundled_minilm_path,
)

__all__ = [
    "HashingEmbedder",
    "OpenAICompatibleEmbedder",
    "SentenceTransformerEmbedder",
    "bundled_minilm_path",
]
