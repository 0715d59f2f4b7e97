"""The ingestion domain: documents, their status rules, and chunks. Pure Python, no I/O."""

from domain.chunk import Chunk, EmbeddedChunk, Vector, content_hash, context_line
from domain.document import Document, DocumentStatus
from domain.errors import DocumentAlreadyExists, DomainError, IllegalStatusTransition

__all__ = [
    "Chunk",
    "DocumentAlreadyExists",
    "DomainError",
    "Document",
    "DocumentStatus",
    "EmbeddedChunk",
    "IllegalStatusTransition",
    "Vector",
    "content_hash",
    "context_line",
]
