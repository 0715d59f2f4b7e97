"""Embedders: hashing (offline default), sentence-transformers, OpenAI-compatible HTTP.

Importing this package imports neither torch nor sentence-transformers: the sentence-transformers
embedder loads them when it is built. `OpenAICompatibleEmbedder` loads httpx on first use.
"""

import importlib
from typing import TYPE_CHECKING, Any

from infrastructure.embeddings.hashing import HashingEmbedder
from infrastructure.embeddings.sentence_transformer import (
    SentenceTransformerEmbedder,
    bundled_minilm_path,
)

if TYPE_CHECKING:
    from infrastructure.embeddings.openai_compatible import OpenAICompatibleEmbedder


def __getattr__(name: str) -> Any:
    if name == "OpenAICompatibleEmbedder":
        return getattr(importlib.import_module("infrastructure.embeddings.openai_compatible"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "HashingEmbedder",
    "OpenAICompatibleEmbedder",
    "SentenceTransformerEmbedder",
    "bundled_minilm_path",
]
