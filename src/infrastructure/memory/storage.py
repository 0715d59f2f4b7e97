"""Blobs kept in a dict."""

from __future__ import annotations

from application.errors import (
    BlobNotFound,
    DependencyUnavailable,
    DocumentTooLarge,
)
from application.ports import BlobStorage
from application.ports.storage import check_key, shown_name


class InMemoryBlobStorage(BlobStorage):
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.available = True

    def put(self, key: str, data: bytes) -> None:
        self._check_available()
        self.blobs[check_key(key)] = bytes(data)

    def get(self, key: str, max_bytes: int | None = None) -> bytes:
        size = self.size(key)
        if max_bytes is not None and size > max_bytes:
            raise DocumentTooLarge(f"{shown_name(key)} is {size} bytes; the limit is {max_bytes}")
        return self.blobs[key]

    def size(self, key: str) -> int:
        self._check_available()
        try:
            return len(self.blobs[check_key(key)])
        except KeyError:
            raise BlobNotFound(f"nothing is stored under {shown_name(key)}") from None

    def exists(self, key: str) -> bool:
        self._check_available()
        return check_key(key) in self.blobs

    def _check_available(self) -> None:
        if not self.available:
            raise DependencyUnavailable("the in-memory storage is switched off")
