"""Token-aware chunking: a recursive structural splitter and the token counters it sizes with."""

from infrastructure.chunking.recursive import RecursiveTokenChunker
from infrastructure.chunking.tokens import (
    HuggingFaceTokenCounter,
    RegexTokenCounter,
    TokenCounter,
    TokenSpans,
)

__all__ = [
    "HuggingFaceTokenCounter",
    "RecursiveTokenChunker",
    "RegexTokenCounter",
    "TokenCounter",
    "TokenSpans",
]
