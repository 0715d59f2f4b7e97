"""What only the filesystem adapter has to get right: links, atomic writes, odd files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from application.errors import (
    BlobNotFound,
    DependencyUnavailable,
    DocumentTooLarge,
    InvalidStorageKey,
)
from infrastructure.storage import LocalBlobStorage


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "blobs"


@pytest.fixture
def storage(root: Path) -> LocalBlobStorage:
    return LocalBlobStorage(root)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_bytes(b"not yours")
    return secret


def all_operations(storage: LocalBlobStorage, key: str) -> list:
    return [
        lambda: storage.put(key, b"overwrite"),
        lambda: storage.get(key),
        lambda: storage.size(key),
        lambda: storage.exists(key),
    ]


def test_keys_are_files_under_the_root(storage: LocalBlobStorage, root: Path) -> None:
    storage.put("ws/doc/report.pdf", b"%PDF-")
    assert (root / "ws" / "doc" / "report.pdf").read_bytes() == b"%PDF-"


def test_a_symlinked_file_pointing_out_is_refused(
    storage: LocalBlobStorage, root: Path, outside: Path
) -> None:
    (root / "ws").mkdir()
    (root / "ws" / "link.txt").symlink_to(outside)
    for operation in all_operations(storage, "ws/link.txt"):
        with pytest.raises(InvalidStorageKey):
            operation()
    assert outside.read_bytes() == b"not yours"
    assert (root / "ws" / "link.txt").is_symlink()


def test_a_symlinked_directory_pointing_out_is_refused(
    storage: LocalBlobStorage, root: Path, outside: Path
) -> None:
    (root / "ws").symlink_to(outside.parent, target_is_directory=True)
    for operation in all_operations(storage, "ws/secret.txt"):
        with pytest.raises(InvalidStorageKey):
            operation()
    with pytest.raises(InvalidStorageKey):
        storage.put("ws/new/file.txt", b"x")
    assert sorted(p.name for p in outside.parent.iterdir()) == ["secret.txt"]
    assert outside.read_bytes() == b"not yours"


def test_links_pointing_inside_the_root_are_refused_too(
    storage: LocalBlobStorage, root: Path
) -> None:
    storage.put("real/file.txt", b"content")
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    with pytest.raises(InvalidStorageKey):
        storage.get("alias/file.txt")


def test_a_hard_link_to_a_file_outside_the_root_is_refused(
    storage: LocalBlobStorage, root: Path, outside: Path
) -> None:
    (root / "ws").mkdir(parents=True)
    os.link(outside, root / "ws" / "linked.txt")
    for operation in (
        lambda: storage.get("ws/linked.txt"),
        lambda: storage.size("ws/linked.txt"),
        lambda: storage.exists("ws/linked.txt"),
    ):
        with pytest.raises(InvalidStorageKey, match="hard link"):
            operation()

    storage.put("ws/linked.txt", b"replaced")  # a write replaces the name, not the file

    assert storage.get("ws/linked.txt") == b"replaced"
    assert outside.read_bytes() == b"not yours"


def test_a_file_hard_linked_twice_inside_the_root_is_refused_under_both_keys(
    storage: LocalBlobStorage, root: Path
) -> None:
    storage.put("a/report.txt", b"workspace a's text")
    (root / "b").mkdir()
    os.link(root / "a" / "report.txt", root / "b" / "report.txt")
    for key in ("a/report.txt", "b/report.txt"):
        with pytest.raises(InvalidStorageKey):
            storage.get(key)


def test_a_write_leaves_no_temporary_files(storage: LocalBlobStorage, root: Path) -> None:
    for round_ in range(3):
        storage.put("ws/doc.txt", f"version {round_}".encode())
    assert [p.name for p in (root / "ws").iterdir()] == ["doc.txt"]


def test_a_failing_write_keeps_the_old_content(root: Path) -> None:
    """The write runs out of room (a file-size limit, EFBIG) halfway: nothing changes."""
    storage = LocalBlobStorage(root)
    storage.put("ws/doc.txt", b"old content")
    script = textwrap.dedent(
        f"""
        import resource, signal
        from pathlib import Path
        from application.errors import DependencyUnavailable
        from infrastructure.storage import LocalBlobStorage
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
        try:
            LocalBlobStorage(Path({str(root)!r})).put("ws/doc.txt", b"n" * 100_000)
        except DependencyUnavailable as error:
            print("refused:", error)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert "refused:" in result.stdout
    assert storage.get("ws/doc.txt") == b"old content"
    assert [p.name for p in (root / "ws").iterdir()] == ["doc.txt"]


def test_readers_see_old_or_new_content_never_a_mix(storage: LocalBlobStorage) -> None:
    versions = {b"a" * 200_000, b"b" * 100_000}
    storage.put("ws/hot.bin", b"a" * 200_000)
    seen: set[bytes] = set()
    done = threading.Event()

    def read_until_done() -> None:
        while not done.is_set():
            seen.add(storage.get("ws/hot.bin"))

    reader = threading.Thread(target=read_until_done)
    reader.start()
    try:
        for _ in range(100):
            for version in versions:
                storage.put("ws/hot.bin", version)
    finally:
        done.set()
        reader.join()
    assert seen and seen <= versions


def test_get_refuses_a_huge_sparse_file_from_its_size(
    storage: LocalBlobStorage, root: Path
) -> None:
    (root / "ws").mkdir()
    with open(root / "ws" / "huge.pdf", "wb") as file:
        file.truncate(1 << 30)
    with pytest.raises(DocumentTooLarge, match=str(1 << 30)):
        storage.get("ws/huge.pdf", max_bytes=10_000_000)
    assert storage.size("ws/huge.pdf") == 1 << 30


def test_a_fifo_is_not_a_blob_and_does_not_block(storage: LocalBlobStorage, root: Path) -> None:
    (root / "ws").mkdir()
    os.mkfifo(root / "ws" / "pipe")
    with pytest.raises(BlobNotFound):
        storage.get("ws/pipe")
    assert not storage.exists("ws/pipe")


def test_a_directory_is_not_a_blob(storage: LocalBlobStorage) -> None:
    storage.put("ws/doc/file.txt", b"x")
    with pytest.raises(BlobNotFound):
        storage.get("ws/doc")
    assert not storage.exists("ws/doc")
    with pytest.raises(InvalidStorageKey):
        storage.put("ws/doc", b"x")


def test_a_key_running_through_a_file_cannot_be_written(storage: LocalBlobStorage) -> None:
    storage.put("ws/file.txt", b"x")
    with pytest.raises(InvalidStorageKey):
        storage.put("ws/file.txt/inner", b"y")
    assert not storage.exists("ws/file.txt/inner")


def test_an_overlong_name_is_an_invalid_key(storage: LocalBlobStorage) -> None:
    with pytest.raises(InvalidStorageKey):
        storage.put("ws/" + "n" * 300, b"x")


def test_a_vanished_root_is_a_dependency_failure(storage: LocalBlobStorage, root: Path) -> None:
    shutil.rmtree(root)
    with pytest.raises(DependencyUnavailable):
        storage.put("ws/doc.txt", b"x")
    with pytest.raises(DependencyUnavailable):
        storage.get("ws/doc.txt")
