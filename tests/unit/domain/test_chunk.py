import pytest

from domain import Chunk, content_hash, context_line


def test_a_chunk_hashes_its_text_when_no_hash_is_given() -> None:
    chunk = Chunk(ordinal=0, text="hello", token_count=1)
    assert chunk.content_sha256 == content_hash("hello")
    assert chunk.content_sha256 != content_hash("hello ")


def test_a_negative_ordinal_is_refused() -> None:
    with pytest.raises(ValueError, match="ordinal"):
        Chunk(ordinal=-1, text="x", token_count=1)


def test_the_context_line_names_the_title_once_then_the_headings() -> None:
    assert context_line("Guide", ["Guide", "Install"]) == "Guide › Install"
    assert context_line("Guide", ["Install", "Linux"]) == "Guide › Install › Linux"
    assert context_line(None, ["Install"]) == "Install"
    assert context_line("", []) == ""


def test_a_chunk_with_context_is_keyed_by_what_is_embedded() -> None:
    plain = Chunk(ordinal=0, text="hello", token_count=1)
    placed = Chunk(ordinal=0, text="hello", token_count=1, context="Guide › Intro")

    assert placed.embedded_text == "Guide › Intro\nhello"
    assert placed.embedded_sha256 == content_hash("Guide › Intro\nhello")
    assert placed.content_sha256 == plain.content_sha256 == plain.embedded_sha256
