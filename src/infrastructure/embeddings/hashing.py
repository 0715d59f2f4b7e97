"""A deterministic, offline embedder: the hashing trick over lower-cased word tokens."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from application.ports import Embedder
from domain import Vector
from infrastructure.embeddings.tokens import RegexTokenCounter

_WORD = re.compile(r"\w+", re.UNICODE)
_CACHE_LIMIT = 200_000


class HashingEmbedder(Embedder):
    """Each word adds ±1 to one of `dimension` hashed buckets; vectors are L2-normalised.

    Lexical, not semantic: texts sharing words land close. Instant and reproducible across
    processes and machines (BLAKE2b, not Python's salted `hash`). Tokens are counted with
    `RegexTokenCounter` (words, a long one per 16 characters, and punctuation marks), the
    documented approximation used when there is no model tokenizer. A bounded per-process memo
    of each word's bucket keeps repeated words from being hashed again. Never raises for any text.
    """

    def __init__(self, *, dimension: int) -> None:
        if dimension < 2:
            raise ValueError("the dimension must be at least 2")
        self._dimension = dimension
        self._buckets: dict[str, int] = {}
        self._token_counter = RegexTokenCounter()

    @property
    def model_id(self) -> str:
        return f"hashing-v1:{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_input_tokens(self) -> int | None:
        return None

    @property
    def token_counter(self) -> RegexTokenCounter:
        return self._token_counter

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        return [self._embed_one(text) for text in texts]

    def _embed_one(self, text: str) -> list[float]:
        signed = [self._bucket(word) for word in _WORD.findall(text.lower())]
        if not signed:
            return [1.0] + [0.0] * (self._dimension - 1)
        codes = np.array(signed, dtype=np.int64)
        vector = np.bincount(
            np.abs(codes) - 1, weights=np.sign(codes).astype(np.float64), minlength=self._dimension
        )
        norm = float(np.sqrt(vector @ vector))
        if norm == 0.0:
            vector[0] = 1.0
            norm = 1.0
        values: list[float] = (vector / norm).tolist()
        return values

    def _bucket(self, word: str) -> int:
        """The word's bucket plus one, negated when the word subtracts."""
        code = self._buckets.get(word)
        if code is None:
            if len(self._buckets) >= _CACHE_LIMIT:
                self._buckets.clear()
            hashed = hashlib.blake2b(word.encode(), digest_size=8).digest()
            digest = int.from_bytes(hashed, "little")
            bucket = digest % self._dimension + 1
            code = self._buckets[word] = bucket if digest >> 63 else -bucket
        return code
