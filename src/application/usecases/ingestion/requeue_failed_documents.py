"""Sending failed documents through processing again, on an operator's request."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from application.errors import DependencyUnavailable
from application.ports import Clock, JobQueue, UnitOfWorkFactory
from domain import Document, DocumentStatus


@dataclass(frozen=True, slots=True)
class RequeueFailed:
    """Requeue up to `limit` failed documents, oldest first: in `workspace_id`, or anywhere."""

    workspace_id: UUID | None = None
    limit: int = 1000


class RequeueFailedDocuments:
    """Set failed documents back to `queued` (clearing their error and giving them a fresh
    attempt budget) and enqueue them again.

    Transactions: the failed documents are listed in one short read-only transaction; then each
    is re-read, requeued and committed in its own short transaction before its job is enqueued,
    so a worker never picks up a job for a document still marked `failed` in an open
    transaction. A document that is no longer `failed` by then (another requeue, a worker) is
    skipped.

    Errors: `DependencyUnavailable` from the database or the queue stops the run. When the
    enqueue of a document fails, that document is set back to `failed` with its previous reason
    (best effort) so a later run finds it again; documents already requeued stay requeued.
    """

    def __init__(self, *, uow_factory: UnitOfWorkFactory, queue: JobQueue, clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._queue = queue
        self._clock = clock

    def __call__(self, command: RequeueFailed) -> list[UUID]:
        """Requeue the failed documents; return the ids of those requeued, in order."""
        with self._uow_factory() as uow:
            failed = uow.documents.list_by_status(
                DocumentStatus.FAILED, command.workspace_id, command.limit
            )
        return [document.id for document in failed if self._requeue(document)]

    def _requeue(self, candidate: Document) -> bool:
        with self._uow_factory() as uow:
            document = uow.documents.get(candidate.id, candidate.workspace_id)
            if document.status is not DocumentStatus.FAILED:
                return False
            document.resubmit(self._clock.now())
            uow.documents.save(document)
            uow.commit()
        try:
            self._queue.enqueue_processing(document.id, document.workspace_id)
        except DependencyUnavailable:
            self._restore(candidate)
            raise
        return True

    def _restore(self, failed: Document) -> None:
        try:
            with self._uow_factory() as uow:
                document = uow.documents.get(failed.id, failed.workspace_id)
                if document.status is not DocumentStatus.QUEUED:
                    return
                document.mark_failed(
                    code=failed.error_code or "requeue_failed",
                    message=failed.error_message or "could not be enqueued again",
                    now=self._clock.now(),
                )
                uow.documents.save(document)
                uow.commit()
        except DependencyUnavailable:
            return
