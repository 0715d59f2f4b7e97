"""The behaviour every BlobStorage adapter shows; each adapter runs it through a subclass."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from application.errors import BlobNotFound, DocumentTooLarge, IngestionError, InvalidStorageKey
from application.ports import BlobStorage
from infrastructure.memory import InMemoryBlobStorage
from infrastructure.storage import LocalBlobStorage, S3BlobStorage

BAD_KEYS = ["", "/abs", "a/../b", "..", "a\x00b", "a\\b", "a//b", "./a"]


class BlobStorageContract:
    @pytest.fixture
    def adapter(self) -> BlobStorage:
        raise NotImplementedError

    def test_put_then_get_returns_the_same_bytes(self, adapter: BlobStorage) -> None:
        data = bytes(range(256)) * 10
        adapter.put("ws/doc/report.pdf", data)
        assert adapter.get("ws/doc/report.pdf") == data

    def test_puts_from_several_threads_at_once_all_land(self, adapter: BlobStorage) -> None:
        keys = [f"ws/doc-{n}/file-{n}.txt" for n in range(16)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda key: adapter.put(key, key.encode()), keys))

        assert [adapter.get(key) for key in keys] == [key.encode() for key in keys]

    def test_put_overwrites(self, adapter: BlobStorage) -> None:
        adapter.put("ws/a.txt", b"old content")
        adapter.put("ws/a.txt", b"new")
        assert adapter.get("ws/a.txt") == b"new"
        assert adapter.size("ws/a.txt") == 3

    def test_empty_blob_round_trips(self, adapter: BlobStorage) -> None:
        adapter.put("empty.bin", b"")
        assert adapter.get("empty.bin") == b""
        assert adapter.size("empty.bin") == 0

    def test_exists_follows_put(self, adapter: BlobStorage) -> None:
        assert not adapter.exists("ws/b.txt")
        adapter.put("ws/b.txt", b"x")
        assert adapter.exists("ws/b.txt")

    def test_a_missing_key_does_not_exist_and_cannot_be_read(self, adapter: BlobStorage) -> None:
        assert not adapter.exists("never/stored.txt")
        with pytest.raises(BlobNotFound):
            adapter.get("never/stored.txt")

    def test_size_is_the_byte_count(self, adapter: BlobStorage) -> None:
        adapter.put("sized.bin", b"\xff" * 1234)
        assert adapter.size("sized.bin") == 1234

    def test_get_within_max_bytes_returns_the_bytes(self, adapter: BlobStorage) -> None:
        adapter.put("fits.bin", b"12345")
        assert adapter.get("fits.bin", max_bytes=5) == b"12345"

    def test_get_past_max_bytes_is_too_large(self, adapter: BlobStorage) -> None:
        adapter.put("big.bin", b"123456")
        with pytest.raises(DocumentTooLarge, match="5"):
            adapter.get("big.bin", max_bytes=5)

    def test_missing_key_is_blob_not_found(self, adapter: BlobStorage) -> None:
        with pytest.raises(BlobNotFound):
            adapter.get("missing/file.pdf")
        with pytest.raises(BlobNotFound):
            adapter.size("missing/file.pdf")

    def test_unicode_keys_work(self, adapter: BlobStorage) -> None:
        adapter.put("ws/résumé été.pdf", b"ok")
        assert adapter.get("ws/résumé été.pdf") == b"ok"

    @pytest.mark.parametrize("key", BAD_KEYS)
    def test_bad_keys_are_refused_everywhere(self, adapter: BlobStorage, key: str) -> None:
        for operation in (
            lambda: adapter.put(key, b"x"),
            lambda: adapter.get(key),
            lambda: adapter.size(key),
            lambda: adapter.exists(key),
        ):
            with pytest.raises(InvalidStorageKey):
                operation()

    @pytest.mark.parametrize(
        "key",
        ["w/" + "a" * 100_000, "w/" + "a/" * 50_000 + "../x", "a" * 300 + "/" + "b" * 300],
        ids=["long name", "long and climbing", "long folder"],
    )
    def test_an_error_shows_at_most_the_start_of_a_long_key(
        self, adapter: BlobStorage, key: str
    ) -> None:
        for operation in (
            lambda: adapter.get(key, max_bytes=1),
            lambda: adapter.size(key),
            lambda: adapter.put(key, b"too large for max_bytes"),
            lambda: adapter.get(key, max_bytes=1),
        ):
            try:
                operation()
            except IngestionError as error:
                assert len(error.message) <= 400, error.message[:400]
                assert key[200:] not in error.message


class TestInMemoryBlobStorage(BlobStorageContract):
    @pytest.fixture
    def adapter(self) -> BlobStorage:
        return InMemoryBlobStorage()


class TestLocalBlobStorage(BlobStorageContract):
    @pytest.fixture
    def adapter(self, tmp_path: Path) -> BlobStorage:
        return LocalBlobStorage(tmp_path / "blobs")


class TestS3BlobStorage(BlobStorageContract):
    @pytest.fixture
    def adapter(self, s3_storage: S3BlobStorage) -> BlobStorage:
        return s3_storage
