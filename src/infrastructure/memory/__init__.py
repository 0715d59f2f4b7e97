"""In-memory adapters of every port, for unit tests; they pass the same contract suites."""

from infrastructure.memory.documents import (
    InMemoryDatabase,
    InMemoryEmbeddingCache,
    InMemoryFinishAnnouncements,
    InMemoryUnitOfWork,
)
from infrastructure.memory.held_vectors import InMemoryHeldVectors
from infrastructure.memory.observability import FixedClock, InMemoryTelemetry
from infrastructure.memory.queue import InMemoryJobQueue
from infrastructure.memory.search import InMemoryChunkSearch
from infrastructure.memory.storage import InMemoryBlobStorage
from infrastructure.memory.text import ParagraphChunker, PlainUtf8Extractor

__all__ = [
    "FixedClock",
    "InMemoryBlobStorage",
    "InMemoryChunkSearch",
    "InMemoryDatabase",
    "InMemoryEmbeddingCache",
    "InMemoryFinishAnnouncements",
    "InMemoryHeldVectors",
    "InMemoryJobQueue",
    "InMemoryTelemetry",
    "InMemoryUnitOfWork",
    "ParagraphChunker",
    "PlainUtf8Extractor",
]
