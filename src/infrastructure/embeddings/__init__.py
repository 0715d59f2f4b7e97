"""Embedders: hashing (offline default), sentence-transformers, OpenAI-compatible HTTP, and the
token counters they give the chunker (a model's own tokenizer, or a word-and-punctuation estimate).

Importing this package imports neither torch nor sentence-transformers: the sentence-transformers
embedder loads them when it is built. `OpenAICompatibleEmbedder` loads httpx on first use.
"""

import importlib
from typing import TYPE_CHECKING, Any

from infrastructure.embeddings.deferred import DeferredEmbedder, stated_dimension
from infrastructure.embeddings.hashing import HashingEmbedder
from infrastructure.embeddings.sentence_transformer import (
    SentenceTransformerEmbedder,
    bundled_minilm_path,
)
from infrastructure.embeddings.tokens import (
    HuggingFaceTokenCounter,
    NumpyTokenSpans,
    RegexTokenCounter,
)

if TYPE_CHECKING:
    from infrastructure.embeddings.openai_compatible import OpenAICompatibleEmbedder


def __getattr__(name: str) -> Any:
    if name == "OpenAICompatibleEmbedder":
        return getattr(importlib.import_module("infrastructure.embeddings.openai_compatible"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DeferredEmbedder",
    "HashingEmbedder",
    "HuggingFaceTokenCounter",
    "NumpyTokenSpans",
    "OpenAICompatibleEmbedder",
    "RegexTokenCounter",
    "SentenceTransformerEmbedder",
    "bundled_minilm_path",
    "stated_dimension",
]
