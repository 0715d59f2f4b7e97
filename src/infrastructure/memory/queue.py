"""A job queue that only records what was enqueued."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from application.errors import DependencyUnavailable
from application.ports import AbandonedJob, JobQueue


class InMemoryJobQueue(JobQueue):
    """Records enqueued jobs in `jobs`; a test "runs" jobs by removing them from that list.

    `abandon(job_id, taken_at)` plays a worker that took a job and died: the job moves to
    `abandoned` (still live) until retired; retired jobs that do not run again are
    recorded in `failed`. `presumed_dead=True` lists the job whatever the cutoff, as a queue's
    own liveness check would.
    """

    def __init__(self) -> None:
        self.jobs: list[tuple[str, UUID, UUID]] = []
        self.abandoned: list[AbandonedJob] = []
        self.presumed_dead: set[str] = set()
        self.failed: list[str] = []
        self.available = True
        self._turn_ends = float("-inf")

    def enqueue_processing(self, document_id: UUID, workspace_id: UUID) -> str:
        if not self.available:
            raise DependencyUnavailable("the in-memory queue is switched off")
        job_id = str(uuid4())
        self.jobs.append((job_id, document_id, workspace_id))
        return job_id

    def enqueue_processing_many(self, documents: Sequence[tuple[UUID, UUID]]) -> list[str]:
        if not self.available:
            raise DependencyUnavailable("the in-memory queue is switched off")
        return [self.enqueue_processing(document, workspace) for document, workspace in documents]

    def documents_with_live_jobs(self, document_ids: Collection[UUID]) -> set[UUID]:
        self._check_available()
        live = {document_id for _, document_id, _ in self.jobs}
        live.update(job.document_id for job in self.abandoned)
        return live.intersection(document_ids)

    def abandoned_jobs(self, taken_before: datetime, limit: int) -> list[AbandonedJob]:
        self._check_available()
        listed = [
            job
            for job in self.abandoned
            if job.taken_at < taken_before or job.job_id in self.presumed_dead
        ]
        return listed[:limit]

    def retire_abandoned(self, job: AbandonedJob, *, run_again: bool) -> bool:
        self._check_available()
        if job not in self.abandoned:
            return False
        self.abandoned.remove(job)
        if run_again:
            self.jobs.insert(0, (job.job_id, job.document_id, job.workspace_id))
        else:
            self.failed.append(job.job_id)
        return True

    def take_recovery_turn(self, interval: timedelta) -> bool:
        self._check_available()
        now = time.monotonic()
        if now < self._turn_ends:
            return False
        self._turn_ends = now + interval.total_seconds()
        return True

    def abandon(
        self, job_id: str, taken_at: datetime, *, presumed_dead: bool = False
    ) -> AbandonedJob:
        """Take the waiting job `job_id` as a worker would, and let that worker die."""
        [entry] = [j for j in self.jobs if j[0] == job_id]
        self.jobs.remove(entry)
        job = AbandonedJob(job_id, entry[1], entry[2], taken_at, handle=job_id)
        self.abandoned.append(job)
        if presumed_dead:
            self.presumed_dead.add(job_id)
        return job

    def _check_available(self) -> None:
        if not self.available:
            raise DependencyUnavailable("the in-memory queue is switched off")
