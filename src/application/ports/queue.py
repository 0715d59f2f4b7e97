"""Handing documents to the workers."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True, slots=True)
class AbandonedJob:
    """A processing job that a worker took off the queue and never finished: the worker died,
    or lost the queue, while it held the job."""

    #: The queue's id for the job.
    job_id: str
    document_id: UUID
    workspace_id: UUID
    #: When a worker took the job (or, where the queue cannot tell, a later moment).
    taken_at: datetime
    #: What the queue needs to retire this job; opaque to callers.
    handle: str


class JobQueue(Protocol):
    """The queue that workers consume."""

    def enqueue_processing(self, document_id: UUID, workspace_id: UUID) -> str:
        """Enqueue one processing job for the document and return its job id.

        Enqueuing the same document twice is allowed (processing is idempotent). Raises
        `DependencyUnavailable` when the queue cannot be reached.
        """
        ...

    def enqueue_processing_many(self, documents: Sequence[tuple[UUID, UUID]]) -> list[str]:
        """Enqueue one processing job for each `(document_id, workspace_id)`, in that order, in
        one round trip; return their job ids in the same order.

        All or none: when it raises `DependencyUnavailable` (the queue cannot be reached) no
        job of the batch was enqueued.
        """
        ...

    def documents_with_live_jobs(self, document_ids: Collection[UUID]) -> set[UUID]:
        """Those of `document_ids` that a processing job on the consumed queues may still run:
        one waiting, scheduled (a retry, or any moment in the future), deferred, or taken by a
        worker and not finished (abandoned ones included until `retire_abandoned`).

        Reads only (no registry cleanup, nothing recorded): a job that moves on between two
        states while it is read still counts. Jobs of other functions, or whose arguments are
        not two UUIDs, belong to no document. Raises `DependencyUnavailable` when the queue
        cannot be reached.
        """
        ...

    def abandoned_jobs(self, taken_before: datetime, limit: int) -> list[AbandonedJob]:
        """Up to `limit` processing jobs that a worker took and never finished, and never will:
        taken before `taken_before`, or already counted as abandoned by the queue's own liveness
        checks (its worker stopped reporting on it). With `taken_before` older than the job
        timeout, a live job is never listed.

        Takes nothing: each listed job stays live until `retire_abandoned`.
        Jobs of other functions, or whose arguments are not two UUIDs, are not listed (the
        queue's own cleanup keeps them). Raises `DependencyUnavailable` when the queue cannot
        be reached.
        """
        ...

    def retire_abandoned(self, job: AbandonedJob, *, run_again: bool) -> bool:
        """Take an abandoned job off the running jobs for good, in one step: with `run_again`
        the same job goes back to the head of the queue (it had reached the head once; its
        retry allowance is untouched), otherwise it is recorded as failed, abandoned, and never
        runs again. Either way the queue's own cleanup never retries it later.

        Returns False, changing nothing, when the job is no longer abandoned (another caller or
        the queue's own cleanup took it first): of concurrent callers, at most one gets True,
        so a job is put back at most once. Raises `DependencyUnavailable` when the queue cannot
        be reached.
        """
        ...

    def take_recovery_turn(self, interval: timedelta) -> bool:
        """Whether this caller may run the once-per-interval part of recovery now.

        Of all callers sharing this queue (every worker on the same Redis), at most one gets
        True per `interval`; the turn is not handed back early. Raises `DependencyUnavailable`
        when the queue cannot be reached.
        """
        ...
