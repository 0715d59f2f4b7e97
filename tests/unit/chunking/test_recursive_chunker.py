"""Properties of the token-aware recursive chunker, checked on generated documents."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from application.ports import ExtractedText, TextSection
from domain import Chunk
from infrastructure.chunking import RecursiveTokenChunker
from infrastructure.embeddings import HashingEmbedder, HuggingFaceTokenCounter, RegexTokenCounter
from infrastructure.embeddings.tokens import WORD_PIECE_CHARS
from tests.contracts.test_chunker_contract import overlaps, squeeze

REGEX = RegexTokenCounter()
_TOKEN = re.compile(rf"\w{{1,{WORD_PIECE_CHARS}}}|[^\w\s]")
_WORD = re.compile(r"w\d+")

separators = st.sampled_from([" ", " ", " ", ". ", ", ", "\n", "\n\n", "\n \n\t", "! ", "; "])


@st.composite
def numbered_sections(draw: st.DrawFn) -> list[TextSection]:
    """Sections whose words `w<n>` are unique, so every word's place is known."""
    sections: list[TextSection] = []
    counter = 0
    headings = [(), ("A",), ("A", "B")]
    for _ in range(draw(st.integers(1, 4))):
        parts: list[str] = []
        for _ in range(draw(st.integers(0, 60))):
            parts.append(f"w{counter}")
            parts.append(draw(separators))
            counter += 1
        sections.append(
            TextSection(
                "".join(parts),
                page=draw(st.none() | st.integers(1, 9)),
                heading_path=draw(st.sampled_from(headings)),
            )
        )
    return sections


sizes = st.tuples(st.integers(2, 40), st.integers(0, 12)).filter(lambda s: s[1] < s[0])


def tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def chunk(sections: list[TextSection], max_tokens: int, overlap: int) -> list[Chunk]:
    chunker = RecursiveTokenChunker(
        max_tokens=max_tokens, overlap_tokens=overlap, token_counter=REGEX, embed_context=False
    )
    return chunker.split(ExtractedText("text/plain", list(sections)))  # a copy: split empties it


def runs(sections: list[TextSection]) -> list[tuple[tuple[str, ...], str]]:
    """Consecutive sections with one heading path, as (path, text without whitespace); a blank
    section in between, whatever its heading, holds nothing that could separate them."""
    grouped: list[tuple[tuple[str, ...], str]] = []
    for section in sections:
        if not squeeze(section.text):
            continue
        if grouped and grouped[-1][0] == section.heading_path:
            grouped[-1] = (section.heading_path, grouped[-1][1] + squeeze(section.text))
        else:
            grouped.append((section.heading_path, squeeze(section.text)))
    return [(path, text) for path, text in grouped if text]


@settings(max_examples=150, deadline=None)
@given(numbered_sections(), sizes)
def test_no_chunk_exceeds_the_budget_and_counts_are_exact(
    sections: list[TextSection], size: tuple[int, int]
) -> None:
    for piece in chunk(sections, *size):
        assert piece.token_count == tokens(piece.text) <= size[0]


@settings(max_examples=150, deadline=None)
@given(numbered_sections(), sizes)
def test_every_character_lands_in_order_within_its_heading(
    sections: list[TextSection], size: tuple[int, int]
) -> None:
    chunks = chunk(sections, *size)

    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    position = 0
    for path, text in runs(sections):
        group = []
        while position < len(chunks) and tuple(chunks[position].metadata["headings"]) == path:
            group.append(chunks[position])
            position += 1
        overlaps(text, group)
    assert position == len(chunks)


@settings(max_examples=150, deadline=None)
@given(numbered_sections(), sizes)
def test_each_chunk_starts_with_at_most_the_overlap_of_the_previous(
    sections: list[TextSection], size: tuple[int, int]
) -> None:
    max_tokens, overlap = size
    chunks = chunk(sections, max_tokens, overlap)

    for previous, current in zip(chunks, chunks[1:], strict=False):
        before, now = _WORD.findall(previous.text), _WORD.findall(current.text)
        shared = [w for w in now if w in before]
        assert shared == now[: len(shared)]
        assert shared == before[len(before) - len(shared) :]
        if shared:
            tail = previous.text[previous.text.index(shared[0]) :]
            assert current.text.startswith(tail)
            assert tokens(tail) <= overlap
            assert previous.metadata == current.metadata


@settings(max_examples=150, deadline=None)
@given(numbered_sections(), sizes)
def test_page_spans_cover_the_pages_of_the_words(
    sections: list[TextSection], size: tuple[int, int]
) -> None:
    page_of = {word: s.page for s in sections for word in _WORD.findall(s.text)}

    for piece in chunk(sections, *size):
        words = _WORD.findall(piece.text)
        pages = [page_of[w] for w in words if page_of[w] is not None]
        if words:
            span = (min(pages), max(pages)) if pages else (None, None)
            assert (piece.page_start, piece.page_end) == span


