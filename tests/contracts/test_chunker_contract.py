"""What every Chunker must do, run against each adapter."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest

from application.ports import ExtractedText, TextSection
from domain import Chunk
from infrastructure.chunking import RecursiveTokenChunker
from infrastructure.embeddings import RegexTokenCounter
from infrastructure.memory import ParagraphChunker

_SPACE = re.compile(r"\s+")

PROSE = " ".join(
    f"Sentence number {n} talks about topic {n % 7}, and then it ends." for n in range(120)
)


def squeeze(text: str) -> str:
    """`text` without any whitespace."""
    return _SPACE.sub("", text)


def overlaps(expected: str, chunks: Sequence[Chunk]) -> list[int]:
    """Checks that chunks are windows onto `expected` (a text without whitespace), in order.

    Precisely: with `s_i` chunk i's text without whitespace, there are overlaps `k_i` (`k_0 = 0`,
    `0 <= k_i < len(s_i)`, `k_i <= len(s_{i-1})`) such that `s_0[k_0:] + s_1[k_1:] + ...` equals
    `expected` and each `s_i[:k_i]` is the end of what came before. The smallest such `k_i` are
    returned (the smallest at each step among the ways that reach the end: repetitive text can be
    read several ways); an AssertionError says where the chunks stop matching.
    """
    reachable: dict[int, list[int]] = {0: []}
    previous = ""
    for chunk in chunks:
        piece = squeeze(chunk.text)
        assert piece, f"chunk {chunk.ordinal} holds only whitespace"
        longest = min(len(previous), len(piece) - 1)
        following: dict[int, list[int]] = {}
        for position, found in sorted(reachable.items()):
            for k in range(longest + 1):
                if expected[position - k : position - k + len(piece)] == piece:
                    following.setdefault(position + len(piece) - k, [*found, k])
        assert following, f"chunk {chunk.ordinal} does not continue the text at {min(reachable)}"
        reachable = following
        previous = piece
    assert len(expected) in reachable, "the chunks stop before the end of the text"
    return reachable[len(expected)]


def document(*sections: TextSection) -> ExtractedText:
    return ExtractedText("text/plain", sections)


class ChunkerContract:
    """Properties of the `Chunker` port. Subclasses provide the `adapter` fixture."""

    def test_ordinals_run_from_zero(self, adapter: Any) -> None:
        chunks = adapter.split(document(TextSection(PROSE, page=1), TextSection(PROSE, page=2)))

        assert len(chunks) > 1
        assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))

    @pytest.mark.parametrize("blank", ["", " ", "\n\n \t\n", "\f\u00a0\u2003"])
    def test_whitespace_gives_no_chunks(self, adapter: Any, blank: str) -> None:
        assert adapter.split(document(TextSection(blank, page=1), TextSection(blank))) == []

    def test_no_sections_gives_no_chunks(self, adapter: Any) -> None:
        assert adapter.split(document()) == []

    def test_every_non_whitespace_character_lands_in_order(self, adapter: Any) -> None:
        text = "Title\n\n" + PROSE + "\n\nA closing line.\nAnother one, with ünïcode — and 数字 12."

        overlaps(squeeze(text), adapter.split(document(TextSection(text))))

    def test_chunks_carry_their_page_and_heading_path(self, adapter: Any) -> None:
        chunks = adapter.split(
            document(
                TextSection("Alpha words here.", page=1, heading_path=("Intro",)),
                TextSection("Beta words here.", page=2, heading_path=("Intro", "Details")),
            )
        )

        by_word = {chunk.text.split()[0]: chunk for chunk in chunks}
        assert (by_word["Alpha"].page_start, by_word["Alpha"].page_end) == (1, 1)
        assert by_word["Alpha"].metadata["headings"] == ["Intro"]
        assert (by_word["Beta"].page_start, by_word["Beta"].page_end) == (2, 2)
        assert by_word["Beta"].metadata["headings"] == ["Intro", "Details"]

    def test_sections_without_pages_give_chunks_without_pages(self, adapter: Any) -> None:
        (chunk,) = adapter.split(document(TextSection("Just a line.")))

        assert (chunk.page_start, chunk.page_end) == (None, None)
        assert chunk.metadata["headings"] == []

    def test_chunks_count_their_tokens_and_hash_their_text(self, adapter: Any) -> None:
        for chunk in adapter.split(document(TextSection(PROSE))):
            assert chunk.token_count > 0
            assert chunk.text == chunk.text.strip()
            assert len(chunk.content_sha256) == 64


class TestParagraphChunker(ChunkerContract):
    @pytest.fixture
    def adapter(self) -> ParagraphChunker:
        return ParagraphChunker(max_words=40)


class TestRecursiveTokenChunker(ChunkerContract):
    @pytest.fixture
    def adapter(self) -> RecursiveTokenChunker:
        return RecursiveTokenChunker(
            max_tokens=48, overlap_tokens=8, token_counter=RegexTokenCounter(), embed_context=True
        )


class TestRecursiveTokenChunkerWithTheModelTokenizer(ChunkerContract):
    @pytest.fixture
    def adapter(self, minilm_counter: Any) -> RecursiveTokenChunker:
        return RecursiveTokenChunker(
            max_tokens=48, overlap_tokens=8, token_counter=minilm_counter, embed_context=True
        )
