"""The hand-written baseline: what a first version of this worker usually looks like.

One RQ job per document: read the file, extract text with pypdf (PDF), python-docx (DOCX) or the
standard library's HTML parser, split it with LangChain's `RecursiveCharacterTextSplitter`
(1,000 characters, 200 overlap), embed with the same hashing embedder as the project, and store
each chunk through the SQLAlchemy ORM (`add_all`, one commit) in its own simple table with a
pgvector column (and the same HNSW cosine index the project's table has).
"""

from __future__ import annotations

import os
import uuid
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path

from pgvector.sqlalchemy import Vector
from sqlalchemy import BigInteger, ForeignKey, Index, Integer, Text, create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

BASELINE_JOB = "bench.baseline.ingest_document"
DATABASE_URL_VARIABLE = "BASELINE_DATABASE_URL"
DIMENSION = 384


class Base(DeclarativeBase):
    pass


class BaselineDocument(Base):
    __tablename__ = "bench_baseline_documents"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="queued")
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)


class BaselineChunk(Base):
    __tablename__ = "bench_baseline_chunks"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bench_baseline_documents.id"))
    ordinal: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    embedding = mapped_column(Vector(DIMENSION))

    __table_args__ = (
        Index(
            "ix_bench_baseline_chunks_embedding",
            "embedding",
            postgresql_using="hnsw",
            postgresql_ops={"embedding": "vector_cosine_ops"},
        ),
    )


_engine: Engine | None = None


def create_tables(database_url: str) -> None:
    engine = create_engine(_driver_url(database_url))
    with engine.begin() as connection:
        connection.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
    Base.metadata.create_all(engine)
    engine.dispose()


def ingest_document(document_id: str, path: str) -> int:
    """The baseline job: extract, split, embed and store one document; returns its chunk count."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from infrastructure.embeddings.hashing import HashingEmbedder

    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    pieces = splitter.split_text(_extract(Path(path)))
    vectors = HashingEmbedder(dimension=DIMENSION).embed(pieces)
    with Session(_get_engine()) as session:
        session.add_all(
            BaselineChunk(document_id=uuid.UUID(document_id), ordinal=n, content=t, embedding=v)
            for n, (t, v) in enumerate(zip(pieces, vectors, strict=True))
        )
        document = session.get(BaselineDocument, uuid.UUID(document_id))
        if document is not None:
            document.status = "ready"
            document.chunk_count = len(pieces)
        session.commit()
    return len(pieces)


def preload() -> None:
    """Import what the job uses in the worker's parent, so work horses do not import it again."""
    import docx  # noqa: F401
    import langchain_text_splitters  # noqa: F401
    import pypdf  # noqa: F401

    import infrastructure.embeddings.hashing  # noqa: F401


def _extract(path: Path) -> str:
    data = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        from pypdf import PdfReader

        return "\n".join(page.extract_text() or "" for page in PdfReader(BytesIO(data)).pages)
    if suffix == ".docx":
        from docx import Document

        return "\n\n".join(p.text for p in Document(BytesIO(data)).paragraphs)
    decoded = data.decode("utf-8", errors="replace")
    return _html_text(decoded) if suffix in (".html", ".htm") else decoded


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("script", "style"):
            self._skipping += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _html_text(html: str) -> str:
    collector = _TextCollector()
    collector.feed(html)
    return "".join(collector.parts)


def _get_engine() -> Engine:
    global _engine
    if _engine is None:
        _engine = create_engine(_driver_url(os.environ[DATABASE_URL_VARIABLE]))
    return _engine


def _driver_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
