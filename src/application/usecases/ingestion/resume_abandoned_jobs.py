"""Putting processing jobs abandoned by dead workers back to work, or retiring them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from application.errors import DocumentNotFound, WorkspaceMismatch
from application.ports import AbandonedJob, Clock, JobQueue, UnitOfWorkFactory
from domain import Document, DocumentStatus


@dataclass(slots=True)
class ResumeReport:
    """Which abandoned jobs went back to the head of the queue, and which were retired."""

    resumed: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)


class ResumeAbandonedJobs:
    """Settle the jobs that a worker took off the queue and never finished.

    A worker that dies (SIGKILL, OOM, lost machine, lost Redis) after taking a job and before
    claiming its document leaves the document `queued` with no job that will ever run: the
    lease, which watches `processing` documents, never sees it. A job counts as abandoned once
    it was taken before `lease` ago (the lease exceeds the job timeout, so a live job is never
    taken), or as soon as the queue's own liveness checks say so. Each one is settled by its
    document's state:

    - `processing`: the attempt is the lease's business (`RecoverAbandonedDocuments` requeues
      the document with a new job). A job taken before the lease is retired (recorded failed,
      never run again); one the queue declared dead sooner is left to the queue's own retry
      rules, which take over the interrupted attempt as before.
    - anything else (`queued`: never claimed; `ready`/`failed`: its worker died after the
      attempt ended): the same job goes back to the head of the queue and runs again (a run on
      a current document does nothing). A job lost this way costs its document no attempt.
    - no such document (or another workspace's): the job is retired.

    Retiring is atomic per job, so of concurrent callers only one puts a job back. Run it often
    (every worker's maintenance) and before the queue's own cleanup, which would otherwise
    retry such a job after its backoff or fail it for good once its retries are spent.
    """

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        queue: JobQueue,
        clock: Clock,
        lease: timedelta,
        batch_size: int = 100,
    ) -> None:
        self._uow_factory = uow_factory
        self._queue = queue
        self._clock = clock
        self._lease = lease
        self._batch_size = batch_size

    def __call__(self) -> ResumeReport:
        """Settle up to `batch_size` abandoned jobs and report what was done."""
        report = ResumeReport()
        cutoff = self._clock.now() - self._lease
        for job in self._queue.abandoned_jobs(cutoff, self._batch_size):
            self._settle(job, cutoff, report)
        return report

    def _settle(self, job: AbandonedJob, cutoff: datetime, report: ResumeReport) -> None:
        document = self._document(job)
        if document is not None and document.status is DocumentStatus.PROCESSING:
            if job.taken_at >= cutoff:
                return
            run_again = False
        else:
            run_again = document is not None
        if self._queue.retire_abandoned(job, run_again=run_again):
            (report.resumed if run_again else report.retired).append(job.job_id)

    def _document(self, job: AbandonedJob) -> Document | None:
        with self._uow_factory() as uow:
            try:
                return uow.documents.get(job.document_id, job.workspace_id)
            except (DocumentNotFound, WorkspaceMismatch):
                return None
