"""Rescuing work a dead worker left behind: its jobs, and documents stuck mid-attempt or
queued with no job."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from application.errors import (
    AbandonedAttempt,
    DocumentNotFound,
    RetriesExhausted,
    WorkspaceMismatch,
)
from application.ports import AbandonedJob, Clock, JobQueue, UnitOfWorkFactory
from application.retry_policy import RetryPolicy
from domain import Document, DocumentStatus


@dataclass(slots=True)
class RecoveryReport:
    """What one recovery pass did: jobs put back or retired, documents requeued or failed."""

    resumed_jobs: list[str] = field(default_factory=list)
    retired_jobs: list[str] = field(default_factory=list)
    requeued: list[UUID] = field(default_factory=list)
    failed: list[UUID] = field(default_factory=list)
    reenqueued: list[UUID] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(
            (self.resumed_jobs, self.retired_jobs, self.requeued, self.failed, self.reenqueued)
        )


class RecoverAbandonedWork:
    """Put back to work what workers that died (SIGKILL, OOM, lost machine, lost Redis) left.

    `lease` is how long an attempt or a taken job may last before it counts as abandoned; set it
    above the job timeout, so live work is never taken. One pass does three things:

    1. Jobs a worker took off the queue and never finished (every pass, in every worker: a few
       queue reads, and each job is settled once). A job counts as abandoned once it was taken
       before `lease` ago, or as soon as the queue's own liveness checks say so. Settled by its
       document's state:
       - `processing`: the attempt is step 2's business. A job taken before the lease is
         retired (recorded failed, never run again); one the queue declared dead sooner is left
         to the queue's own retry, which takes over the interrupted attempt.
       - anything else (`queued`: never claimed; `ready`/`failed`: its worker died after the
         attempt ended): the same job goes back to the head of the queue (a run on a current
         document does nothing). A job lost this way costs its document no attempt.
       - no such document (or another workspace's): the job is retired.
       Retiring is atomic per job, so of concurrent callers only one puts a job back.
    2. Documents `processing` for longer than the lease (at most once per `interval` across all
       workers, by the queue's recovery turn): with attempts left under the retry policy they go
       back to `queued` (reason `abandoned`) with a new job; otherwise they are `failed` with
       `retries_exhausted`. One short transaction per document.
    3. In the same turn, documents `queued` since before the lease for which no job is live on
       the queues (none waiting, scheduled, deferred or taken) are enqueued again: their job ran
       out of retries while the database was unreachable, or the enqueue after their row was
       written failed. Orphanhood is decided per document, so a backlog or a job scheduled far
       ahead delays no other document's rescue (a duplicate job, should one slip through, finds
       the document current and does nothing).

    Errors: `DependencyUnavailable` when the queue or the database cannot be reached; what was
    done before stays done and the rest waits for the next pass.
    """

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        queue: JobQueue,
        clock: Clock,
        lease: timedelta,
        interval: timedelta,
        retry_policy: RetryPolicy,
        batch_size: int,
    ) -> None:
        self._uow_factory = uow_factory
        self._queue = queue
        self._clock = clock
        self._lease = lease
        self._interval = interval
        self._policy = retry_policy
        self._batch_size = batch_size

    def __call__(self) -> RecoveryReport:
        """Run one pass (steps 1 to 3, the last two only on this caller's turn) and report."""
        report = RecoveryReport()
        cutoff = self._clock.now() - self._lease
        for job in self._queue.abandoned_jobs(cutoff, self._batch_size):
            self._settle(job, cutoff, report)
        if self._queue.take_recovery_turn(self._interval):
            self._requeue_stale_documents(cutoff, report)
            self._reenqueue_orphans(cutoff, report)
        return report

    # 1. Jobs ---------------------------------------------------------------------------------

    def _settle(self, job: AbandonedJob, cutoff: datetime, report: RecoveryReport) -> None:
        document = self._document_of(job)
        if document is not None and document.status is DocumentStatus.PROCESSING:
            if job.taken_at >= cutoff:
                return
            run_again = False
        else:
            run_again = document is not None
        if self._queue.retire_abandoned(job, run_again=run_again):
            (report.resumed_jobs if run_again else report.retired_jobs).append(job.job_id)

    def _document_of(self, job: AbandonedJob) -> Document | None:
        with self._uow_factory() as uow:
            try:
                return uow.documents.get(job.document_id, job.workspace_id)
            except (DocumentNotFound, WorkspaceMismatch):
                return None

    # 2. Documents mid-attempt ----------------------------------------------------------------

    def _requeue_stale_documents(self, cutoff: datetime, report: RecoveryReport) -> None:
        with self._uow_factory() as uow:
            stale = uow.documents.list_stale_processing(cutoff, self._batch_size)
        for candidate in stale:
            self._recover(candidate.id, candidate.workspace_id, report)

    def _recover(self, document_id: UUID, workspace_id: UUID, report: RecoveryReport) -> None:
        now = self._clock.now()
        with self._uow_factory() as uow:
            document = uow.documents.get(document_id, workspace_id)
            if not document.is_abandoned(now - self._lease):
                return
            if self._policy.may_attempt_again(document.attempts):
                reason = AbandonedAttempt()
                document.requeue(now, reason_code=reason.code, reason=reason.message)
                report.requeued.append(document.id)
            else:
                message = f"abandoned by its worker after {document.attempts} attempts"
                document.mark_failed(code=RetriesExhausted.code, message=message, now=now)
                report.failed.append(document.id)
            uow.documents.save(document)
            uow.commit()
        if document.status is DocumentStatus.QUEUED:
            self._queue.enqueue_processing(document.id, document.workspace_id)

    # 3. Documents queued with no job ---------------------------------------------------------

    def _reenqueue_orphans(self, cutoff: datetime, report: RecoveryReport) -> None:
        with self._uow_factory() as uow:
            waiting = uow.documents.list_by_status(DocumentStatus.QUEUED, limit=self._batch_size)
        candidates = [document for document in waiting if document.updated_at < cutoff]
        if not candidates:
            return
        live = self._queue.documents_with_live_jobs([document.id for document in candidates])
        for document in candidates:
            if document.id not in live:
                self._queue.enqueue_processing(document.id, document.workspace_id)
                report.reenqueued.append(document.id)
