"""What every TextExtractor does with plain UTF-8 text; each extractor runs it as a subclass."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from application.errors import (
    DocumentTooLarge,
    EmptyDocument,
    NoExtractableText,
    UnsupportedMediaType,
)
from application.ports import ExtractedText, TextExtractor
from infrastructure.extraction import SniffingTextExtractor
from infrastructure.memory import PlainUtf8Extractor
from tests.fixtures.defaults import extraction_limits

MakeExtractor = Callable[[int], TextExtractor]
PROSE = (
    "The ingestion worker reads uploaded files.\n\n"
    "It splits their text into chunks — naïvely, at first — and embeds them.\n"
)


def words(extracted: ExtractedText) -> list[str]:
    return " ".join(section.text for section in extracted.sections).split()


class TextExtractorContract:
    @pytest.fixture
    def make_adapter(self) -> MakeExtractor:
        """A factory of the extractor under test, given its `max_chars` limit."""
        raise NotImplementedError

    @pytest.fixture
    def adapter(self, make_adapter: MakeExtractor) -> TextExtractor:
        return make_adapter(1_000_000)

    def test_text_round_trips(self, adapter: TextExtractor) -> None:
        extracted = adapter.extract(PROSE.encode(), "notes.txt")
        assert words(extracted) == PROSE.split()
        assert sum(len(s.text) for s in extracted.sections) >= len("".join(PROSE.split()))

    def test_an_untitled_text_is_named_by_its_filename(self, adapter: TextExtractor) -> None:
        assert adapter.extract(PROSE.encode(), "notes/ingestion plan.txt").title == "ingestion plan"

    def test_the_filename_is_optional(self, adapter: TextExtractor) -> None:
        assert words(adapter.extract(PROSE.encode())) == PROSE.split()

    def test_empty_bytes_are_an_empty_document(self, adapter: TextExtractor) -> None:
        with pytest.raises(EmptyDocument):
            adapter.extract(b"", "empty.txt")

    def test_whitespace_only_has_no_extractable_text(self, adapter: TextExtractor) -> None:
        with pytest.raises(NoExtractableText):
            adapter.extract(b" \n\t\r\n  \n", "blank.txt")

    def test_binary_with_nul_bytes_is_unsupported(self, adapter: TextExtractor) -> None:
        with pytest.raises(UnsupportedMediaType):
            adapter.extract(b"\x00\x01\x02binary\x00\xff" * 100, "data.txt")

    def test_text_past_max_chars_is_too_large(self, make_adapter: MakeExtractor) -> None:
        with pytest.raises(DocumentTooLarge, match="100"):
            make_adapter(100).extract(("word " * 100).encode(), "long.txt")

    def test_text_at_max_chars_is_fine(self, make_adapter: MakeExtractor) -> None:
        text = "x" * 100
        assert words(make_adapter(100).extract(text.encode(), "exact.txt")) == [text]


class TestPlainUtf8Extractor(TextExtractorContract):
    @pytest.fixture
    def make_adapter(self) -> MakeExtractor:
        return lambda max_chars: PlainUtf8Extractor(max_chars=max_chars)


class TestSniffingTextExtractor(TextExtractorContract):
    @pytest.fixture
    def make_adapter(self) -> MakeExtractor:
        return lambda max_chars: SniffingTextExtractor(
            limits=extraction_limits(max_chars=max_chars)
        )
