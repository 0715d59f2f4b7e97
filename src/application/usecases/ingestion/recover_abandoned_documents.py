"""Rescuing documents left in `processing` by a worker that died, or `queued` with no job."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from application.errors import RetriesExhausted
from application.ports import Clock, JobQueue, UnitOfWorkFactory
from domain import DocumentStatus


@dataclass(slots=True)
class RecoveryReport:
    """Which abandoned documents went back to the queue and which were failed."""

    requeued: list[UUID] = field(default_factory=list)
    failed: list[UUID] = field(default_factory=list)
    reenqueued: list[UUID] = field(default_factory=list)


class RecoverAbandonedDocuments:
    """Requeue documents whose processing attempt has outlived its lease.

    A document is abandoned when it has been `processing` for longer than `lease` (set it
    above the job timeout, so a live attempt is never taken). Abandoned documents with attempts
    left are set back to `queued` and enqueued again; the others are marked `failed` with
    `retries_exhausted`. Each document is handled in its own short transaction; enqueue
    failures raise `DependencyUnavailable` and leave the rest for the next run.

    A document can also be left `queued` with no job behind it: its job ran out of retries
    while the database was unreachable, or the enqueue after its row was written failed. When no
    job at all is unfinished on the queues, documents `queued` since before the lease are
    enqueued again (a duplicate job, should one slip through, finds the document current and
    does nothing). A job that a dead worker took before claiming its document is not such a
    case: `ResumeAbandonedJobs` puts it back once it is older than the lease, busy queue or not.
    """

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        queue: JobQueue,
        clock: Clock,
        lease: timedelta,
        max_attempts: int,
        batch_size: int = 100,
    ) -> None:
        self._uow_factory = uow_factory
        self._queue = queue
        self._clock = clock
        self._lease = lease
        self._max_attempts = max_attempts
        self._batch_size = batch_size

    def __call__(self) -> RecoveryReport:
        """Recover up to `batch_size` abandoned documents and report what was done."""
        report = RecoveryReport()
        cutoff = self._clock.now() - self._lease
        with self._uow_factory() as uow:
            stale = uow.documents.list_stale_processing(cutoff, self._batch_size)
        for candidate in stale:
            self._recover(candidate.id, candidate.workspace_id, report)
        self._reenqueue_orphans(cutoff, report)
        return report

    def _reenqueue_orphans(self, cutoff: datetime, report: RecoveryReport) -> None:
        if self._queue.unfinished_jobs():
            return
        with self._uow_factory() as uow:
            waiting = uow.documents.list_by_status(DocumentStatus.QUEUED, limit=self._batch_size)
        for document in waiting:
            if document.updated_at < cutoff:
                self._queue.enqueue_processing(document.id, document.workspace_id)
                report.reenqueued.append(document.id)

    def _recover(self, document_id: UUID, workspace_id: UUID, report: RecoveryReport) -> None:
        now = self._clock.now()
        with self._uow_factory() as uow:
            document = uow.documents.get(document_id, workspace_id)
            if not document.is_abandoned(now - self._lease):
                return
            if document.attempts >= self._max_attempts:
                message = f"abandoned by its worker after {document.attempts} attempts"
                document.mark_failed(code=RetriesExhausted.code, message=message, now=now)
                report.failed.append(document.id)
            else:
                reason = "the worker processing it stopped; requeued"
                document.requeue(now, reason_code="abandoned", reason=reason)
                report.requeued.append(document.id)
            uow.documents.save(document)
            uow.commit()
        if document.status is DocumentStatus.QUEUED:
            self._queue.enqueue_processing(document.id, document.workspace_id)
