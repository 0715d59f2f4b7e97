"""Blobs kept as files under one directory."""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from application.errors import (
    BlobNotFound,
    BlobUnreadable,
    DependencyUnavailable,
    DocumentTooLarge,
    InvalidStorageKey,
)
from application.ports import BlobStorage
from application.ports.storage import check_key, shown_name

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK so that a FIFO planted under the root cannot hang a reader; no effect on files.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_KEY_ERRNOS = {errno.ELOOP, errno.ENAMETOOLONG}


class LocalBlobStorage(BlobStorage):
    """Each key is a file under `root`; `a/b/c.pdf` lives at `root/a/b/c.pdf`.

    Keys never leave the root: besides `check_key`, every path is walked one directory at a
    time relative to an open descriptor of the root with `O_NOFOLLOW`, so a symbolic link
    anywhere under the root (to a file or a directory, pointing in or out) makes the key an
    `InvalidStorageKey`, and no link swapped in between check and use can redirect it. A file
    with more than one hard link (`st_nlink` > 1, from the same `fstat` or `lstat` that sizes
    it) is refused by `get`, `size` and `exists` as `InvalidStorageKey` too: its other name may
    lie outside the root or under another key, and this store never makes one itself. `put`
    replaces the name only, so the other link's file is never written.

    Writes are atomic: the bytes go to a temporary file in the target directory, are fsynced,
    and `os.replace` puts them in place, so a reader sees the old content or the new, never a
    part, and a failed write leaves the old content. Errors: `BlobNotFound` for a missing key
    (or one naming a directory), `DocumentTooLarge` from `get` by `fstat` before any read,
    `BlobUnreadable` when the key's file is there but cannot be opened or read (permissions, a
    device or socket in its place, an I/O error on it: the document's problem, retrying does not
    fix it), and `DependencyUnavailable` when the root itself is unusable or a write fails
    (disk full, read-only volume): faults of the store, which a retry gets past once fixed.
    """

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()

    def put(self, key: str, data: bytes) -> None:
        with _translated(key), self._parent(key, create=True) as (parent, name):
            _refuse_link(parent, name, key)
            temporary = f".{name[:200]}.{secrets.token_hex(8)}.tmp"
            try:
                _write_file(parent, temporary, data)
                os.replace(temporary, name, src_dir_fd=parent, dst_dir_fd=parent)
            except BaseException:
                _unlink_quietly(parent, temporary)
                raise
            os.fsync(parent)

    def get(self, key: str, max_bytes: int | None = None) -> bytes:
        with _translated(key, reading=True), self._parent(key) as (parent, name):
            descriptor = os.open(name, _READ_FLAGS, dir_fd=parent)
            try:
                size = _regular_size(os.fstat(descriptor), key)
                if max_bytes is not None and size > max_bytes:
                    raise DocumentTooLarge(
                        f"{shown_name(key)} is {size} bytes; the limit is {max_bytes}"
                    )
                with open(descriptor, "rb", closefd=False) as file:
                    return file.read()
            finally:
                os.close(descriptor)

    def size(self, key: str) -> int:
        with _translated(key), self._parent(key) as (parent, name):
            return _regular_size(_lstat(parent, name, key), key)

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except BlobNotFound:
            return False
        return True

    @contextmanager
    def _parent(self, key: str, create: bool = False) -> Iterator[tuple[int, str]]:
        """An open descriptor of the directory holding `key`'s file, and the file's name."""
        *folders, name = check_key(key).split("/")
        descriptor = self._open_root()
        try:
            for folder in folders:
                if create:
                    _make_directory(descriptor, folder)
                child = _open_directory(descriptor, folder, key, create)
                os.close(descriptor)
                descriptor = child
            yield descriptor, name
        finally:
            os.close(descriptor)

    def _open_root(self) -> int:
        try:
            return os.open(self.root, _DIRECTORY_FLAGS)
        except OSError as error:
            raise DependencyUnavailable(f"storage root {self.root} is unusable: {error}") from error


def _open_directory(parent: int, name: str, key: str, create: bool) -> int:
    """Open folder `name` of `key`'s path; a file in its place is a conflict when writing."""
    try:
        return os.open(name, _DIRECTORY_FLAGS, dir_fd=parent)
    except NotADirectoryError as error:
        _lstat(parent, name, key)
        if create:
            raise InvalidStorageKey(f"storage key {shown_name(key)} runs through a file") from error
        raise BlobNotFound(f"nothing is stored under {shown_name(key)}") from error


def _make_directory(parent: int, name: str) -> None:
    with suppress(FileExistsError):
        os.mkdir(name, dir_fd=parent)


def _lstat(parent: int, name: str, key: str) -> os.stat_result:
    """`lstat` of `name`; a symbolic link there makes `key` invalid."""
    status = os.stat(name, dir_fd=parent, follow_symlinks=False)
    if stat.S_ISLNK(status.st_mode):
        raise InvalidStorageKey(f"storage key {shown_name(key)} passes through a symbolic link")
    return status


def _refuse_link(parent: int, name: str, key: str) -> None:
    with suppress(FileNotFoundError):
        _lstat(parent, name, key)


def _regular_size(status: os.stat_result, key: str) -> int:
    """The size of a blob's file: a regular file with no other hard link."""
    if not stat.S_ISREG(status.st_mode):
        raise BlobNotFound(f"nothing is stored under {shown_name(key)} (it is not a regular file)")
    if status.st_nlink > 1:
        raise InvalidStorageKey(f"storage key {shown_name(key)} names a file with a hard link")
    return status.st_size


def _write_file(parent: int, name: str, data: bytes) -> None:
    descriptor = os.open(name, _WRITE_FLAGS, 0o644, dir_fd=parent)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(descriptor)


def _unlink_quietly(parent: int, name: str) -> None:
    with suppress(FileNotFoundError):
        os.unlink(name, dir_fd=parent)


@contextmanager
def _translated(key: str, reading: bool = False) -> Iterator[None]:
    """Turn `OSError`s into the application's storage errors. Once the root is open (which
    raises `DependencyUnavailable` itself), a read that fails is the blob's problem."""
    try:
        yield
    except FileNotFoundError as error:
        raise BlobNotFound(f"nothing is stored under {shown_name(key)}") from error
    except (IsADirectoryError, NotADirectoryError) as error:
        raise InvalidStorageKey(f"storage key {shown_name(key)} collides with a folder") from error
    except OSError as error:
        if error.errno in _KEY_ERRNOS:
            raise InvalidStorageKey(
                f"storage key {shown_name(key)} is not usable here: {error.strerror}"
            ) from error
        if reading:
            raise BlobUnreadable(f"the stored file cannot be read: {error.strerror}") from error
        raise DependencyUnavailable(
            f"local storage failed for {shown_name(key)}: {error.strerror}"
        ) from error
