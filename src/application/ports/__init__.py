"""The capabilities the use cases need, as `typing.Protocol`s. Adapters implement them."""

from application.ports.documents import (
    DocumentRepository,
    FinishAnnouncements,
    FinishWatch,
    UnitOfWork,
    UnitOfWorkFactory,
)
from application.ports.embeddings import Embedder, EmbeddingCache, HeldVectors
from application.ports.observability import Clock, IngestionTelemetry, Stage
from application.ports.queue import AbandonedJob, JobQueue
from application.ports.rate_limits import RateLimiter
from application.ports.search import ChunkSearch, FoundChunk, SearchMode
from application.ports.storage import BlobStorage
from application.ports.text import Chunker, ExtractedText, TextExtractor, TextSection
from application.ports.tokens import TokenCounter, TokenSpans

__all__ = [
    "AbandonedJob",
    "BlobStorage",
    "ChunkSearch",
    "Chunker",
    "Clock",
    "DocumentRepository",
    "Embedder",
    "EmbeddingCache",
    "ExtractedText",
    "FinishAnnouncements",
    "FinishWatch",
    "FoundChunk",
    "HeldVectors",
    "IngestionTelemetry",
    "JobQueue",
    "RateLimiter",
    "SearchMode",
    "Stage",
    "TextExtractor",
    "TextSection",
    "TokenCounter",
    "TokenSpans",
    "UnitOfWork",
    "UnitOfWorkFactory",
]
