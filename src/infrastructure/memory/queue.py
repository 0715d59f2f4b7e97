"""A job queue that only records what was enqueued."""

from __future__ import annotations

from uuid import UUID, uuid4

from application.errors import DependencyUnavailable
from application.ports import JobQueue


class InMemoryJobQueue(JobQueue):
    """Records enqueued jobs in `jobs`; a test "runs" jobs by removing them from that list."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, UUID, UUID]] = []
        self.available = True

    def enqueue_processing(self, document_id: UUID, workspace_id: UUID) -> str:
        if not self.available:
            raise DependencyUnavailable("the in-memory queue is switched off")
        job_id = str(uuid4())
        self.jobs.append((job_id, document_id, workspace_id))
        return job_id

    def unfinished_jobs(self) -> int:
        if not self.available:
            raise DependencyUnavailable("the in-memory queue is switched off")
        return len(self.jobs)
