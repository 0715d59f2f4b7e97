"""Accepting an upload: store the bytes, create the document row, enqueue its processing."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from uuid import UUID, uuid4

from application.errors import (
    DocumentTooLarge,
    EmptyDocument,
    InvalidJobArgument,
    PermanentError,
)
from application.ports import BlobStorage, Clock, JobQueue, UnitOfWorkFactory
from domain import Document

_UNSAFE_FILENAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._ -]+")
#: A batch's files are stored this many at a time: each write waits on the disk (two fsyncs, for
#: local storage) or the network, and the waits overlap.
STORE_CONCURRENCY = 8


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
    so a worker never sees a row without its file; `submit_many` does each step for a whole
    batch at once, storing up to `STORE_CONCURRENCY` files at a time. If enqueuing fails the
    row stays `queued` and `DependencyUnavailable` is raised; submitting again or requeuing
    recovers it.
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
        [submitted] = self.submit_many([command])
        if isinstance(submitted, PermanentError):
            raise submitted
        return submitted

    def submit_many(self, commands: Sequence[SubmitUpload]) -> list[Document | PermanentError]:
        """Submit a batch: for each command, in order, its document (new, or the identical one
        already submitted, earlier in this batch too) or why it was refused.

        Whatever the batch's size, one transaction looks up the identical ones, one records the
        new documents and one round trip enqueues their jobs; the bytes are stored first. A
        dependency failing raises `TransientError` for the whole batch.
        """
        refusals = [_refusal(command, self._max_file_bytes) for command in commands]
        results: list[Document | PermanentError | None] = list(refusals)
        pending = [
            (n, command, _identity(command))
            for n, (command, refusal) in enumerate(zip(commands, refusals, strict=True))
            if refusal is None
        ]
        existing = self._identical([identity for _, c, identity in pending if not c.force])
        created: list[tuple[Document, bytes]] = []
        for n, command, identity in pending:
            document = None if command.force else existing.get(identity)
            if document is None:
                document = self._new_document(command, identity[2])
                created.append((document, command.data))
                existing[identity] = document
            results[n] = document
        self._store(created)
        self._record([document for document, _ in created])
        return [result for result in results if result is not None]

    def _new_document(self, command: SubmitUpload, content_sha256: str) -> Document:
        document_id = uuid4()
        return Document.register(
            document_id=document_id,
            workspace_id=command.workspace_id,
            filename=command.filename,
            storage_key=storage_key_for(command.workspace_id, document_id, command.filename),
            size_bytes=len(command.data),
            content_sha256=content_sha256,
            media_type=command.media_type,
            now=self._clock.now(),
        )

    def _store(self, created: Sequence[tuple[Document, bytes]]) -> None:
        """Store each new document's bytes, `STORE_CONCURRENCY` at a time; once every write
        has ended, raise the first failure (in the batch's order)."""
        if len(created) <= 1:
            for document, data in created:
                self._storage.put(document.storage_key, data)
            return
        with ThreadPoolExecutor(max_workers=min(STORE_CONCURRENCY, len(created))) as pool:
            writes = [
                pool.submit(self._storage.put, document.storage_key, data)
                for document, data in created
            ]
        for write in writes:
            write.result()

    def _record(self, documents: Sequence[Document]) -> None:
        """Commit the rows, then enqueue their jobs."""
        if not documents:
            return
        with self._uow_factory() as uow:
            for document in documents:
                uow.documents.add(document)
            uow.commit()
        self._queue.enqueue_processing_many([(d.id, d.workspace_id) for d in documents])

    def _identical(self, identities: Sequence[_Identity]) -> dict[_Identity, Document]:
        """The documents already submitted with each of `identities`, in one transaction."""
        if not identities:
            return {}
        found: dict[_Identity, Document] = {}
        with self._uow_factory() as uow:
            for identity in set(identities):
                document = uow.documents.find_identical(*identity)
                if document is not None:
                    found[identity] = document
        return found


#: What makes two uploads identical: workspace, filename, SHA-256 of the bytes.
_Identity = tuple[UUID, str, str]


def _identity(command: SubmitUpload) -> _Identity:
    return (command.workspace_id, command.filename, hashlib.sha256(command.data).hexdigest())


def _refusal(command: SubmitUpload, max_file_bytes: int) -> PermanentError | None:
    """Why the upload cannot be submitted, or None."""
    if not command.filename.strip():
        return InvalidJobArgument("an upload needs a filename")
    if not command.data:
        return EmptyDocument()
    if len(command.data) > max_file_bytes:
        return DocumentTooLarge(
            f"the upload is {len(command.data)} bytes; the limit is {max_file_bytes}"
        )
    return None


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
