"""Where uploaded files live."""

from __future__ import annotations

from typing import Protocol

from application.errors import InvalidStorageKey


class BlobStorage(Protocol):
    """A key-value store of file bytes (a folder, a bucket).

    Keys are relative, `/`-separated paths such as `workspace/document/report.pdf`; a key that
    is absolute, climbs with `..`, holds a NUL byte or otherwise escapes the store raises
    `InvalidStorageKey`. Unreachable backends raise `DependencyUnavailable`. A store holds the
    files of every workspace (under `<workspace_id>/`); it does not know which key belongs to
    whom, so callers check that a document's key lies under its workspace before reading it.
    Its methods may be called from several threads at once (a batch's files are stored together).
    """

    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key` atomically: readers see old or new bytes, never a part."""
        ...

    def get(self, key: str, max_bytes: int | None = None) -> bytes:
        """The bytes under `key`.

        Raises `BlobNotFound` when nothing is stored there, `DocumentTooLarge` without
        reading the content when it is larger than `max_bytes`, `BlobUnreadable` when something
        is stored there that cannot be read (the blob's fault: retrying will not help), and
        `DependencyUnavailable` when the store itself cannot be reached.
        """
        ...

    def size(self, key: str) -> int:
        """The size in bytes of what is stored under `key`; `BlobNotFound` when nothing is."""
        ...

    def exists(self, key: str) -> bool:
        """Whether something is stored under `key`."""
        ...


def check_key(key: str) -> str:
    """Return `key` if it is a plain relative path; raise `InvalidStorageKey` otherwise.

    Refused: empty keys, absolute paths, `.`/`..`/empty segments, NUL bytes and backslashes.
    Every adapter applies this before touching its backend.
    """
    parts = key.split("/")
    if (
        not key
        or "\x00" in key
        or "\\" in key
        or key.startswith("/")
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise InvalidStorageKey(f"storage key {shown_name(key)} is not a plain relative path")
    return key


#: The most characters of a storage key or a file name an error message shows.
SHOWN_NAME_CHARS = 200


def shown_name(name: str) -> str:
    """A storage key or a file name as error messages show it: quoted, and cut to its first
    `SHOWN_NAME_CHARS` characters with an ellipsis, so a hostile name cannot blow up a message,
    a log line or a stored error."""
    if len(name) <= SHOWN_NAME_CHARS:
        return repr(name)
    return repr(name[:SHOWN_NAME_CHARS]) + "…"
