from __future__ import annotations

import hashlib
from uuid import uuid4

import pytest

from application.errors import DependencyUnavailable, DocumentTooLarge, EmptyDocument
from application.usecases.ingestion import SubmitUpload
from application.usecases.ingestion.submit_document import storage_key_for
from domain import Document, DocumentStatus
from infrastructure.memory import InMemoryBlobStorage, InMemoryDatabase

from .conftest import SAMPLE, World


def test_submitting_stores_the_bytes_records_a_queued_row_and_enqueues(world: World) -> None:
    document = world.submit(SAMPLE, filename="report.txt")

    stored = world.stored(document)
    assert stored.status is DocumentStatus.QUEUED
    assert stored.size_bytes == len(SAMPLE.encode())
    assert stored.content_sha256 == hashlib.sha256(SAMPLE.encode()).hexdigest()
    assert world.storage.get(stored.storage_key) == SAMPLE.encode()
    assert [(d, w) for _, d, w in world.queue.jobs] == [(document.id, world.workspace_id)]


def test_the_storage_key_keeps_only_a_safe_file_name(world: World) -> None:
    document = world.submit(SAMPLE, filename="../../etc/pass wd?.txt")
    assert document.storage_key.endswith("/pass wd_.txt")
    assert ".." not in document.storage_key.split("/")
    assert document.filename == "../../etc/pass wd?.txt"


@pytest.mark.parametrize("name", ["..", "...", "\\\\", "/", " "])
def test_a_name_with_nothing_safe_in_it_still_gets_a_key(name: str) -> None:
    from uuid import uuid4

    key = storage_key_for(uuid4(), uuid4(), name)
    assert key.split("/")[-1] not in ("", ".", "..")


def test_empty_and_oversized_uploads_are_refused_before_anything_is_stored(world: World) -> None:
    with pytest.raises(EmptyDocument):
        world.submit(b"")
    world.max_file_bytes = 4
    with pytest.raises(DocumentTooLarge, match="limit is 4"):
        world.submit(b"12345")
    assert world.storage.blobs == {}
    assert world.db.documents == {}
    assert world.queue.jobs == []


def test_a_queue_outage_leaves_a_queued_row_that_can_be_requeued(world: World) -> None:
    world.queue.available = False
    with pytest.raises(DependencyUnavailable):
        world.submit(SAMPLE)
    [document] = world.db.documents.values()
    assert document.status is DocumentStatus.QUEUED
    assert world.storage.exists(document.storage_key)


def test_a_database_outage_stores_no_row_and_enqueues_nothing(world: World) -> None:
    world.db.available = False
    with pytest.raises(DependencyUnavailable):
        world.submit(SAMPLE)
    assert world.queue.jobs == []


def test_an_identical_upload_returns_the_existing_document_without_a_new_row_or_job(
    world: World,
) -> None:
    first = world.submit(SAMPLE, filename="report.txt")

    again = world.submit(SAMPLE, filename="report.txt")

    assert again.id == first.id
    assert list(world.db.documents) == [first.id]
    assert len(world.queue.jobs) == 1
    assert len(world.storage.blobs) == 1


def test_another_name_other_bytes_or_another_workspace_make_a_new_document(
    world: World,
) -> None:
    first = world.submit(SAMPLE, filename="report.txt")
    renamed = world.submit(SAMPLE, filename="copy.txt")
    changed = world.submit(SAMPLE + " changed", filename="report.txt")
    world.workspace_id = uuid4()
    elsewhere = world.submit(SAMPLE, filename="report.txt")

    assert len({first.id, renamed.id, changed.id, elsewhere.id}) == 4
    assert len(world.queue.jobs) == 4


def test_force_submits_an_identical_upload_again(world: World) -> None:
    first = world.submit(SAMPLE, filename="report.txt")

    forced = world.submit_use_case()(
        SubmitUpload(world.workspace_id, "report.txt", SAMPLE.encode(), force=True)
    )

    assert forced.id != first.id
    assert len(world.db.documents) == 2 and len(world.queue.jobs) == 2


def test_a_batch_is_recorded_in_one_commit_and_each_upload_answered_in_order(
    world: World,
) -> None:
    already = world.submit(SAMPLE, filename="old.txt")
    commits_before = world.db.commits
    uploads = [
        SubmitUpload(world.workspace_id, "a.txt", b"first"),
        SubmitUpload(world.workspace_id, "empty.txt", b""),
        SubmitUpload(world.workspace_id, "old.txt", SAMPLE.encode()),
        SubmitUpload(world.workspace_id, "b.txt", b"second"),
        SubmitUpload(world.workspace_id, "a.txt", b"first"),  # the same upload again
    ]

    results = world.submit_use_case().submit_many(uploads)

    first, empty, old, second, first_again = results
    assert isinstance(empty, EmptyDocument)
    assert not isinstance(first, Exception) and not isinstance(second, Exception)
    assert old == already
    assert first_again == first
    assert [(r.filename, r.status) for r in (first, second)] == [
        ("a.txt", DocumentStatus.QUEUED),
        ("b.txt", DocumentStatus.QUEUED),
    ]
    assert world.db.commits == commits_before + 1
    assert [d for _, d, _ in world.queue.jobs] == [already.id, first.id, second.id]
    assert len(world.storage.blobs) == 3


def test_forced_uploads_in_a_batch_each_make_a_document(world: World) -> None:
    upload = SubmitUpload(world.workspace_id, "a.txt", b"same", force=True)

    results = world.submit_use_case().submit_many([upload, upload])

    assert len({r.id for r in results if not isinstance(r, Exception)}) == 2
    assert len(world.queue.jobs) == 2


class RowCountingStorage(InMemoryBlobStorage):
    """Notes how many document rows exist each time a file is stored."""

    def __init__(self, db: InMemoryDatabase) -> None:
        super().__init__()
        self.rows_at_each_put: list[int] = []
        self._db = db

    def put(self, key: str, data: bytes) -> None:
        self.rows_at_each_put.append(len(self._db.documents))
        super().put(key, data)


def uploads(world: World, count: int) -> list[SubmitUpload]:
    return [
        SubmitUpload(world.workspace_id, f"n{n}.txt", f"note {n}".encode()) for n in range(count)
    ]


def test_a_batch_stores_every_file_before_any_row_or_job(world: World) -> None:
    storage = world.storage = RowCountingStorage(world.db)

    documents = world.submit_use_case().submit_many(uploads(world, 12))

    assert storage.rows_at_each_put == [0] * 12
    assert [storage.get(d.storage_key) for d in documents if isinstance(d, Document)] == [
        f"note {n}".encode() for n in range(12)
    ]
    assert len(world.db.documents) == len(world.queue.jobs) == 12


def test_a_storage_outage_fails_the_batch_with_no_row_and_no_job(world: World) -> None:
    world.storage.available = False

    with pytest.raises(DependencyUnavailable):
        world.submit_use_case().submit_many(uploads(world, 5))

    assert world.db.documents == {}
    assert world.queue.jobs == []
