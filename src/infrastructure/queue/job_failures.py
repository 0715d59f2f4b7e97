"""What outside clients see of a failed job: its error code and a readable message.

RQ keeps one text per failed job, its `exc_info` (what rq-dashboard and `Job.fetch(id).exc_info`
show); we make its first line `code: message` and keep the traceback after it, and we put the
same `{"code": ..., "message": ...}` in `job.meta["error"]` for clients that read fields. Every
way a job can end badly has a code from `application.errors`: our own errors keep theirs, and
`failure_of` names the rest (an undecodable payload, a timeout, an unexpected exception).
Messages and tracebacks are bounded (hostile input can make them megabytes) and redacted.
"""

from __future__ import annotations

from dataclasses import dataclass

from rq.exceptions import DeserializationError
from rq.job import Job
from rq.timeouts import JobTimeoutException

from application.errors import (
    IngestionError,
    InternalError,
    JobTimedOut,
    UndecodableJob,
    WorkerDied,
)
from infrastructure.redaction import redacted_excerpt

#: Characters of a message kept, before the ellipsis.
MESSAGE_LIMIT = 1_000
#: Characters of a traceback kept from each of its ends.
TRACEBACK_END_LIMIT = 4_000
#: The key of `job.meta` that holds a failed job's code and message.
META_KEY = "error"


@dataclass(frozen=True, slots=True)
class JobFailure:
    """A failed job's code and its bounded, redacted, one-line message."""

    code: str
    message: str

    @classmethod
    def of(cls, error: IngestionError) -> JobFailure:
        return cls(error.code, " ".join(redacted_excerpt(error.message, MESSAGE_LIMIT).split()))

    def exc_info(self, traceback: str = "") -> str:
        """`code: message`, then `traceback` (bounded, redacted) on the lines after it."""
        headline = f"{self.code}: {self.message}"
        return f"{headline}\n{_bounded_traceback(traceback)}" if traceback else headline

    def record_on(self, job: Job) -> None:
        """Put the code and message in `job.meta["error"]` and save the job's meta."""
        job.meta[META_KEY] = {"code": self.code, "message": self.message}
        job.save_meta()  # type: ignore[no-untyped-call]  # RQ leaves it unannotated


def failure_of(exception: BaseException) -> IngestionError:
    """The application error that stands for `exception`: itself when it is one, else the
    error for a payload RQ could not decode, a job timeout, a worker stopped at once (RQ raises
    `SystemExit` in it on a second SIGTERM or SIGINT), or an unexpected exception."""
    if isinstance(exception, IngestionError):
        return exception
    if isinstance(exception, SystemExit):
        return WorkerDied(f"{WorkerDied.default_message}: the worker was stopped at once")
    if isinstance(exception, DeserializationError):
        return UndecodableJob()
    if isinstance(exception, JobTimeoutException):
        return JobTimedOut(f"{JobTimedOut.default_message}: {_excerpt(exception)}")
    return InternalError(f"{type(exception).__name__}: {_excerpt(exception)}")


def _excerpt(exception: BaseException) -> str:
    return redacted_excerpt(str(exception), MESSAGE_LIMIT)


def _bounded_traceback(traceback: str) -> str:
    """`traceback`, or its start and its end (where the innermost call and the exception are)
    with what lies between left out; redacted."""
    limit = TRACEBACK_END_LIMIT
    if len(traceback) <= 2 * limit:
        return redacted_excerpt(traceback, 2 * limit)
    head = redacted_excerpt(traceback, limit)
    tail = redacted_excerpt(traceback, limit, from_end=True)
    return f"{head}\n({len(traceback) - 2 * limit} characters left out)\n{tail}"
