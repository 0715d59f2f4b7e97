"""Handing documents to the workers."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID


class JobQueue(Protocol):
    """The queue that workers consume."""

    def enqueue_processing(self, document_id: UUID, workspace_id: UUID) -> str:
        """Enqueue one processing job for the document and return its job id.

        Enqueuing the same document twice is allowed (processing is idempotent). Raises
        `DependencyUnavailable` when the queue cannot be reached.
        """
        ...

    def unfinished_jobs(self) -> int:
        """How many jobs on the consumed queues are not finished yet: waiting, scheduled for a
        retry, deferred or running. Reads counts without side effects (no registry cleanup).

        Raises `DependencyUnavailable` when the queue cannot be reached.
        """
        ...
