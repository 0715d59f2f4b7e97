"""The pipeline: read, extract, chunk, embed (reusing cached vectors), write, mark ready.

What is embedded for a chunk is its `embedded_text` (its context line and its text); vectors are
reused by the hash of exactly that text: from stored chunks (`EmbeddingCache`), or from an
earlier attempt that stopped part-way (`HeldVectors`).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from application.errors import (
    JOB_ERRORS,
    DependencyUnavailable,
    DocumentTooLarge,
    EmbedderThrottled,
    EmbeddingInterrupted,
    IngestionError,
    InvalidStorageKey,
    NoChunks,
    OutOfMemory,
    PermanentError,
    RetriesExhausted,
    TransientError,
)
from application.ports import (
    BlobStorage,
    Chunker,
    Clock,
    Embedder,
    EmbeddingCache,
    HeldVectors,
    IngestionTelemetry,
    Stage,
    TextExtractor,
    UnitOfWork,
    UnitOfWorkFactory,
)
from application.ports.storage import shown_name
from application.retry_policy import RetryPolicy
from application.usecases.ingestion.submit_document import is_in_workspace
from domain import Chunk, Document, DocumentStatus, EmbeddedChunk, Vector


@dataclass(frozen=True, slots=True)
class ProcessDocument:
    """Process the stored file of `document_id`, which must belong to `workspace_id`."""

    document_id: UUID
    workspace_id: UUID


@dataclass(frozen=True, slots=True)
class ProcessingOutcome:
    """What an attempt did: `ready` (chunks written), `unchanged` (nothing to do) or
    `superseded` (a newer attempt took the document over first; nothing was written)."""

    document_id: UUID
    status: str
    chunk_count: int
    embedded: int
    reused: int


@dataclass(slots=True)
class _Progress:
    """How far an attempt got: the bytes it read of the file (none if storage refused it)."""

    bytes_read: int = 0


@dataclass(frozen=True, slots=True)
class _Attempt:
    document: Document
    size_bytes: int
    sha256: str


class ProcessUploadedDocument:
    """Turn one uploaded document into stored, embedded chunks.

    Transactions: the document is read in one short transaction, marked `processing` in a
    second, and its chunks are replaced and it is marked `ready` in a third (the last two write
    the state read in the first: an attempt owns its document until it ends or its lease runs
    out). Reading the file,
    extraction, chunking and embedding happen with no transaction open.

    Errors: a `PermanentError` marks the document `failed` with the error's code and message and
    is re-raised (retrying cannot help). `DocumentNotFound` and `WorkspaceMismatch` touch
    nothing. A `TransientError` puts the document back to `queued` with the reason (best effort)
    and is re-raised so the caller retries (`EmbedderThrottled`, a rate limit that would hold
    the attempt past its time, gives the attempt back: waiting is not failing); once the
    document has had the policy's `max_attempts` attempts it is marked `failed` instead and
    `RetriesExhausted` is raised. An attempt that would exceed the budget (earlier ones were cut
    short by crashes) is refused the same way before it starts. Every error raised after the
    claim carries the document's `attempts`, from which the caller's queue derives the job's
    remaining retries.
    """

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        storage: BlobStorage,
        extractor: TextExtractor,
        chunker: Chunker,
        embedder: Embedder,
        embedding_cache: EmbeddingCache,
        held_vectors: HeldVectors,
        clock: Clock,
        telemetry: IngestionTelemetry,
        max_file_bytes: int,
        retry_policy: RetryPolicy,
    ) -> None:
        self._uow_factory = uow_factory
        self._storage = storage
        self._extractor = extractor
        self._chunker = chunker
        self._embedder = embedder
        self._cache = embedding_cache
        self._held = held_vectors
        self._clock = clock
        self._telemetry = telemetry
        self._max_file_bytes = max_file_bytes
        self._policy = retry_policy

    def __call__(self, command: ProcessDocument) -> ProcessingOutcome:
        """Run one attempt. Returns the outcome, or raises as described on the class."""
        document = self._load(command)
        attempts_before = document.attempts
        progress = _Progress()
        try:
            return self._process_within_memory(document, progress)
        except PermanentError as error:
            self._fail(command, error, _claimed(document, attempts_before))
            self._telemetry.document_processed(
                outcome=error.code, size_bytes=progress.bytes_read, chunks=0, tokens=0
            )
            raise
        except TransientError as error:
            error.attempts = _claimed(document, attempts_before)
            self._handle_transient(command, error, error.attempts)
            raise

    def _process_within_memory(self, document: Document, progress: _Progress) -> ProcessingOutcome:
        """`_process`, with running out of memory made `OutOfMemory`: the same file would
        need the same memory on every retry."""
        try:
            return self._process(document, progress)
        except MemoryError:
            pass  # raised past this block: its traceback would keep the attempt's data alive
        raise OutOfMemory(f"{shown_name(document.filename)}: {OutOfMemory.default_message}")

    def _process(self, document: Document, progress: _Progress) -> ProcessingOutcome:
        with self._telemetry.stage(Stage.READ):
            data = self._read(document)
        progress.bytes_read = len(data)
        sha256 = hashlib.sha256(data).hexdigest()
        if document.is_current(sha256, self._embedder.model_id):
            self._telemetry.document_processed(
                outcome="unchanged", size_bytes=len(data), chunks=0, tokens=0
            )
            return ProcessingOutcome(document.id, "unchanged", document.chunk_count, 0, 0)
        document = self._start(document)
        attempt = _Attempt(document, len(data), sha256)
        with self._telemetry.stage(Stage.EXTRACT):
            text = self._extractor.extract(data, document.filename, document.media_type)
        self._telemetry.document_extracted(media_type=text.media_type, pages=text.page_count)
        # Each form of the document is dropped once the next exists: a 100 MB text file would
        # otherwise be held as bytes, as text and as chunks at once until the attempt ends.
        del data
        with self._telemetry.stage(Stage.CHUNK):
            chunks = self._chunker.split(text)
        media_type = text.media_type
        del text
        return self._ingest(attempt, chunks, media_type)

    def _read(self, document: Document) -> bytes:
        """The file's bytes. A key outside the document's workspace is refused unread (another
        workspace's file must never be indexed here). A refusal names the file by its filename:
        the storage key is ours, not the user's (the storage's own message stays on the error's
        cause)."""
        if not is_in_workspace(document.storage_key, document.workspace_id):
            raise InvalidStorageKey(
                f"{shown_name(document.filename)}: its storage key lies outside its workspace"
            )
        try:
            return self._storage.get(document.storage_key, max_bytes=self._max_file_bytes)
        except PermanentError as error:
            if isinstance(error, DocumentTooLarge):
                message = error.message.replace(
                    shown_name(document.storage_key), shown_name(document.filename)
                )
            else:
                message = f"{shown_name(document.filename)}: {error.default_message}"
            raise type(error)(message) from error

    def _ingest(self, attempt: _Attempt, chunks: list[Chunk], media_type: str) -> ProcessingOutcome:
        if not chunks:
            raise NoChunks()
        embedded, reused = self._embed(attempt.document.workspace_id, chunks)
        with self._telemetry.stage(Stage.WRITE):
            finished = self._finish(attempt, embedded, media_type)
        if not finished:
            self._telemetry.document_processed(
                outcome=SUPERSEDED, size_bytes=attempt.size_bytes, chunks=0, tokens=0
            )
            return ProcessingOutcome(attempt.document.id, SUPERSEDED, 0, 0, 0)
        self._telemetry.document_processed(
            outcome="ready",
            size_bytes=attempt.size_bytes,
            chunks=len(chunks),
            tokens=sum(chunk.token_count for chunk in chunks),
        )
        return ProcessingOutcome(
            attempt.document.id, "ready", len(chunks), len(chunks) - reused, reused
        )

    def _embed(
        self, workspace_id: UUID, chunks: Sequence[Chunk]
    ) -> tuple[list[EmbeddedChunk], int]:
        model_id = self._embedder.model_id
        with self._telemetry.stage(Stage.EMBED):
            hashes = {c.embedded_sha256 for c in chunks}
            cached = self._cache.lookup(workspace_id, model_id, hashes)
            cached.update(self._held_vectors(workspace_id, model_id, hashes - cached.keys()))
            missing = _unique_missing(chunks, cached)
            fresh = self._embed_keeping_what_came(workspace_id, missing)
        vectors: dict[str, Vector] = {**cached}
        vectors.update((c.embedded_sha256, v) for c, v in zip(missing, fresh, strict=True))
        self._telemetry.embedding_cache_used(hits=len(chunks) - len(missing), misses=len(missing))
        embedded = [EmbeddedChunk(c, vectors[c.embedded_sha256]) for c in chunks]
        return embedded, len(chunks) - len(missing)

    def _held_vectors(
        self, workspace_id: UUID, model_id: str, hashes: set[str]
    ) -> dict[str, Vector]:
        """Vectors an interrupted attempt held for these hashes; none when the store is out of
        reach (holding is an optimisation: it never fails an attempt)."""
        if not hashes:
            return {}
        try:
            return self._held.lookup(workspace_id, model_id, hashes)
        except DependencyUnavailable:
            return {}

    def _embed_keeping_what_came(self, workspace_id: UUID, missing: list[Chunk]) -> list[Vector]:
        """The vectors of `missing`; when the embedder stops part-way, the vectors it did
        receive are held for the next attempt (best effort) before the error goes on."""
        try:
            return self._embedder.embed([chunk.embedded_text for chunk in missing])
        except EmbeddingInterrupted as error:
            received = {missing[i].embedded_sha256: v for i, v in error.received.items()}
            if received:
                with contextlib.suppress(DependencyUnavailable):
                    self._held.hold(workspace_id, self._embedder.model_id, received)
            raise

    def _load(self, command: ProcessDocument) -> Document:
        with self._uow_factory() as uow:
            return uow.documents.get(command.document_id, command.workspace_id)

    def _start(self, document: Document) -> Document:
        if not self._policy.may_attempt_again(document.attempts):
            message = f"gave up after {document.attempts} attempts; last error: "
            raise RetriesExhausted(message + (document.error_message or "none recorded"))
        document.start_processing(self._clock.now())
        with self._uow_factory() as uow:
            uow.documents.save(document)
            uow.commit()
        return document

    def _finish(self, attempt: _Attempt, chunks: list[EmbeddedChunk], media_type: str) -> bool:
        """Write the chunks and mark the document ready, unless a newer attempt has taken the
        document over meanwhile (then write nothing and return False)."""
        document = attempt.document
        number = document.attempts
        document.mark_ready(
            chunk_count=len(chunks),
            embedding_model=self._embedder.model_id,
            content_sha256=attempt.sha256,
            media_type=media_type,
            now=self._clock.now(),
        )
        with self._uow_factory() as uow:
            if not uow.documents.save_if_held(document, number):
                return False
            uow.documents.replace_chunks(document, chunks)
            uow.commit()
        return True

    def _fail(self, command: ProcessDocument, error: IngestionError, attempt: int | None) -> None:
        """Mark the document failed, unless `attempt` (the one that failed, if it had claimed
        the document) has been taken over by a newer one."""
        if isinstance(error, JOB_ERRORS):
            return
        with self._uow_factory() as uow:
            superseded = attempt is not None and not uow.documents.holds_attempt(
                command.document_id, attempt
            )
            if superseded:
                return
            document = uow.documents.get(command.document_id, command.workspace_id)
            now = self._clock.now()
            if document.status is not DocumentStatus.PROCESSING:
                document.start_processing(now)
            document.mark_failed(code=error.code, message=error.message, now=now)
            uow.documents.save(document)
            uow.commit()
        error.attempts = document.attempts

    def _handle_transient(
        self, command: ProcessDocument, error: TransientError, attempt: int | None
    ) -> None:
        try:
            with self._uow_factory() as uow:
                document = uow.documents.get(command.document_id, command.workspace_id)
                if document.status is not DocumentStatus.PROCESSING:
                    return
                if attempt is not None and document.attempts != attempt:
                    return  # a newer attempt owns the document now
                if isinstance(error, EmbedderThrottled):
                    self._defer(uow, document, error)
                    return
                if not self._policy.may_attempt_again(document.attempts):
                    raise _GiveUp(document.attempts) from error
                document.requeue(self._clock.now(), reason_code=error.code, reason=error.message)
                uow.documents.save(document)
                uow.commit()
        except _GiveUp as give_up:
            message = f"gave up after {give_up.attempts} attempts; last error: {error.message}"
            exhausted = RetriesExhausted(message)
            self._fail(command, exhausted, attempt)
            raise exhausted from error
        except TransientError:
            return

    def _defer(self, uow: UnitOfWork, document: Document, error: EmbedderThrottled) -> None:
        """Requeue a document the provider's rate limit held back, giving its attempt back:
        waiting for a budget is not a failure, so it never uses up the document's attempts."""
        document.defer(self._clock.now(), reason_code=error.code, reason=error.message)
        uow.documents.save(document)
        uow.commit()
        error.attempts = document.attempts


#: The outcome of an attempt that a newer attempt took over: its result was not written.
SUPERSEDED = "superseded"


def _claimed(document: Document, attempts_before: int) -> int | None:
    """The attempt number this call claimed the document with, or None if it never did."""
    return document.attempts if document.attempts > attempts_before else None


class _GiveUp(Exception):
    def __init__(self, attempts: int) -> None:
        super().__init__(attempts)
        self.attempts = attempts


def _unique_missing(chunks: Sequence[Chunk], cached: dict[str, Vector]) -> list[Chunk]:
    """The chunks whose embedded text has no vector yet, one per distinct embedded text."""
    seen: set[str] = set(cached)
    missing: list[Chunk] = []
    for chunk in chunks:
        if chunk.embedded_sha256 not in seen:
            seen.add(chunk.embedded_sha256)
            missing.append(chunk)
    return missing