def test_overlap_is_added_when_configured() -> None:
    text = " ".join(f"w{n}" for n in range(200))

    chunks = chunk([TextSection(text)], 20, 5)

    assert all(c.token_count == 20 for c in chunks[1:-1])
    assert all(_WORD.findall(c.text)[0] in b.text for b, c in zip(chunks, chunks[1:], strict=False))


def test_structure_decides_where_chunks_end() -> None:
    paragraphs = ["one two three. four five six.", "seven eight nine.", "ten eleven twelve."]

    chunks = chunk([TextSection("\n\n".join(paragraphs))], 9, 0)

    assert [c.text for c in chunks] == [paragraphs[0], paragraphs[1] + "\n\n" + paragraphs[2]]


def test_a_heading_before_a_paragraph_too_long_for_the_budget_leads_into_it() -> None:
    paragraph = " ".join(f"w{n}." for n in range(30))

    chunks = chunk([TextSection("Heading\n\n" + paragraph + "\n\nw30 w31.")], 32, 0)

    assert chunks[0].text.startswith("Heading\n\nw0.")
    assert chunks[-1].text.endswith("w31.")
    assert all(c.token_count <= 32 for c in chunks)


def test_a_paragraph_of_more_than_an_eighth_of_the_budget_stays_a_chunk_of_its_own() -> None:
    lead = "l1 l2 l3 l4 l5."
    paragraph = " ".join(f"w{n}." for n in range(30))

    chunks = chunk([TextSection(lead + "\n\n" + paragraph)], 32, 0)

    assert chunks[0].text == lead


def test_a_word_longer_than_the_budget_is_cut_at_token_boundaries() -> None:
    chunks = chunk([TextSection("start " + "-" * 25 + " end")], 10, 0)

    assert [c.token_count for c in chunks] == [1, 10, 10, 5, 1]
    assert "".join(c.text.replace(" ", "") for c in chunks) == "start" + "-" * 25 + "end"


