"""The `UnitOfWork` + `DocumentRepository` contract: in-memory and Postgres adapters pass it."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import numpy as np
import pytest
from sqlalchemy import Engine

from application.errors import DependencyUnavailable, DocumentNotFound, WorkspaceMismatch
from application.ports import UnitOfWork
from domain import Chunk, Document, DocumentAlreadyExists, DocumentStatus, EmbeddedChunk
from infrastructure.db import SqlAlchemyUnitOfWorkFactory, make_engine
from infrastructure.memory import InMemoryDatabase

DIMENSION = 32
T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)

UowFactory = Callable[[], UnitOfWork]


def document(
    workspace_id: UUID | None = None, *, at: datetime = T0, name: str = "a.txt"
) -> Document:
    return Document.register(
        workspace_id=workspace_id or uuid4(),
        filename=name,
        storage_key=f"uploads/{uuid4()}",
        size_bytes=1234,
        content_sha256="ab" * 32,
        media_type="text/plain",
        now=at,
    )


def vector(seed: int) -> list[float]:
    return [((seed * 31 + i) % 17) / 17.0 - 0.5 for i in range(DIMENSION)]


def embedded(ordinal: int, text: str | None = None, **chunk_fields: object) -> EmbeddedChunk:
    chunk = Chunk(ordinal=ordinal, text=text or f"chunk {ordinal}", token_count=2, **chunk_fields)  # type: ignore[arg-type]
    return EmbeddedChunk(chunk=chunk, embedding=vector(ordinal))


class DocumentRepositoryContract:
    """Subclasses provide `adapter` (a unit-of-work factory on an empty store of 32-d vectors)
    and `unavailable_adapter` (one whose store cannot be reached)."""

    def store(self, adapter: UowFactory, *documents: Document) -> None:
        with adapter() as uow:
            for doc in documents:
                uow.documents.add(doc)
            uow.commit()

    def in_its_second_attempt(self, adapter: UowFactory) -> Document:
        """A stored document claimed twice: `processing` at attempt 2."""
        doc = document()
        self.store(adapter, doc)
        for _ in range(2):
            doc.start_processing(T0 + timedelta(seconds=1))
        with adapter() as uow:
            uow.documents.save(doc)
            uow.commit()
        return doc

    def store_chunks(
        self, adapter: UowFactory, doc: Document, chunks: Sequence[EmbeddedChunk]
    ) -> None:
        with adapter() as uow:
            uow.documents.replace_chunks(doc, chunks)
            uow.commit()

    def chunks_of(self, adapter: UowFactory, doc: Document) -> list[EmbeddedChunk]:
        with adapter() as uow:
            return uow.documents.list_chunks(doc.id)

    def test_a_committed_document_reads_back_with_every_field(self, adapter: UowFactory) -> None:
        doc = document()
        doc.start_processing(T0 + timedelta(seconds=1))
        doc.mark_failed(code="no_text", message="nothing to read", now=T0 + timedelta(seconds=2))
        self.store(adapter, doc)

        with adapter() as uow:
            loaded = uow.documents.get(doc.id, doc.workspace_id)

        assert _fields(loaded) == _fields(doc)

    def test_an_unknown_document_is_not_found(self, adapter: UowFactory) -> None:
        with adapter() as uow, pytest.raises(DocumentNotFound):
            uow.documents.get(uuid4(), uuid4())

    def test_a_document_of_another_workspace_is_refused(self, adapter: UowFactory) -> None:
        doc = document()
        self.store(adapter, doc)

        with adapter() as uow, pytest.raises(WorkspaceMismatch):
            uow.documents.get(doc.id, uuid4())

    def test_saved_changes_are_durable_after_commit(self, adapter: UowFactory) -> None:
        doc = document()
        self.store(adapter, doc)
        with adapter() as uow:
            loaded = uow.documents.get(doc.id, doc.workspace_id)
            loaded.start_processing(T0 + timedelta(minutes=1))
            loaded.mark_ready(
                chunk_count=3,
                embedding_model="hashing-v1:32",
                content_sha256="cd" * 32,
                media_type="text/markdown",
                now=T0 + timedelta(minutes=2),
            )
            uow.documents.save(loaded)
            uow.commit()

        with adapter() as uow:
            assert _fields(uow.documents.get(doc.id, doc.workspace_id)) == _fields(loaded)

    def test_saving_a_document_never_added_is_not_found(self, adapter: UowFactory) -> None:
        with adapter() as uow, pytest.raises(DocumentNotFound):
            uow.documents.save(document())

    def test_leaving_without_commit_discards_the_changes(self, adapter: UowFactory) -> None:
        doc = document()
        with adapter() as uow:
            uow.documents.add(doc)
            uow.documents.replace_chunks(doc, [embedded(0)])

        with adapter() as uow, pytest.raises(DocumentNotFound):
            uow.documents.get(doc.id, doc.workspace_id)

    def test_leaving_discards_what_was_staged_since_the_last_commit(
        self, adapter: UowFactory
    ) -> None:
        kept, dropped = document(), document()
        with adapter() as uow:
            uow.documents.add(kept)
            uow.commit()
            uow.documents.add(dropped)

        with adapter() as uow:
            assert uow.documents.get(kept.id, kept.workspace_id) == kept
            with pytest.raises(DocumentNotFound):
                uow.documents.get(dropped.id, dropped.workspace_id)

    def test_only_the_current_attempt_holds_the_document(self, adapter: UowFactory) -> None:
        doc = self.in_its_second_attempt(adapter)

        with adapter() as uow:
            held = [uow.documents.holds_attempt(doc.id, attempt) for attempt in (1, 2, 3)]
        doc.mark_failed(code="no_text", message="x", now=T0 + timedelta(seconds=2))
        with adapter() as uow:
            uow.documents.save(doc)
            uow.commit()
        with adapter() as uow:
            after_it_ended = uow.documents.holds_attempt(doc.id, 2)
            with pytest.raises(DocumentNotFound):
                uow.documents.holds_attempt(uuid4(), 1)

        assert held == [False, True, False]
        assert after_it_ended is False

    def test_only_the_current_attempt_saves_its_result(self, adapter: UowFactory) -> None:
        doc = self.in_its_second_attempt(adapter)
        stale, current = copy.deepcopy(doc), copy.deepcopy(doc)
        stale.mark_failed(code="no_text", message="x", now=T0 + timedelta(seconds=2))
        current.mark_ready(
            chunk_count=1,
            embedding_model="m",
            content_sha256="c" * 64,
            media_type="text/plain",
            now=T0 + timedelta(seconds=3),
        )

        with adapter() as uow:
            saved_by_the_stale_attempt = uow.documents.save_if_held(stale, 1)
            uow.commit()
        with adapter() as uow:
            untouched = uow.documents.get(doc.id, doc.workspace_id)
            saved_by_the_current_attempt = uow.documents.save_if_held(current, 2)
            uow.commit()
        with adapter() as uow:
            stored = uow.documents.get(doc.id, doc.workspace_id)
            saved_after_it_ended = uow.documents.save_if_held(current, 2)
            with pytest.raises(DocumentNotFound):
                uow.documents.save_if_held(document(), 1)

        assert saved_by_the_stale_attempt is False
        assert untouched == doc
        assert saved_by_the_current_attempt is True
        assert stored == current
        assert saved_after_it_ended is False

    def test_adding_an_existing_document_again_is_refused(self, adapter: UowFactory) -> None:
        doc = document()
        self.store(adapter, doc)

        with adapter() as uow, pytest.raises(DocumentAlreadyExists):
            uow.documents.add(_same_id_as(doc))
            uow.commit()

    def test_replacing_chunks_leaves_only_the_new_set(self, adapter: UowFactory) -> None:
        doc = document()
        self.store(adapter, doc)
        self.store_chunks(adapter, doc, [embedded(i, f"old {i}") for i in range(3)])

        self.store_chunks(adapter, doc, [embedded(i, f"new {i}") for i in range(2)])

        assert [c.chunk.text for c in self.chunks_of(adapter, doc)] == ["new 0", "new 1"]

    def test_replacing_with_no_chunks_empties_the_document(self, adapter: UowFactory) -> None:
        doc = document()
        self.store(adapter, doc)
        self.store_chunks(adapter, doc, [embedded(0)])

        self.store_chunks(adapter, doc, [])

        assert self.chunks_of(adapter, doc) == []

    def test_chunks_of_one_document_leave_the_others_alone(self, adapter: UowFactory) -> None:
        first, second = document(), document()
        self.store(adapter, first, second)
        self.store_chunks(adapter, first, [embedded(0, "first")])

        self.store_chunks(adapter, second, [embedded(0, "second")])

        assert [c.chunk.text for c in self.chunks_of(adapter, first)] == ["first"]

    def test_chunks_come_back_in_ordinal_order(self, adapter: UowFactory) -> None:
        doc = document()
        self.store(adapter, doc)

        self.store_chunks(adapter, doc, [embedded(i) for i in (2, 0, 5, 1)])

        assert [c.chunk.ordinal for c in self.chunks_of(adapter, doc)] == [0, 1, 2, 5]

    def test_chunk_fields_round_trip(self, adapter: UowFactory) -> None:
        doc = document()
        self.store(adapter, doc)
        original = embedded(
            0,
            "Ünïcode — text\n with a newline",
            page_start=3,
            page_end=4,
            metadata={"headings": ["Intro", "Scope"], "kind": "prose"},
        )
        bare = embedded(1, "no pages")

        self.store_chunks(adapter, doc, [original, bare])

        stored, stored_bare = self.chunks_of(adapter, doc)
        assert stored.chunk == original.chunk
        assert stored.chunk.content_sha256 == original.chunk.content_sha256
        assert (stored_bare.chunk.page_start, stored_bare.chunk.page_end) == (None, None)
        assert dict(stored_bare.chunk.metadata) == {}

    def test_embeddings_round_trip_from_lists_and_numpy_arrays(self, adapter: UowFactory) -> None:
        doc = document()
        self.store(adapter, doc)
        as_array = EmbeddedChunk(
            chunk=Chunk(ordinal=1, text="array", token_count=1),
            embedding=np.array(vector(7), dtype=np.float32),
        )

        self.store_chunks(adapter, doc, [embedded(0), as_array])

        first, second = self.chunks_of(adapter, doc)
        assert list(first.embedding) == pytest.approx(vector(0), rel=1e-6)
        assert list(second.embedding) == pytest.approx(vector(7), rel=1e-6)

    def test_an_embedding_of_the_wrong_length_is_refused(self, adapter: UowFactory) -> None:
        doc = document()
        self.store(adapter, doc)
        short = EmbeddedChunk(chunk=Chunk(ordinal=0, text="x", token_count=1), embedding=[0.1] * 31)

        with adapter() as uow, pytest.raises(ValueError, match="32"):
            uow.documents.replace_chunks(doc, [short])

    def test_duplicate_ordinals_are_refused(self, adapter: UowFactory) -> None:
        doc = document()
        self.store(adapter, doc)

        with adapter() as uow, pytest.raises(ValueError, match="ordinal"):
            uow.documents.replace_chunks(doc, [embedded(1, "a"), embedded(1, "b")])

    def test_a_reader_sees_the_old_set_until_the_new_one_is_committed(
        self, adapter: UowFactory
    ) -> None:
        doc = document()
        self.store(adapter, doc)
        self.store_chunks(adapter, doc, [embedded(i, f"old {i}") for i in range(3)])

        with adapter() as writer:
            writer.documents.replace_chunks(doc, [embedded(i, f"new {i}") for i in range(2)])
            seen_during = [c.chunk.text for c in self.chunks_of(adapter, doc)]
            writer.commit()
        seen_after = [c.chunk.text for c in self.chunks_of(adapter, doc)]

        assert seen_during == ["old 0", "old 1", "old 2"]
        assert seen_after == ["new 0", "new 1"]

    def test_stale_processing_lists_old_attempts_oldest_first_up_to_the_limit(
        self, adapter: UowFactory
    ) -> None:
        started = {minutes: document() for minutes in (5, 1, 3, 30)}
        for minutes, doc in started.items():
            doc.start_processing(T0 + timedelta(minutes=minutes))
        queued = document()
        self.store(adapter, queued, *started.values())

        with adapter() as uow:
            stale = uow.documents.list_stale_processing(T0 + timedelta(minutes=10), limit=2)

        assert [d.id for d in stale] == [started[1].id, started[3].id]
        assert all(d.status is DocumentStatus.PROCESSING for d in stale)

    def test_stale_processing_excludes_recent_attempts(self, adapter: UowFactory) -> None:
        recent = document()
        recent.start_processing(T0 + timedelta(minutes=30))
        self.store(adapter, recent)

        with adapter() as uow:
            assert uow.documents.list_stale_processing(T0 + timedelta(minutes=10), limit=10) == []

    def test_listing_by_status_filters_orders_and_limits(self, adapter: UowFactory) -> None:
        workspace = uuid4()
        newest = document(workspace, at=T0 + timedelta(hours=2))
        oldest = document(workspace, at=T0)
        middle = document(workspace, at=T0 + timedelta(hours=1))
        elsewhere = document(at=T0)
        failed = document(workspace, at=T0)
        failed.mark_failed(code="too_large", message="too big", now=T0)
        self.store(adapter, newest, oldest, middle, elsewhere, failed)

        with adapter() as uow:
            in_workspace = uow.documents.list_by_status(DocumentStatus.QUEUED, workspace)
            anywhere = uow.documents.list_by_status(DocumentStatus.QUEUED)
            limited = uow.documents.list_by_status(DocumentStatus.QUEUED, workspace, limit=2)
            failures = uow.documents.list_by_status(DocumentStatus.FAILED)

        assert [d.id for d in in_workspace] == [oldest.id, middle.id, newest.id]
        assert {d.id for d in anywhere} == {oldest.id, middle.id, newest.id, elsewhere.id}
        assert [d.id for d in limited] == [oldest.id, middle.id]
        assert [d.id for d in failures] == [failed.id]

    def test_counting_by_status_covers_every_status_per_workspace(
        self, adapter: UowFactory
    ) -> None:
        workspace = uuid4()
        queued = [document(workspace), document(workspace)]
        failed = document(workspace)
        failed.mark_failed(code="too_large", message="too big", now=T0)
        ready = document(workspace)
        ready.start_processing(T0)
        ready.mark_ready(
            chunk_count=1, embedding_model="m", content_sha256="cd" * 32, media_type=None, now=T0
        )
        other = document()
        self.store(adapter, *queued, failed, ready, other)

        with adapter() as uow:
            in_workspace = uow.documents.count_by_status(workspace)
            everywhere = uow.documents.count_by_status()
            nowhere = uow.documents.count_by_status(uuid4())

        assert in_workspace == {
            DocumentStatus.QUEUED: 2,
            DocumentStatus.PROCESSING: 0,
            DocumentStatus.READY: 1,
            DocumentStatus.FAILED: 1,
        }
        assert everywhere == {**in_workspace, DocumentStatus.QUEUED: 3}
        assert nowhere == dict.fromkeys(DocumentStatus, 0)

    def test_counting_by_status_can_be_limited_to_some_documents(self, adapter: UowFactory) -> None:
        workspace = uuid4()
        watched, other = document(workspace), document(workspace)
        failed = document(workspace)
        failed.mark_failed(code="too_large", message="too big", now=T0)
        self.store(adapter, watched, other, failed)

        with adapter() as uow:
            counts = uow.documents.count_by_status(document_ids=[watched.id, failed.id, uuid4()])

        assert counts == {
            **dict.fromkeys(DocumentStatus, 0),
            DocumentStatus.QUEUED: 1,
            DocumentStatus.FAILED: 1,
        }

    def test_many_documents_are_loaded_at_once_within_their_workspace(
        self, adapter: UowFactory
    ) -> None:
        workspace = uuid4()
        first, second, elsewhere = document(workspace), document(workspace), document(uuid4())
        second.mark_failed(code="too_large", message="too big", now=T0)
        self.store(adapter, first, second, elsewhere, document(workspace))

        with adapter() as uow:
            loaded = uow.documents.get_many([second.id, elsewhere.id, uuid4(), first.id], workspace)
            none = uow.documents.get_many([], workspace)

        assert [_fields(d) for d in loaded] == [
            _fields(d) for d in sorted([first, second], key=lambda d: d.id)
        ]
        assert none == []

    def test_failed_documents_are_counted_by_error_code_per_workspace(
        self, adapter: UowFactory
    ) -> None:
        workspace = uuid4()
        failures = [("too_large", workspace), ("too_large", workspace), ("no_text", workspace)]
        documents = []
        for code, in_workspace in [*failures, ("no_text", uuid4())]:
            failed = document(in_workspace)
            failed.mark_failed(code=code, message=code, now=T0)
            documents.append(failed)
        self.store(adapter, *documents, document(workspace))

        with adapter() as uow:
            in_workspace = uow.documents.count_failed_by_error_code(workspace)
            everywhere = uow.documents.count_failed_by_error_code()

        assert in_workspace == {"too_large": 2, "no_text": 1}
        assert everywhere == {"too_large": 2, "no_text": 2}

    def test_an_identical_upload_is_found_by_workspace_name_and_content(
        self, adapter: UowFactory
    ) -> None:
        workspace = uuid4()
        first = document(workspace, at=T0)
        forced_again = document(workspace, at=T0 + timedelta(minutes=1))
        renamed = document(workspace, name="b.txt")
        elsewhere = document(uuid4())
        self.store(adapter, first, forced_again, renamed, elsewhere)

        with adapter() as uow:
            found = uow.documents.find_identical(workspace, "a.txt", "ab" * 32)
            changed = uow.documents.find_identical(workspace, "a.txt", "cd" * 32)
            unknown = uow.documents.find_identical(uuid4(), "a.txt", "ab" * 32)

        assert found is not None and found.id == forced_again.id
        assert changed is None and unknown is None

    def test_an_unreachable_store_raises_dependency_unavailable(
        self, unavailable_adapter: UowFactory
    ) -> None:
        with pytest.raises(DependencyUnavailable), unavailable_adapter() as uow:
            uow.documents.get(uuid4(), uuid4())


def _same_id_as(doc: Document) -> Document:
    other = document(doc.workspace_id, name="again.txt")
    other.id = doc.id
    return other


def _fields(doc: Document) -> dict[str, object]:
    return {f.name: getattr(doc, f.name) for f in dataclasses.fields(doc)}


class TestInMemoryDocumentRepository(DocumentRepositoryContract):
    @pytest.fixture
    def adapter(self) -> UowFactory:
        return InMemoryDatabase(dimension=DIMENSION).unit_of_work

    @pytest.fixture
    def unavailable_adapter(self) -> UowFactory:
        database = InMemoryDatabase(dimension=DIMENSION)
        database.available = False
        return database.unit_of_work


class TestSqlAlchemyDocumentRepository(DocumentRepositoryContract):
    @pytest.fixture
    def adapter(self, db_engine: Engine) -> UowFactory:
        return SqlAlchemyUnitOfWorkFactory(db_engine)

    @pytest.fixture
    def unavailable_adapter(self) -> UowFactory:
        return SqlAlchemyUnitOfWorkFactory(make_engine("postgresql://postgres@127.0.0.1:1/none"))
