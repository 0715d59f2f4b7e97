"""Embedders: hashing (offline default), sentence-transformers, OpenAI-compatible HTTP, and the
token counters they give the chunker (a model's own tokenizer, or a word-and-punctuation estimate).

Importing this package imports neither torch nor sentence-transformers: the sentence-transformers
embedder loads them when it is built. Nor numpy: the hashing embedder and the token counters
load it on first use (a command that reads the settings, which ask `bundled_minilm_path`, or
only submits files never embeds), as `OpenAICompatibleEmbedder` loads httpx.
"""

import importlib
from typing import TYPE_CHECKING, Any

from infrastructure.embeddings.deferred import DeferredEmbedder, stated_dimension
from infrastructure.embeddings.sentence_transformer import (
    SentenceTransformerEmbedder,
    bundled_minilm_path,
)

if TYPE_CHECKING:
    from infrastructure.embeddings.hashing import HashingEmbedder
    from infrastructure.embeddings.openai_compatible import OpenAICompatibleEmbedder
    from infrastructure.embeddings.tokens import (
        HuggingFaceTokenCounter,
        NumpyTokenSpans,
        RegexTokenCounter,
    )

#: What is imported on first use, from which module (each loads numpy, and httpx for one).
_ON_FIRST_USE = {
    "HashingEmbedder": "infrastructure.embeddings.hashing",
    "HuggingFaceTokenCounter": "infrastructure.embeddings.tokens",
    "NumpyTokenSpans": "infrastructure.embeddings.tokens",
    "OpenAICompatibleEmbedder": "infrastructure.embeddings.openai_compatible",
    "RegexTokenCounter": "infrastructure.embeddings.tokens",
}


def __getattr__(name: str) -> Any:
    if name in _ON_FIRST_USE:
        return getattr(importlib.import_module(_ON_FIRST_USE[name]), name)
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