def test_a_run_of_letters_counts_one_token_per_word_piece() -> None:
    assert REGEX.count("a" * WORD_PIECE_CHARS) == 1
    assert REGEX.count("a" * (WORD_PIECE_CHARS + 1)) == 2
    assert REGEX.count("x" * 9_000_000) == -(-9_000_000 // WORD_PIECE_CHARS)


def test_a_nine_megabyte_line_becomes_chunks_within_the_budget() -> None:
    line = "é" * 9_000_000

    chunks = chunk([TextSection(line)], 512, 0)

    assert max(c.token_count for c in chunks) <= 512
    assert max(len(c.text) for c in chunks) <= 512 * WORD_PIECE_CHARS
    assert "".join(c.text for c in chunks) == line


long_words = st.lists(
    st.text(alphabet="aé_9", min_size=1, max_size=400)
    | st.sampled_from([" ", " ", "\n\n", ". ", "-", "w1 w2"]),
    min_size=1,
    max_size=30,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(long_words, sizes)
def test_long_words_are_cut_so_every_chunk_fits_and_every_character_lands_in_order(
    text: str, size: tuple[int, int]
) -> None:
    chunks = chunk([TextSection(text)], *size)

    for piece in chunks:
        assert piece.token_count == tokens(piece.text) <= size[0]
    if squeeze(text):
        overlaps(squeeze(text), chunks)
    else:
        assert chunks == []


@pytest.mark.parametrize(("max_tokens", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_rejects_impossible_sizes(max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        RecursiveTokenChunker(
            max_tokens=max_tokens, overlap_tokens=overlap, token_counter=REGEX, embed_context=False
        )


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_the_regex_counter_agrees_with_the_hashing_embedder(text: str) -> None:
    spans = REGEX.token_spans(text)

    assert len(spans) == HashingEmbedder(dimension=384).token_counter.count(text) == tokens(text)
    found = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
    assert list(zip(spans.starts.tolist(), spans.ends.tolist(), strict=True)) == found


@settings(max_examples=300, deadline=None)
@given(st.text(), st.integers(min_value=1, max_value=9))
def test_the_regex_counter_gives_the_same_spans_block_by_block(text: str, block: int) -> None:
    spans = RegexTokenCounter(block_chars=block).token_spans(text)

    found = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
    assert list(zip(spans.starts.tolist(), spans.ends.tolist(), strict=True)) == found


english = st.lists(
    st.sampled_from(
        ["the", "tokenizer", "splits", "unbelievably", "interoperable", "configuration", "words"]
        + ["into", "pieces", ",", ".", "!", "naïve", "café", "東京", "42", "x"]
    )
    | st.sampled_from(["\n", "\n\n"]),
    max_size=300,
).map(" ".join)


@settings(max_examples=60, deadline=None)
@given(english, st.integers(8, 40), st.integers(0, 7))
def test_with_the_model_tokenizer_no_chunk_exceeds_the_budget(
    minilm_counter: HuggingFaceTokenCounter, text: str, max_tokens: int, overlap: int
) -> None:
    """Exact as long as no word is longer than the budget (a longer one is cut inside)."""
    chunker = RecursiveTokenChunker(
        max_tokens=max_tokens,
        overlap_tokens=overlap,
        token_counter=minilm_counter,
        embed_context=False,
    )

    chunks = chunker.split(ExtractedText("text/plain", [TextSection(text)]))

    for piece in chunks:
        assert piece.token_count == minilm_counter.count(piece.text) <= max_tokens
    overlaps(squeeze(text), chunks)


def test_the_model_tokenizer_counts_long_text_as_a_whole(
    minilm_counter: HuggingFaceTokenCounter,
) -> None:
    line = "Interoperability, unbelievably, matters.\n"
    text = line * 2000

    assert len(minilm_counter.token_spans(text)) == minilm_counter.count(line) * 2000


def contextual(max_tokens: int, overlap: int) -> RecursiveTokenChunker:
    return RecursiveTokenChunker(
        max_tokens=max_tokens, overlap_tokens=overlap, token_counter=REGEX, embed_context=True
    )


def titled(title: str | None, *sections: TextSection) -> ExtractedText:
    return ExtractedText("text/markdown", sections, title=title)


def test_each_chunk_embeds_its_title_and_heading_path_before_its_text() -> None:
    text = titled(
        "Admin guide",
        TextSection("Run the installer.", heading_path=("Admin guide", "Install")),
        TextSection("Edit the file.", heading_path=("Admin guide", "Install", "Configure")),
    )

    first, second = contextual(64, 8).split(text)

    assert (first.text, first.context) == ("Run the installer.", "Admin guide › Install")
    assert second.context == "Admin guide › Install › Configure"
    assert second.embedded_text == "Admin guide › Install › Configure\nEdit the file."


@given(numbered_sections(), sizes, st.sampled_from(["T", "A long document title", None]))
@settings(max_examples=150, deadline=None)
def test_the_embedded_text_fits_the_budget_and_the_content_stays_whole(
    sections: list[TextSection], size: tuple[int, int], title: str | None
) -> None:
    max_tokens, overlap = size
    text = titled(title, *sections)

    chunks = contextual(max_tokens, overlap).split(text)

    for chunk in chunks:
        assert REGEX.count(chunk.embedded_text) <= max_tokens
        assert not chunk.context or chunk.embedded_text.startswith(chunk.context + "\n")
    expected = squeeze("".join(section.text for section in sections))
    if expected:
        overlaps(expected, chunks)


def test_a_context_longer_than_half_the_budget_is_cut_to_that_half() -> None:
    headings = tuple(f"Heading number {n}" for n in range(20))
    text = titled("Title", TextSection("Body words here.", heading_path=headings))

    (chunk,) = contextual(40, 0).split(text)

    assert chunk.context.startswith("Title › Heading number 0")
    assert REGEX.count(chunk.context + "\n") <= 20
    assert chunk.text == "Body words here."


def test_without_context_the_embedded_text_is_the_text() -> None:
    text = titled("Title", TextSection("Body.", heading_path=("Part",)))

    (chunk,) = chunk_with(text, embed_context=False)

    assert (chunk.context, chunk.embedded_text) == ("", "Body.")
    assert chunk.embedded_sha256 == chunk.content_sha256


def chunk_with(text: ExtractedText, *, embed_context: bool) -> list[Chunk]:
    chunker = RecursiveTokenChunker(
        max_tokens=32, overlap_tokens=4, token_counter=REGEX, embed_context=embed_context
    )
    return chunker.split(text)


def test_sections_in_a_list_are_let_go_as_they_are_chunked_and_a_long_run_is_cut() -> None:
    paragraph = "A sentence of several words here.\n\n" * 20_000  # 700,000 characters
    listed = [TextSection(paragraph, page=1), TextSection(paragraph, page=2)]
    held = tuple(listed)
    chunker = RecursiveTokenChunker(
        max_tokens=40, overlap_tokens=8, token_counter=REGEX, embed_context=False
    )

    from_list = chunker.split(ExtractedText("text/plain", listed))
    from_tuple = chunker.split(ExtractedText("text/plain", held))

    assert (listed, len(held)) == ([], 2)
    assert from_list == from_tuple
    # Together the pages pass a million characters: they are chunked apart, no chunk spans both.
    assert all(c.page_start == c.page_end for c in from_list)
    assert {c.page_start for c in from_list} == {1, 2}
