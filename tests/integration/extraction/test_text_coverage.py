"""Real documentation files lose none of their text on the way to chunks: extracted by the
sniffing extractor and split by the real chunker (hashing embedder, default settings), every
non-whitespace character of a plain-text file reaches the chunks in order, and every one of a
Markdown file except its markup characters. Link targets are dropped by design, so a file made
mostly of links (pyyaml-README.md: 0.72) is not measured here."""

from __future__ import annotations

import pytest

from bootstrap.builders import build_chunker, build_embedder, build_extractor
from infrastructure.settings import load_settings
from tests.fixtures.files import read_data

PLAIN_TEXT = ("python-colorsys.rst.txt", "python-gc.rst.txt", "python-functools.rst.txt")
MARKDOWN = (
    "systemd-TRANSIENT-SETTINGS.md",
    "man-db-README.md",
    "libffi-README.md",
    "zstd-TESTING.md",
)
#: Characters Markdown uses as markup (emphasis, code spans, headings, links, tables, rules).
MARKUP = str.maketrans("", "", "`*_#>[]()|-=~+!")
SUFFICIENT = 0.995


def squeezed(text: str) -> str:
    return "".join(text.split())


def coverage(original: str, chunks: list[str], anchor: int = 8, window: int = 4096) -> float:
    """The share of `original`'s non-whitespace characters found in order in the chunks'.

    A sequential scan: a character that matches the chunks' next one counts; on a mismatch,
    the chunks' text is resynchronised, either by skipping up to 15 characters of the original
    that the chunks lack, or by skipping ahead in the chunks (an overlap repeating the previous
    chunk's end) to where the next `anchor` characters of the original are.
    """
    expected, found = squeezed(original), "".join(squeezed(chunk) for chunk in chunks)
    position = index = matched = 0
    while index < len(expected):
        if position < len(found) and found[position] == expected[index]:
            matched, position, index = matched + 1, position + 1, index + 1
            continue
        probe = found[position : position + anchor]
        skip = next(
            (d for d in range(1, 16) if expected[index + d : index + d + anchor] == probe), None
        )
        if skip is not None:
            index += skip
            continue
        ahead = found.find(expected[index : index + anchor], position, position + window)
        if ahead == -1:
            index += 1
        else:
            position = ahead
    return matched / len(expected)


def extracted_chunks(name: str) -> tuple[str, list[str]]:
    settings = load_settings()
    chunker = build_chunker(settings, build_embedder(settings))
    text = build_extractor(settings).extract(read_data(name), name)
    return text.media_type, [chunk.text for chunk in chunker.split(text)]


@pytest.mark.parametrize("name", PLAIN_TEXT)
def test_a_plain_text_file_reaches_its_chunks_whole(name: str) -> None:
    media_type, chunks = extracted_chunks(name)
    assert media_type == "text/plain"
    assert coverage(read_data(name).decode(), chunks) >= SUFFICIENT


@pytest.mark.parametrize("name", MARKDOWN)
def test_a_markdown_file_reaches_its_chunks_but_for_its_markup(name: str) -> None:
    media_type, chunks = extracted_chunks(name)
    assert media_type == "text/markdown"
    original = read_data(name).decode().translate(MARKUP)
    assert coverage(original, [chunk.translate(MARKUP) for chunk in chunks]) >= SUFFICIENT


def test_the_scan_counts_what_is_missing() -> None:
    assert coverage("a <N> b", ["a", "b"]) == pytest.approx(2 / 5)
    assert coverage("one two three four", ["one two", "two three four"]) == 1.0
