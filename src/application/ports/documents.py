"""Persistence of documents and their chunks, and the unit of work that scopes it."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from domain import Document, DocumentStatus, EmbeddedChunk


class DocumentRepository(Protocol):
    """Documents and their chunks, seen through one unit of work.

    Every method runs inside the transaction of the unit of work that owns the repository;
    nothing is durable until that unit of work commits. Driver failures (connection lost,
    server gone, timeouts) are raised as `application.errors.DependencyUnavailable`.
    """

    def add(self, document: Document) -> None:
        """Stage a new document for insertion.

        Raises `DocumentAlreadyExists` when a document with the same id exists (at the latest on
        commit).
        """
        ...

    def get(self, document_id: UUID, workspace_id: UUID) -> Document:
        """Load a document scoped to its workspace, locking nothing.

        Raises `DocumentNotFound` when no document has this id, and `WorkspaceMismatch` when it
        exists in another workspace (the caller must then leave it untouched).
        """
        ...

    def get_many(self, document_ids: Collection[UUID], workspace_id: UUID) -> list[Document]:
        """Load the documents of `workspace_id` among `document_ids` in one query, locking
        nothing; ids that are unknown or in another workspace are left out. Ordered by id."""
        ...

    def find_identical(
        self, workspace_id: UUID, filename: str, content_sha256: str
    ) -> Document | None:
        """The most recently created document in `workspace_id` uploaded as `filename` with
        these bytes (their SHA-256, hex), or None. Whatever its status; locks nothing."""
        ...

    def save(self, document: Document) -> None:
        """Stage the document's current state (status, counters, error, timestamps).

        Raises `DocumentNotFound` when the document was never added.
        """
        ...

    def holds_attempt(self, document_id: UUID, attempt: int) -> bool:
        """Lock the document's row until the unit of work ends, and say whether its current
        attempt is still `attempt`: it is `processing` after exactly `attempt` attempts.

        An attempt that another has taken over since (a retry, or a newer job for a replaced
        file) gets False and must write nothing, so the newest attempt's result is the one that
        stays. Raises `DocumentNotFound` when no document has this id.
        """
        ...

    def save_if_held(self, document: Document, attempt: int) -> bool:
        """Stage the document's current state, as `save` does, only if its stored current
        attempt is still `attempt` (`holds_attempt`'s test, on the stored row), and lock its
        row until the unit of work ends: the check and the save in one step, where
        `holds_attempt` then `save` take two.

        Returns False, staging nothing, when another attempt has taken the document over (its
        result must not be written). Raises `DocumentNotFound` when no document has this id.
        """
        ...

    def replace_chunks(self, document: Document, chunks: Sequence[EmbeddedChunk]) -> None:
        """Stage the document's new chunk set in place of whatever it had, in bulk.

        After commit, concurrent readers see either the old set or the new set, never a mix
        and never an empty gap. Ordinals must be unique; the embedding length must match the
        store's dimension, or `ValueError` is raised.
        """
        ...

    def list_chunks(self, document_id: UUID) -> list[EmbeddedChunk]:
        """The document's committed chunks in ordinal order (empty when it has none)."""
        ...

    def list_stale_processing(self, started_before: datetime, limit: int) -> list[Document]:
        """Documents in `processing` whose attempt started before `started_before`, oldest first."""
        ...

    def list_by_status(
        self, status: DocumentStatus, workspace_id: UUID | None = None, limit: int = 1000
    ) -> list[Document]:
        """Documents in `status` (optionally in one workspace), oldest first."""
        ...

    def count_by_status(
        self, workspace_id: UUID | None = None, *, document_ids: Collection[UUID] | None = None
    ) -> dict[DocumentStatus, int]:
        """How many documents are in each status (in one workspace, or in all when None; among
        `document_ids` only when given, unknown ids ignored).

        Counted by the store without loading the documents, in one query; every status is
        present, with 0 when no document has it. Sees what this unit of work's transaction sees.
        """
        ...

    def count_failed_by_error_code(self, workspace_id: UUID | None = None) -> dict[str, int]:
        """How many `failed` documents have each error code (in one workspace, or in all when
        None); codes no failed document has are absent. Counted by the store, in one query."""
        ...


class UnitOfWork(Protocol):
    """One transaction over the repositories, used as a context manager.

    Leaving the `with` block without `commit()` rolls back. A unit of work is created fresh for
    each transaction (see `UnitOfWorkFactory`) and is not shared between threads or processes.
    """

    documents: DocumentRepository

    def __enter__(self) -> Self:
        """Begin the transaction."""
        ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed, and release the connection."""
        ...

    def commit(self) -> None:
        """Make the staged changes durable and visible at once.

        Raises `DependencyUnavailable` when the database cannot be reached; nothing is then
        committed.
        """
        ...


class UnitOfWorkFactory(Protocol):
    """Makes a new, not yet entered, unit of work."""

    def __call__(self) -> UnitOfWork:
        """Return a fresh unit of work."""
        ...


class FinishWatch(Protocol):
    """Word of watched documents becoming ready or failed, as their transactions commit; used
    as a context manager, which starts listening (before the caller's first look at the
    documents, so no finish falls between) and stops.

    Word is a hint, never the record: it can be missed (the store restarted, or does not
    announce), so a caller still reads the documents' status, and waits no longer than it would
    have polled.
    """

    def __enter__(self) -> Self:
        """Start listening. Raises `DependencyUnavailable` when the store cannot be reached."""
        ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop listening and release what listening held."""
        ...

    def wait(self, timeout: float) -> int:
        """Block until a watched document not announced before is announced finished, or
        `timeout` seconds pass (0: only what has arrived); return how many distinct watched
        documents have been announced finished since listening began.

        A document finishing again (it was processed again) is not announced twice. Raises
        `DependencyUnavailable` when the store is lost while waiting.
        """
        ...


class FinishAnnouncements(Protocol):
    """Where word of documents finishing (ready or failed, committed) can be listened for."""

    def watch(self, document_ids: Collection[UUID]) -> FinishWatch:
        """A watch, not yet entered, over `document_ids` (other documents' word is ignored)."""
        ...
