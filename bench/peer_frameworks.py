"""The peers' pipelines, as their documentation shows them, on the project's embedders.

- LlamaIndex: `SimpleDirectoryReader` (its default readers: pypdf for PDFs, docx2txt for DOCX,
  HTML read as text) -> `IngestionPipeline([SentenceSplitter, embedding])` -> `PGVectorStore`
  with an HNSW index (m 16, ef_construction 64), with 1 worker or N (reader and pipeline).
- LangChain: a community loader per file type (`PyPDFium2Loader` or `PyPDFLoader`,
  `BSHTMLLoader`, `Docx2txtLoader`, `TextLoader`) -> `RecursiveCharacterTextSplitter` ->
  langchain-postgres `PGVector`, added in batches (one `add_documents` call is one INSERT, and
  Postgres takes at most 65,535 parameters per statement).

langchain-community warns on import that it is being sunset; its loaders are still the ones
LangChain's documentation shows. Chunk sizes match the project's (256 tokens, 32 overlap;
LangChain counts characters, so 1,000 and 128). Imported only in the peer's own process
(`bench.peer_process`), with the peers' own virtualenv (`bench.peer_venv`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from langchain_core.documents import Document as LangChainDocument
from langchain_core.embeddings import Embeddings
from llama_index.core.embeddings import BaseEmbedding

from bench.peer_embedders import BATCH_SIZE, DIMENSION, vectors

CHUNK_TOKENS = 256
OVERLAP_TOKENS = 32
CHUNK_CHARACTERS = 1000
OVERLAP_CHARACTERS = 128
#: Chunks per `add_documents` call (well under the 65,535-parameter limit of one INSERT).
LANGCHAIN_BATCH = 1000
HNSW = {"m": 16, "ef_construction": 64}
LLAMA_INDEX_TABLE = "peer_llama_index"  # PGVectorStore stores it as data_<name>
LANGCHAIN_COLLECTION = "peer_langchain"


class ProjectEmbedding(BaseEmbedding):
    """LlamaIndex's embedding class over a project embedder (picklable for spawned workers)."""

    embedder_kind: str = "hashing"

    def _get_text_embedding(self, text: str) -> list[float]:
        return vectors(self.embedder_kind, [text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return vectors(self.embedder_kind, texts)

    def _get_query_embedding(self, query: str) -> list[float]:
        return vectors(self.embedder_kind, [query])[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


class ProjectEmbeddings(Embeddings):
    """LangChain's embedding class over a project embedder."""

    def __init__(self, kind: str) -> None:
        self._kind = kind

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return vectors(self._kind, texts)

    def embed_query(self, text: str) -> list[float]:
        return vectors(self._kind, [text])[0]


def llama_index_store(database_url: str) -> Any:
    """The PGVectorStore (creating its table and HNSW index when missing)."""
    from llama_index.vector_stores.postgres import PGVectorStore

    return PGVectorStore(
        connection_string=_driver(database_url, "psycopg2"),
        async_connection_string=_driver(database_url, "asyncpg"),
        table_name=LLAMA_INDEX_TABLE,
        embed_dim=DIMENSION,
        hnsw_kwargs={
            "hnsw_m": HNSW["m"],
            "hnsw_ef_construction": HNSW["ef_construction"],
            "hnsw_ef_search": 40,
            "hnsw_dist_method": "vector_cosine_ops",
        },
    )


def run_llama_index(directory: Path, database_url: str, kind: str, workers: int) -> dict[str, int]:
    from llama_index.core import SimpleDirectoryReader
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.node_parser import SentenceSplitter

    _offline_tokenizer()
    reader = SimpleDirectoryReader(input_dir=str(directory), recursive=True)
    documents = reader.load_data(num_workers=workers if workers > 1 else None)
    pipeline = IngestionPipeline(
        transformations=[
            SentenceSplitter(chunk_size=CHUNK_TOKENS, chunk_overlap=OVERLAP_TOKENS),
            ProjectEmbedding(
                embedder_kind=kind, model_name=f"project-{kind}", embed_batch_size=BATCH_SIZE
            ),
        ],
        vector_store=llama_index_store(database_url),
    )
    nodes = pipeline.run(documents=documents, num_workers=workers if workers > 1 else None)
    files = {str(d.metadata.get("file_path", d.doc_id)) for d in documents}
    return {"documents": len(files), "chunks": len(nodes)}


def _offline_tokenizer() -> None:
    """tiktoken's encoding from the copy llama-index-core ships, for its spawned workers too.

    The splitter finds that copy by itself in this process; a worker unpickling it asks tiktoken
    again, which would download the file (this machine is offline) and the pool would wait for
    ever for the worker that died of it. Online, tiktoken would fetch the same file once.
    """
    import llama_index.core

    bundled = Path(llama_index.core.__file__).parent / "_static" / "tiktoken_cache"
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(bundled))


def langchain_store(database_url: str, kind: str) -> Any:
    """The PGVector store (creating its tables and collection when missing)."""
    from langchain_postgres import PGVector

    return PGVector(
        embeddings=ProjectEmbeddings(kind),
        collection_name=LANGCHAIN_COLLECTION,
        connection=_driver(database_url, "psycopg"),
        embedding_length=DIMENSION,
        use_jsonb=True,
    )


def run_langchain(directory: Path, database_url: str, kind: str, pdf_loader: str) -> dict[str, int]:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=CHUNK_CHARACTERS, chunk_overlap=OVERLAP_CHARACTERS
    )
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    pages: list[LangChainDocument] = []
    for path in files:
        pages.extend(_langchain_loader(path, pdf_loader).load())
    chunks = splitter.split_documents(pages)
    store = langchain_store(database_url, kind)
    for start in range(0, len(chunks), LANGCHAIN_BATCH):
        store.add_documents(chunks[start : start + LANGCHAIN_BATCH])
    return {"documents": len(files), "chunks": len(chunks)}


def _langchain_loader(path: Path, pdf_loader: str) -> Any:
    from langchain_community.document_loaders import (
        BSHTMLLoader,
        Docx2txtLoader,
        PyPDFium2Loader,
        PyPDFLoader,
        TextLoader,
    )

    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return PyPDFium2Loader(str(path)) if pdf_loader == "pypdfium2" else PyPDFLoader(str(path))
    if suffix in (".html", ".htm"):
        return BSHTMLLoader(str(path), open_encoding="utf-8")
    if suffix == ".docx":
        return Docx2txtLoader(str(path))
    return TextLoader(str(path), autodetect_encoding=True)


def _driver(database_url: str, driver: str) -> str:
    from sqlalchemy import make_url

    url = make_url(database_url).set(drivername=f"postgresql+{driver}")
    return url.render_as_string(hide_password=False)


def set_up(framework: str, database_url: str, kind: str) -> None:
    """The framework's tables, with the HNSW index, created before any timed run."""
    if framework == "llamaindex":
        llama_index_store(database_url)._initialize()
        return
    langchain_store(database_url, kind)
    import psycopg

    with psycopg.connect(_driver(database_url, "psycopg").replace("+psycopg", "")) as connection:
        connection.execute(
            "CREATE INDEX IF NOT EXISTS ix_peer_langchain_embedding ON langchain_pg_embedding"
            " USING hnsw (embedding vector_cosine_ops)"
            f" WITH (m = {HNSW['m']}, ef_construction = {HNSW['ef_construction']})"
        )
