import pytest

from domain import Chunk, content_hash


def test_a_chunk_hashes_its_text_when_no_hash_is_given() -> None:
    chunk = Chunk(ordinal=0, text="hello", token_count=1)
    assert chunk.content_sha256 == content_hash("hello")
    assert chunk.content_sha256 != content_hash("hello ")


def test_a_negative_ordinal_is_refused() -> None:
    with pytest.raises(ValueError, match="ordinal"):
        Chunk(ordinal=-1, text="x", token_count=1)
