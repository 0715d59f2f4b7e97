"""Errors raised by domain rules."""


class DomainError(Exception):
    """A domain rule was broken."""


class IllegalStatusTransition(DomainError):
    """A document was asked to move to a status its current status does not allow."""

    def __init__(self, current: str, requested: str) -> None:
        super().__init__(f"a document cannot go from {current!r} to {requested!r}")
        self.current = current
        self.requested = requested


class DocumentAlreadyExists(DomainError):
    """A new document was added under an id that is already taken."""

    def __init__(self, document_id: object) -> None:
        super().__init__(f"document {document_id} exists already")
        self.document_id = document_id
