"""A deterministic, offline embedder: the hashing trick over lower-cased word tokens."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence

from application.ports import Embedder
from domain import Vector

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder(Embedder):
    """Each word adds ±1 to one of `dimension` buckets chosen by its hash; vectors are L2-normalised.

    Lexical, not semantic: texts sharing words land close. Instant and reproducible across
    processes and machines (BLAKE2b, not Python's salted `hash`). Token count: words and
    punctuation marks, the documented approximation used when there is no model tokenizer.
    """

    def __init__(self, dimension: int = 384) -> None:
        if dimension < 2:
            raise ValueError("the dimension must be at least 2")
        self._dimension = dimension

    @property
    def model_id(self) -> str:
        return f"hashing-v1:{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_input_tokens(self) -> int | None:
        return None

    def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text))

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        return [self._embed_one(text) for text in texts]

    def _embed_one(self, text: str) -> list[float]:
        vector = [0.0] * self._dimension
        for word in _WORD.findall(text.lower()):
            digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
            vector[digest % self._dimension] += 1.0 if digest >> 63 else -1.0
        norm = math.sqrt(sum(x * x for x in vector))
        if norm == 0.0:
            vector[0] = 1.0
            return vector
        return [x / norm for x in vector]
