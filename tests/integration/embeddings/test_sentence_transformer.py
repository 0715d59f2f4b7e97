"""The sentence-transformers embedder with the bundled all-MiniLM-L6-v2 weights, offline."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from application.ports import ExtractedText, TextSection
from infrastructure.chunking import RecursiveTokenChunker
from infrastructure.embeddings import bundled_minilm_path


def cosine(a: Any, b: Any) -> float:
    return sum(float(x) * float(y) for x, y in zip(a, b, strict=True))


def test_importing_the_embedders_does_not_import_torch() -> None:
    code = (
        "import sys, infrastructure.embeddings, infrastructure.chunking; "
        "sys.exit(int('torch' in sys.modules or 'sentence_transformers' in sys.modules))"
    )

    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_bundled_model_is_found(minilm_path: str) -> None:
    assert minilm_path == bundled_minilm_path()
    assert (Path(minilm_path) / "modules.json").is_file()


def test_a_missing_model_directory_fails_at_construction(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    from infrastructure.embeddings import SentenceTransformerEmbedder

    with pytest.raises(FileNotFoundError, match="no sentence-transformers model"):
        SentenceTransformerEmbedder(str(tmp_path / "absent"), batch_size=16)


@pytest.mark.semantic
def test_similar_meanings_land_closer(minilm_embedder: Any) -> None:
    cat, kitten, revenue = minilm_embedder.embed(
        ["A cat sat on the mat.", "A kitten rested on the rug.", "Quarterly revenue grew 12%."]
    )

    assert cosine(cat, kitten) > cosine(cat, revenue) + 0.2


@pytest.mark.semantic
def test_describes_the_model_and_its_input_limit(minilm_embedder: Any) -> None:
    assert minilm_embedder.model_id == "sentence-transformers/all-MiniLM-L6-v2:384"
    assert minilm_embedder.dimension == 384
    assert minilm_embedder.max_input_tokens == 254
    assert minilm_embedder.token_counter.count("unbelievable tokenizers") > 2


@pytest.mark.semantic
def test_chunks_sized_with_its_tokenizer_fit_its_limit(minilm_embedder: Any) -> None:
    chunker = RecursiveTokenChunker(
        max_tokens=minilm_embedder.max_input_tokens,
        overlap_tokens=32,
        token_counter=minilm_embedder.token_counter,
        embed_context=False,
    )
    text = " ".join(f"Interoperability of item {n} is undocumented." for n in range(400))

    chunks = chunker.split(ExtractedText("text/plain", [TextSection(text)]))

    assert len(chunks) > 3
    for chunk in chunks:
        assert minilm_embedder.token_counter.count(chunk.text) == chunk.token_count
        assert chunk.token_count <= minilm_embedder.max_input_tokens
    vectors = minilm_embedder.embed([chunk.text for chunk in chunks[:2]])
    assert all(math.isclose(cosine(v, v), 1.0, abs_tol=1e-4) for v in vectors)
