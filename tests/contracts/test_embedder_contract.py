"""What every Embedder must do, run against each adapter."""

from __future__ import annotations

import math
from typing import Any

import pytest

from infrastructure.embeddings import HashingEmbedder, OpenAICompatibleEmbedder
from infrastructure.embeddings.openai_compatible import RequestLimits
from tests.fixtures.embedding_server import EmbeddingServer

TEXTS = [
    "The cat sat on the mat.",
    "Quarterly revenue grew by 12% in the third quarter.",
    "Pgvector stores embeddings next to the rows they describe.",
    "x",
]


class EmbedderContract:
    """Properties of the `Embedder` port. Subclasses provide the `adapter` fixture."""

    def test_returns_one_vector_of_the_dimension_per_text(self, adapter: Any) -> None:
        vectors = adapter.embed(TEXTS)

        assert len(vectors) == len(TEXTS)
        assert all(len(vector) == adapter.dimension for vector in vectors)

    def test_vectors_are_unit_length(self, adapter: Any) -> None:
        for vector in adapter.embed(TEXTS):
            assert math.sqrt(sum(float(x) * float(x) for x in vector)) == pytest.approx(1, abs=1e-4)

    def test_is_deterministic(self, adapter: Any) -> None:
        first, second = adapter.embed(TEXTS), adapter.embed(TEXTS)

        for a, b in zip(first, second, strict=True):
            assert list(map(float, a)) == pytest.approx(list(map(float, b)), abs=1e-5)

    def test_a_batch_equals_one_text_at_a_time(self, adapter: Any) -> None:
        batch = adapter.embed(TEXTS)
        single = [adapter.embed([text])[0] for text in TEXTS]

        for a, b in zip(batch, single, strict=True):
            assert list(map(float, a)) == pytest.approx(list(map(float, b)), abs=1e-4)

    def test_different_texts_get_different_vectors(self, adapter: Any) -> None:
        first, second = adapter.embed(TEXTS[:2])

        assert list(map(float, first)) != pytest.approx(list(map(float, second)), abs=1e-3)

    def test_nothing_to_embed_gives_nothing(self, adapter: Any) -> None:
        assert adapter.embed([]) == []

    def test_counts_tokens_of_non_empty_text(self, adapter: Any) -> None:
        count = adapter.token_counter.count
        assert count("Hello, world") > 0
        assert count(TEXTS[1]) > count(TEXTS[0]) / 2

    def test_model_id_names_the_dimension(self, adapter: Any) -> None:
        assert adapter.model_id.endswith(f":{adapter.dimension}")

    def test_input_limit_is_positive_or_absent(self, adapter: Any) -> None:
        assert adapter.max_input_tokens is None or adapter.max_input_tokens > 0


class TestHashingEmbedder(EmbedderContract):
    @pytest.fixture
    def adapter(self) -> HashingEmbedder:
        return HashingEmbedder(dimension=64)


class TestOpenAICompatibleEmbedder(EmbedderContract):
    @pytest.fixture
    def adapter(self, embedding_server: EmbeddingServer) -> OpenAICompatibleEmbedder:
        return OpenAICompatibleEmbedder(
            embedding_server.url,
            "hashing",
            dimension=32,
            limits=RequestLimits(max_inputs=3),
            timeout=30.0,
        )


@pytest.mark.semantic
class TestSentenceTransformerEmbedder(EmbedderContract):
    @pytest.fixture
    def adapter(self, minilm_embedder: Any) -> Any:
        return minilm_embedder
