"""`HeldVectors` in Redis: the vectors an interrupted attempt received, one key per text.

Each vector is its float32 bytes under `ingestion-worker:held-vector:{workspace}:{model}:{hash}`
with a time to live, written in one pipeline and read with one MGET. Only an attempt that stopped
part-way writes here, so a healthy run costs one MGET of absent keys per document.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from uuid import UUID

from redis import Redis
from redis.exceptions import RedisError

from application.errors import DependencyUnavailable
from application.ports import HeldVectors
from domain import Vector

_PREFIX = "ingestion-worker:held-vector"


class RedisHeldVectors(HeldVectors):
    """Held vectors in Redis, each kept `ttl_seconds` after it was held."""

    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        if ttl_seconds < 1:
            raise ValueError("ttl_seconds must be at least 1")
        self._redis = redis
        self._ttl = ttl_seconds

    def hold(self, workspace_id: UUID, model_id: str, vectors: Mapping[str, Vector]) -> None:
        import numpy as np  # loaded by a worker, not by a command that only submits

        try:
            with self._redis.pipeline(transaction=False) as pipe:
                for content_hash, vector in vectors.items():
                    data = np.asarray(vector, dtype=np.float32).tobytes()
                    pipe.set(_key(workspace_id, model_id, content_hash), data, ex=self._ttl)
                pipe.execute()
        except (RedisError, OSError) as error:
            raise DependencyUnavailable(f"Redis did not keep the held vectors: {error}") from error

    def lookup(
        self, workspace_id: UUID, model_id: str, content_hashes: Collection[str]
    ) -> dict[str, Vector]:
        import numpy as np

        hashes = sorted(set(content_hashes))
        if not hashes:
            return {}
        try:
            values = self._redis.mget([_key(workspace_id, model_id, h) for h in hashes])
        except (RedisError, OSError) as error:
            raise DependencyUnavailable(f"Redis did not read the held vectors: {error}") from error
        return {
            content_hash: np.frombuffer(value, dtype=np.float32).tolist()
            for content_hash, value in zip(hashes, values, strict=True)
            if isinstance(value, bytes)
        }


def _key(workspace_id: UUID, model_id: str, content_hash: str) -> str:
    return f"{_PREFIX}:{workspace_id}:{model_id}:{content_hash}"
