"""The composition root sizes chunks with the token counter of the embedder they are for."""

from __future__ import annotations

from typing import Any

import pytest

from application.ports import Embedder, ExtractedText, TextSection
from bootstrap import build_chunker
from infrastructure.embeddings import HashingEmbedder, OpenAICompatibleEmbedder
from infrastructure.settings import load_settings
from tests.fixtures.defaults import http_defaults
from tests.fixtures.embeddings import EmbeddingServer

TEXT = " ".join(
    f"Interoperability of item {n} is undocumented; see https://example.org/items/{n}."
    for n in range(300)
)


def assert_chunks_counted_by(embedder: Embedder) -> None:
    settings = load_settings(chunk_max_tokens=64, chunk_overlap_tokens=8)
    chunker = build_chunker(settings, embedder)

    chunks = chunker.split(ExtractedText("text/plain", [TextSection(TEXT)]))

    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.token_count == embedder.token_counter.count(chunk.text) <= 64


def test_hashing_embedder() -> None:
    assert_chunks_counted_by(HashingEmbedder(dimension=32))


def test_openai_compatible_embedder(embedding_server: EmbeddingServer) -> None:
    embedder = OpenAICompatibleEmbedder(
        embedding_server.url, "hashing", dimension=32, **http_defaults()
    )
    try:
        assert_chunks_counted_by(embedder)
    finally:
        embedder.close()


@pytest.mark.semantic
def test_sentence_transformer_embedder(minilm_embedder: Any) -> None:
    """The model's wordpieces outnumber words and marks here, so a regex count would differ."""
    assert minilm_embedder.token_counter.count(TEXT) != HashingEmbedder(
        dimension=32
    ).token_counter.count(TEXT)
    assert_chunks_counted_by(minilm_embedder)
