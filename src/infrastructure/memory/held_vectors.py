"""`HeldVectors` in this process's memory (no expiry: for tests and single-process use)."""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping
from uuid import UUID

from application.errors import DependencyUnavailable
from application.ports import HeldVectors
from domain import Vector


class InMemoryHeldVectors(HeldVectors):
    """Held vectors in a dict; `available = False` makes every call raise, as an unreachable
    store would."""

    def __init__(self) -> None:
        self._vectors: dict[tuple[UUID, str, str], Vector] = {}
        self._lock = threading.Lock()
        self.available = True

    def hold(self, workspace_id: UUID, model_id: str, vectors: Mapping[str, Vector]) -> None:
        self._check_available()
        with self._lock:
            for content_hash, vector in vectors.items():
                self._vectors[(workspace_id, model_id, content_hash)] = list(vector)

    def lookup(
        self, workspace_id: UUID, model_id: str, content_hashes: Collection[str]
    ) -> dict[str, Vector]:
        self._check_available()
        with self._lock:
            found = {h: self._vectors.get((workspace_id, model_id, h)) for h in content_hashes}
        return {h: v for h, v in found.items() if v is not None}

    def _check_available(self) -> None:
        if not self.available:
            raise DependencyUnavailable("the held-vector store is unavailable")
