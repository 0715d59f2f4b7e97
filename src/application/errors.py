"""The application's error taxonomy, and the one registry of error codes.

Every error carries a stable machine `code` (stored on a failed document, used as a metric label,
shown to outside clients) and a readable message. Each code is declared once, on its class here;
code that needs to tell errors apart compares types, never code strings.
`PermanentError`s mean "retrying cannot help": the document is marked `failed` once.
`TransientError`s mean "a dependency hiccuped": the attempt may be retried (see `RetryPolicy`).
What happens to a job and its document for each class is tabled in docs/design-decisions.md
("Failure").
"""

from __future__ import annotations

from domain import Vector


class IngestionError(Exception):
    """Base of every error the application raises on purpose."""

    code = "ingestion_error"
    default_message = "document ingestion failed"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)
        #: The document's attempt count when this error ended one of its attempts; None when
        #: the error came before an attempt claimed the document.
        self.attempts: int | None = None

    @property
    def message(self) -> str:
        return str(self)


class InternalError(IngestionError):
    """An exception no part of the application raised on purpose (a bug); retried like a
    transient failure, within the attempt budget."""

    code = "internal_error"
    default_message = "an unexpected error ended the job"


class PermanentError(IngestionError):
    """Retrying will not help; the document (when there is one) is marked failed."""

    code = "permanent_error"


class TransientError(IngestionError):
    """A dependency failed in a way that may pass; the attempt can be retried."""

    code = "transient_error"
    default_message = "a dependency is temporarily unavailable"


# Permanent: the request itself is wrong ------------------------------------------------------


class InvalidJobArgument(PermanentError):
    code = "invalid_argument"
    default_message = "a job argument is malformed"


class DocumentNotFound(PermanentError):
    code = "document_not_found"
    default_message = "no such document"


class WorkspaceMismatch(PermanentError):
    code = "workspace_mismatch"
    default_message = "the document belongs to another workspace"


class UnreadableFile(PermanentError):
    """A client could not read the file it meant to submit (permissions, I/O error)."""

    code = "unreadable_file"
    default_message = "the file could not be read"


class ForbiddenJob(PermanentError):
    """The job names a function, or a callback, this worker does not run."""

    code = "forbidden_job"
    default_message = "this worker does not run that function"


class UndecodableJob(PermanentError):
    """The job's payload is not JSON (a pickle, or damaged): it is refused without being run."""

    code = "undecodable_job"
    default_message = "the job's payload could not be decoded as JSON; it was not run"


#: Errors about the job itself, found before any document is touched: the document (if there is
#: one) is left as it is.
JOB_ERRORS: tuple[type[PermanentError], ...] = (
    InvalidJobArgument,
    ForbiddenJob,
    UndecodableJob,
    DocumentNotFound,
    WorkspaceMismatch,
)


# Permanent: the stored file is unusable -----------------------------------------------------


class BlobNotFound(PermanentError):
    code = "blob_missing"
    default_message = "the uploaded file is missing from storage"


class BlobUnreadable(PermanentError):
    code = "blob_unreadable"
    default_message = "the uploaded file exists but cannot be read"


class InvalidStorageKey(PermanentError):
    code = "invalid_storage_key"
    default_message = "the storage key is not allowed"


class DocumentTooLarge(PermanentError):
    code = "too_large"
    default_message = "the document exceeds the configured size limit"


class OutOfMemory(PermanentError):
    """Processing the document needed more memory than the process running it may take (its
    memory ceiling, JOB_MEMORY_LIMIT, or the machine's): the same file would need it again."""

    code = "out_of_memory"
    default_message = "processing the document needed more memory than the job may use"


class UnsupportedMediaType(PermanentError):
    code = "unsupported_media_type"
    default_message = "this kind of file is not supported"


class CorruptDocument(PermanentError):
    code = "corrupt_document"
    default_message = "the file is corrupt or truncated"


class EncryptedDocument(PermanentError):
    code = "encrypted_document"
    default_message = "the file is encrypted"


class EmptyDocument(PermanentError):
    code = "empty_document"
    default_message = "the file is empty"


class NoExtractableText(PermanentError):
    code = "no_text"
    default_message = "no text could be extracted from the file"


class NoChunks(PermanentError):
    code = "no_chunks"
    default_message = "the extracted text holds nothing to index"


class EmbedderRejected(PermanentError):
    code = "embedder_rejected"
    default_message = "the embedding service rejected the request"


class RetriesExhausted(PermanentError):
    code = "retries_exhausted"
    default_message = "gave up after repeated transient failures"


class CrashedExecutorTwice(PermanentError):
    """The document's job crashed its executor process a second time: a crash in native code
    that the document causes every time is not retried."""

    code = "crashed_executor_twice"
    default_message = "processing the document crashed its executor process twice"


# Transient ---------------------------------------------------------------------------------


class DependencyUnavailable(TransientError):
    code = "dependency_unavailable"


class EmbeddingInterrupted(TransientError):
    """An embedding call stopped before every text had its vector. `received` holds the
    vectors that did come, by the position of their text in the call, so that the next attempt
    need not ask for them again."""

    code = "embedding_interrupted"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message)
        self.received: dict[int, Vector] = {}


class EmbedderUnavailable(EmbeddingInterrupted):
    code = "embedder_unavailable"
    default_message = "the embedding service is temporarily unavailable"


class EmbedderThrottled(EmbeddingInterrupted):
    """The embedding provider's rate limit (our shared budget, or its 429s) would hold the
    attempt past its time: the document is deferred, and the attempt is not counted."""

    code = "embedder_throttled"
    default_message = "the embedding service's rate limit deferred the document"


class JobTimedOut(TransientError):
    """The job ran past its timeout (JOB_TIMEOUT) and was stopped."""

    code = "timeout"
    default_message = "the job ran past its timeout and was stopped"


class WorkerDied(TransientError):
    """The process running the job ended before the job did (killed, out of memory, crashed)."""

    code = "worker_died"
    default_message = "the process running the job ended unexpectedly"


class ExecutorCrashed(TransientError):
    """The executor process running the job ended before the job did (a native crash, killed,
    out of memory); a fresh one takes the next job."""

    code = "executor_crashed"
    default_message = "the executor process running the job crashed"


class AbandonedAttempt(TransientError):
    """The worker running an attempt stopped (killed, crashed, lost) before it ended."""

    code = "abandoned"
    default_message = "the worker processing it stopped; requeued"
