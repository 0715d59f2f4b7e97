"""Documents and chunks kept in a dict, with copy-on-commit transactions."""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime
from types import TracebackType
from typing import Self
from uuid import UUID

from application.errors import DependencyUnavailable, DocumentNotFound, WorkspaceMismatch
from application.ports import (
    DocumentRepository,
    EmbeddingCache,
    FinishAnnouncements,
    FinishWatch,
    UnitOfWork,
)
from domain import Document, DocumentAlreadyExists, DocumentStatus, EmbeddedChunk, Vector


class InMemoryDatabase:
    """The committed state shared by every unit of work made from it.

    `available = False` makes every unit of work raise `DependencyUnavailable`, like a database
    that went away.
    """

    def __init__(self, dimension: int | None = None) -> None:
        self.dimension = dimension
        self.documents: dict[UUID, Document] = {}
        self.chunks: dict[UUID, list[EmbeddedChunk]] = {}
        self.available = True
        self.commits = 0
        self.lock = threading.Lock()
        #: Every document that became ready or failed, in commit order (its announcements).
        self.finished_log: list[UUID] = []
        self.finished_word = threading.Condition(self.lock)

    def unit_of_work(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self)

    def check_available(self) -> None:
        if not self.available:
            raise DependencyUnavailable("the in-memory database is switched off")


class InMemoryDocumentRepository(DocumentRepository):
    def __init__(self, database: InMemoryDatabase) -> None:
        self._db = database
        self.documents: dict[UUID, Document] = copy.deepcopy(database.documents)
        self.chunks: dict[UUID, list[EmbeddedChunk]] = dict(database.chunks)
        self.added: set[UUID] = set()

    def add(self, document: Document) -> None:
        if document.id in self.documents:
            raise DocumentAlreadyExists(document.id)
        self.documents[document.id] = copy.deepcopy(document)
        self.added.add(document.id)

    def get(self, document_id: UUID, workspace_id: UUID) -> Document:
        self._db.check_available()
        document = self.documents.get(document_id)
        if document is None:
            raise DocumentNotFound(f"no document {document_id}")
        if document.workspace_id != workspace_id:
            raise WorkspaceMismatch(f"document {document_id} is not in workspace {workspace_id}")
        return copy.deepcopy(document)

    def get_many(self, document_ids: Collection[UUID], workspace_id: UUID) -> list[Document]:
        self._db.check_available()
        wanted = set(document_ids)
        found = [
            d for d in self.documents.values() if d.id in wanted and d.workspace_id == workspace_id
        ]
        return [copy.deepcopy(d) for d in sorted(found, key=lambda d: d.id)]

    def find_identical(
        self, workspace_id: UUID, filename: str, content_sha256: str
    ) -> Document | None:
        self._db.check_available()
        same = [
            d
            for d in self.documents.values()
            if (d.workspace_id, d.filename, d.content_sha256)
            == (workspace_id, filename, content_sha256)
        ]
        newest = max(same, key=lambda d: d.created_at, default=None)
        return copy.deepcopy(newest)

    def save(self, document: Document) -> None:
        if document.id not in self.documents:
            raise DocumentNotFound(f"no document {document.id}")
        self.documents[document.id] = copy.deepcopy(document)

    def holds_attempt(self, document_id: UUID, attempt: int) -> bool:
        self._db.check_available()
        document = self.documents.get(document_id)
        if document is None:
            raise DocumentNotFound(f"no document {document_id}")
        return document.status is DocumentStatus.PROCESSING and document.attempts == attempt

    def save_if_held(self, document: Document, attempt: int) -> bool:
        if not self.holds_attempt(document.id, attempt):
            return False
        self.save(document)
        return True

    def replace_chunks(self, document: Document, chunks: Sequence[EmbeddedChunk]) -> None:
        ordinals = [c.chunk.ordinal for c in chunks]
        if len(set(ordinals)) != len(ordinals):
            raise ValueError("chunk ordinals must be unique")
        dimension = self._db.dimension
        if dimension is not None and any(len(c.embedding) != dimension for c in chunks):
            raise ValueError(f"every embedding must have {dimension} dimensions")
        self.chunks[document.id] = sorted(chunks, key=lambda c: c.chunk.ordinal)

    def list_chunks(self, document_id: UUID) -> list[EmbeddedChunk]:
        self._db.check_available()
        return list(self.chunks.get(document_id, []))

    def list_stale_processing(self, started_before: datetime, limit: int) -> list[Document]:
        self._db.check_available()
        stale = [d for d in self.documents.values() if d.is_abandoned(started_before)]
        stale.sort(key=lambda d: d.processing_started_at or started_before)
        return [copy.deepcopy(d) for d in stale[:limit]]

    def list_by_status(
        self, status: DocumentStatus, workspace_id: UUID | None = None, limit: int = 1000
    ) -> list[Document]:
        self._db.check_available()
        found = [
            d
            for d in self.documents.values()
            if d.status is status and workspace_id in (None, d.workspace_id)
        ]
        found.sort(key=lambda d: d.created_at)
        return [copy.deepcopy(d) for d in found[:limit]]

    def count_by_status(
        self, workspace_id: UUID | None = None, *, document_ids: Collection[UUID] | None = None
    ) -> dict[DocumentStatus, int]:
        self._db.check_available()
        counts = dict.fromkeys(DocumentStatus, 0)
        for document in self.documents.values():
            if workspace_id in (None, document.workspace_id) and (
                document_ids is None or document.id in document_ids
            ):
                counts[document.status] += 1
        return counts

    def count_failed_by_error_code(self, workspace_id: UUID | None = None) -> dict[str, int]:
        self._db.check_available()
        codes = [
            d.error_code
            for d in self.documents.values()
            if d.status is DocumentStatus.FAILED
            and d.error_code is not None
            and workspace_id in (None, d.workspace_id)
        ]
        return dict(Counter(codes))


