"""A complete in-memory world for the ingestion use cases, with seams to break each stage."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from application.ports import Chunker, Embedder, ExtractedText, TextExtractor, TokenCounter
from application.retry_policy import RetryPolicy
from application.usecases.ingestion import (
    ProcessDocument,
    ProcessUploadedDocument,
    RecoverAbandonedWork,
    SubmitDocument,
    SubmitUpload,
)
from domain import Chunk, Document, Vector
from infrastructure.embeddings.hashing import HashingEmbedder
from infrastructure.memory import (
    FixedClock,
    InMemoryBlobStorage,
    InMemoryDatabase,
    InMemoryEmbeddingCache,
    InMemoryHeldVectors,
    InMemoryJobQueue,
    InMemoryTelemetry,
    ParagraphChunker,
    PlainUtf8Extractor,
)
from tests.fixtures.defaults import DEFAULTS


class BreakableExtractor(TextExtractor):
    def __init__(self) -> None:
        self.inner = PlainUtf8Extractor(max_chars=DEFAULTS.max_chars)
        self.error: Exception | None = None
        self.calls = 0

    def extract(
        self, data: bytes, filename: str | None = None, declared_media_type: str | None = None
    ) -> ExtractedText:
        self.calls += 1
        if self.error:
            raise self.error
        return self.inner.extract(data, filename)


class BreakableChunker(Chunker):
    def __init__(self) -> None:
        self.inner = ParagraphChunker(max_words=8)
        self.error: Exception | None = None

    def split(self, text: ExtractedText) -> list[Chunk]:
        if self.error:
            raise self.error
        return self.inner.split(text)


class CountingEmbedder(Embedder):
    """The hashing embedder, counting the texts it is asked to embed; can be made to fail."""

    def __init__(self, dimension: int = 32) -> None:
        self.inner = HashingEmbedder(dimension=dimension)
        self.embedded_texts: list[str] = []
        #: The texts of every call, in order, and those of the call under way.
        self.asked: list[list[str]] = []
        self.pending: list[str] = []
        self.error: Exception | None = None
        self.on_embed: Callable[[], None] | None = None

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def max_input_tokens(self) -> int | None:
        return None

    @property
    def token_counter(self) -> TokenCounter:
        return self.inner.token_counter

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        self.pending = list(texts)
        self.asked.append(self.pending)
        if self.on_embed:
            self.on_embed()
        if self.error:
            raise self.error
        self.embedded_texts.extend(texts)
        return self.inner.embed(texts)


@dataclass
class World:
    db: InMemoryDatabase = field(default_factory=lambda: InMemoryDatabase(dimension=32))
    storage: InMemoryBlobStorage = field(default_factory=InMemoryBlobStorage)
    queue: InMemoryJobQueue = field(default_factory=InMemoryJobQueue)
    clock: FixedClock = field(default_factory=FixedClock)
    telemetry: InMemoryTelemetry = field(default_factory=InMemoryTelemetry)
    extractor: BreakableExtractor = field(default_factory=BreakableExtractor)
    chunker: BreakableChunker = field(default_factory=BreakableChunker)
    embedder: CountingEmbedder = field(default_factory=CountingEmbedder)
    held_vectors: InMemoryHeldVectors = field(default_factory=InMemoryHeldVectors)
    workspace_id: UUID = field(default_factory=uuid4)
    max_file_bytes: int = 1_000_000
    max_attempts: int = 3

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.max_attempts, backoff=(1,))

    def process_use_case(self) -> ProcessUploadedDocument:
        return ProcessUploadedDocument(
            uow_factory=self.db.unit_of_work,
            storage=self.storage,
            extractor=self.extractor,
            chunker=self.chunker,
            embedder=self.embedder,
            embedding_cache=InMemoryEmbeddingCache(self.db),
            held_vectors=self.held_vectors,
            clock=self.clock,
            telemetry=self.telemetry,
            max_file_bytes=self.max_file_bytes,
            retry_policy=self.retry_policy,
        )

    def submit_use_case(self) -> SubmitDocument:
        return SubmitDocument(
            uow_factory=self.db.unit_of_work,
            storage=self.storage,
            queue=self.queue,
            clock=self.clock,
            max_file_bytes=self.max_file_bytes,
        )

    def submit(self, text: str | bytes, filename: str = "notes.txt") -> Document:
        data = text.encode() if isinstance(text, str) else text
        return self.submit_use_case()(SubmitUpload(self.workspace_id, filename, data))

    def process(self, document: Document, workspace_id: UUID | None = None) -> object:
        command = ProcessDocument(document.id, workspace_id or self.workspace_id)
        return self.process_use_case()(command)

    def stored(self, document: Document) -> Document:
        return self.db.documents[document.id]


@pytest.fixture
def world() -> World:
    return World()


SAMPLE = (
    "Pgvector stores embeddings next to the rows they describe.\n\n"
    "Chunks are written in one transaction so readers never see half a document.\n\n"
    "The hashing embedder is deterministic and needs no network at all."
)


#: The processing lease the recovery use cases are built with.
LEASE = timedelta(minutes=10)


def recover(world: World, interval: timedelta = timedelta(0)) -> RecoverAbandonedWork:
    """The recovery use case; with no `interval`, every pass has the recovery turn."""
    return RecoverAbandonedWork(
        uow_factory=world.db.unit_of_work,
        queue=world.queue,
        clock=world.clock,
        lease=LEASE,
        interval=interval,
        retry_policy=world.retry_policy,
        batch_size=100,
    )
