"""Accepting an upload: store the bytes, create the document row, enqueue its processing."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from uuid import UUID, uuid4

from application.errors import DocumentTooLarge, EmptyDocument, InvalidJobArgument
from application.ports import BlobStorage, Clock, JobQueue, UnitOfWorkFactory
from domain import Document

_UNSAFE_FILENAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._ -]+")


@dataclass(frozen=True, slots=True)
class SubmitUpload:
    """Submit `data`, uploaded as `filename`, for processing in `workspace_id`."""

    workspace_id: UUID
    filename: str
    data: bytes
    media_type: str | None = None
    #: Submit it even when the workspace has a document of this name with these bytes.
    force: bool = False


class SubmitDocument:
    """Store an upload, record it as a `queued` document and enqueue its processing.

    Idempotent: when the workspace already has a document uploaded under the same filename with
    the same bytes (SHA-256), that document is returned as it is, and nothing is stored, recorded
    or enqueued, unless the command says `force`.

    Order: the bytes are stored first, then the row is committed, then the job is enqueued,
    so a worker never sees a row without its file. If enqueuing fails the row stays `queued`
    and `DependencyUnavailable` is raised; submitting again or requeuing recovers it.
    Raises `EmptyDocument` for no bytes and `DocumentTooLarge` past `max_file_bytes`.
    """

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        storage: BlobStorage,
        queue: JobQueue,
        clock: Clock,
        max_file_bytes: int,
    ) -> None:
        self._uow_factory = uow_factory
        self._storage = storage
        self._queue = queue
        self._clock = clock
        self._max_file_bytes = max_file_bytes

    def __call__(self, command: SubmitUpload) -> Document:
        """Submit the upload and return the new document (status `queued`), or the identical
        one already submitted."""
        self._check(command)
        content_sha256 = hashlib.sha256(command.data).hexdigest()
        if not command.force:
            existing = self._identical(command, content_sha256)
            if existing is not None:
                return existing
        document_id = uuid4()
        key = storage_key_for(command.workspace_id, document_id, command.filename)
        self._storage.put(key, command.data)
        document = Document.register(
            document_id=document_id,
            workspace_id=command.workspace_id,
            filename=command.filename,
            storage_key=key,
            size_bytes=len(command.data),
            content_sha256=content_sha256,
            media_type=command.media_type,
            now=self._clock.now(),
        )
        with self._uow_factory() as uow:
            uow.documents.add(document)
            uow.commit()
        self._queue.enqueue_processing(document.id, document.workspace_id)
        return document

    def _identical(self, command: SubmitUpload, content_sha256: str) -> Document | None:
        with self._uow_factory() as uow:
            return uow.documents.find_identical(
                command.workspace_id, command.filename, content_sha256
            )

    def _check(self, command: SubmitUpload) -> None:
        if not command.filename.strip():
            raise InvalidJobArgument("an upload needs a filename")
        if not command.data:
            raise EmptyDocument()
        if len(command.data) > self._max_file_bytes:
            raise DocumentTooLarge(
                f"the upload is {len(command.data)} bytes; the limit is {self._max_file_bytes}"
            )


def storage_key_for(workspace_id: UUID, document_id: UUID, filename: str) -> str:
    """`<workspace>/<document>/<safe name>`: only the last path part of the name, sanitised."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    safe = _UNSAFE_FILENAME_CHARACTERS.sub("_", base).strip(" .") or "upload"
    return f"{_workspace_prefix(workspace_id)}{document_id}/{safe[:200]}"


def is_in_workspace(storage_key: str, workspace_id: UUID) -> bool:
    """Whether `storage_key` lies under `workspace_id`'s folder, where `storage_key_for` puts
    every key of that workspace."""
    return storage_key.startswith(_workspace_prefix(workspace_id))


def _workspace_prefix(workspace_id: UUID) -> str:
    return f"{workspace_id}/"
