"""Recording a failure that the attempt itself could not record: its process died."""

from __future__ import annotations

from application.errors import PermanentError
from application.ports import Clock, UnitOfWorkFactory
from application.usecases.ingestion.process_uploaded_document import ProcessDocument
from domain import DocumentStatus


class FailCrashedAttempt:
    """Mark a document `failed` after the process running its attempt died, when the caller has
    decided that retrying cannot help (it crashed its executor twice).

    Transactions: one short transaction reads the document and, if it is still `processing`
    (the dead attempt's claim), marks it failed with the error's code and message; a document
    in any other state (the attempt never claimed it, or it ended) is left as it is.
    """

    def __init__(self, *, uow_factory: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    def __call__(self, command: ProcessDocument, error: PermanentError) -> None:
        """Record `error` on the document and set `error.attempts` to its attempt count.

        Errors: `DocumentNotFound`/`WorkspaceMismatch` for a wrong id; `DependencyUnavailable`
        when the database cannot be reached (nothing is written)."""
        with self._uow_factory() as uow:
            document = uow.documents.get(command.document_id, command.workspace_id)
            error.attempts = document.attempts
            if document.status is not DocumentStatus.PROCESSING:
                return
            document.mark_failed(code=error.code, message=error.message, now=self._clock.now())
            uow.documents.save(document)
            uow.commit()
