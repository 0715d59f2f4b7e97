"""The uploaded document and the rules of its processing status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID, uuid4

from domain.errors import IllegalStatusTransition


class DocumentStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


_S = DocumentStatus

#: Which status may follow which. PROCESSING -> PROCESSING is the retry of an attempt that was
#: interrupted (worker killed, dependency lost); PROCESSING -> QUEUED hands an abandoned attempt
#: back to the queue. READY and FAILED may be processed again.
ALLOWED_TRANSITIONS: dict[DocumentStatus, frozenset[DocumentStatus]] = {
    _S.QUEUED: frozenset({_S.PROCESSING, _S.FAILED}),
    _S.PROCESSING: frozenset({_S.PROCESSING, _S.READY, _S.FAILED, _S.QUEUED}),
    _S.READY: frozenset({_S.QUEUED, _S.PROCESSING}),
    _S.FAILED: frozenset({_S.QUEUED, _S.PROCESSING}),
}


@dataclass(eq=False, slots=True)
class Document:
    """An uploaded file and where its processing stands. Identity is `id`."""

    id: UUID
    workspace_id: UUID
    filename: str
    storage_key: str
    size_bytes: int
    created_at: datetime
    updated_at: datetime
    media_type: str | None = None
    content_sha256: str | None = None
    status: DocumentStatus = DocumentStatus.QUEUED
    error_code: str | None = None
    error_message: str | None = None
    attempts: int = 0
    chunk_count: int = 0
    embedding_model: str | None = None
    processing_started_at: datetime | None = None
    processed_at: datetime | None = None

    @classmethod
    def register(
        cls,
        *,
        workspace_id: UUID,
        filename: str,
        storage_key: str,
        size_bytes: int,
        content_sha256: str | None,
        now: datetime,
        media_type: str | None = None,
        document_id: UUID | None = None,
    ) -> Document:
        """A new document, `queued` for processing."""
        return cls(
            id=document_id or uuid4(),
            workspace_id=workspace_id,
            filename=filename,
            storage_key=storage_key,
            size_bytes=size_bytes,
            content_sha256=content_sha256,
            media_type=media_type,
            created_at=now,
            updated_at=now,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Document) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def is_current(self, content_sha256: str, embedding_model: str) -> bool:
        """True when this exact content is already `ready`, embedded by this model."""
        return (
            self.status is DocumentStatus.READY
            and self.content_sha256 == content_sha256
            and self.embedding_model == embedding_model
        )

    def is_abandoned(self, started_before: datetime) -> bool:
        """True when an attempt is `processing` since before `started_before`."""
        return (
            self.status is DocumentStatus.PROCESSING
            and self.processing_started_at is not None
            and self.processing_started_at < started_before
        )

    def start_processing(self, now: datetime) -> None:
        """Claim the document for an attempt: counts the attempt and clears the last error."""
        self._move_to(DocumentStatus.PROCESSING, now)
        self.attempts += 1
        self.processing_started_at = now
        self.error_code = None
        self.error_message = None

    def mark_ready(
        self,
        *,
        chunk_count: int,
        embedding_model: str,
        content_sha256: str,
        media_type: str | None,
        now: datetime,
    ) -> None:
        """Record a finished attempt whose chunks are stored."""
        self._move_to(DocumentStatus.READY, now)
        self.chunk_count = chunk_count
        self.embedding_model = embedding_model
        self.content_sha256 = content_sha256
        self.media_type = media_type or self.media_type
        self.processed_at = now
        self.error_code = None
        self.error_message = None

    def mark_failed(self, *, code: str, message: str, now: datetime) -> None:
        """Record that processing cannot succeed, with a machine code and a readable reason."""
        self._move_to(DocumentStatus.FAILED, now)
        self.error_code = code
        self.error_message = message
        self.processed_at = now

    def requeue(
        self, now: datetime, *, reason_code: str | None = None, reason: str | None = None
    ) -> None:
        """Hand the document back to the queue, keeping why the last attempt stopped."""
        self._move_to(DocumentStatus.QUEUED, now)
        self.error_code = reason_code
        self.error_message = reason
        self.processing_started_at = None

    def defer(self, now: datetime, *, reason_code: str, reason: str) -> None:
        """Hand the document back to the queue without counting the attempt that claimed it:
        the attempt was held back (a provider's rate limit), not failed."""
        self.requeue(now, reason_code=reason_code, reason=reason)
        self.attempts = max(self.attempts - 1, 0)

    def resubmit(self, now: datetime) -> None:
        """Send a finished document through again on request, with a fresh attempt budget."""
        self.requeue(now)
        self.attempts = 0

    def _move_to(self, status: DocumentStatus, now: datetime) -> None:
        if status not in ALLOWED_TRANSITIONS[self.status]:
            raise IllegalStatusTransition(self.status.value, status.value)
        self.status = status
        self.updated_at = now