class InMemoryUnitOfWork(UnitOfWork):
    """A unit of work over an `InMemoryDatabase`: changes are copied in on commit."""

    def __init__(self, database: InMemoryDatabase) -> None:
        self._db = database
        self.documents: InMemoryDocumentRepository

    def __enter__(self) -> Self:
        self._db.check_available()
        with self._db.lock:
            self.documents = InMemoryDocumentRepository(self._db)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.documents = InMemoryDocumentRepository(self._db)

    def commit(self) -> None:
        self._db.check_available()
        with self._db.lock:
            for document_id in self.documents.added:
                if document_id in self._db.documents:
                    raise DocumentAlreadyExists(document_id)
            self._db.finished_log.extend(self._newly_finished())
            self._db.documents.update(copy.deepcopy(self.documents.documents))
            self._db.chunks.update(self.documents.chunks)
            self._db.commits += 1
            self._db.finished_word.notify_all()
        self.documents = InMemoryDocumentRepository(self._db)

    def _newly_finished(self) -> list[UUID]:
        """The staged documents whose status becomes ready or failed with this commit."""
        committed = self._db.documents
        return [
            document.id
            for document in self.documents.documents.values()
            if document.status in _FINISHED
            and (document.id not in committed or committed[document.id].status != document.status)
        ]


class InMemoryFinishAnnouncements(FinishAnnouncements):
    """Watches over an `InMemoryDatabase`'s commits."""

    def __init__(self, database: InMemoryDatabase) -> None:
        self._db = database

    def watch(self, document_ids: Collection[UUID]) -> FinishWatch:
        return _InMemoryFinishWatch(self._db, document_ids)


class _InMemoryFinishWatch(FinishWatch):
    def __init__(self, database: InMemoryDatabase, document_ids: Collection[UUID]) -> None:
        self._db = database
        self._watched = set(document_ids)
        self._announced: set[UUID] = set()
        self._read = 0

    def __enter__(self) -> Self:
        self._db.check_available()
        with self._db.lock:
            self._read = len(self._db.finished_log)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def wait(self, timeout: float) -> int:
        with self._db.finished_word:
            before = len(self._announced)
            self._db.finished_word.wait_for(lambda: self._take() > before, max(0.0, timeout))
            return len(self._announced)

    def _take(self) -> int:
        """Read what was announced since the last look; how many watched documents are known
        finished (the database's lock is held)."""
        log = self._db.finished_log
        self._announced.update(i for i in log[self._read :] if i in self._watched)
        self._read = len(log)
        return len(self._announced)


_FINISHED = (DocumentStatus.READY, DocumentStatus.FAILED)


class InMemoryEmbeddingCache(EmbeddingCache):
    """Looks vectors up among the committed chunks of an `InMemoryDatabase`."""

    def __init__(self, database: InMemoryDatabase) -> None:
        self._db = database

    def lookup(
        self, workspace_id: UUID, model_id: str, content_hashes: Collection[str]
    ) -> dict[str, Vector]:
        self._db.check_available()
        wanted = set(content_hashes)
        found: dict[str, Vector] = {}
        with self._db.lock:
            for document_id, chunks in self._db.chunks.items():
                document = self._db.documents[document_id]
                if document.workspace_id != workspace_id or document.embedding_model != model_id:
                    continue
                for stored in chunks:
                    if stored.chunk.embedded_sha256 in wanted:
                        found[stored.chunk.embedded_sha256] = stored.embedding
        return found
