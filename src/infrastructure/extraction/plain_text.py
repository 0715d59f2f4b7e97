"""Plain text in any encoding charset_normalizer can recognise."""

from __future__ import annotations

from application.ports import ExtractedText, TextExtractor
from infrastructure.extraction import media_types
from infrastructure.extraction.limits import ExtractionLimits, SectionBuilder, check_input
from infrastructure.extraction.text_decoding import text_pieces


class PlainTextExtractor(TextExtractor):
    """The text as sections of form-feed-separated pages; a page of more than 64 KiB is several
    sections (of the same page), cut at blank lines.

    The text is decoded a piece at a time (`text_pieces`), so a large file is never held as
    bytes and as a whole decoded text at once, and past `max_chars` nothing more is decoded.

    The encoding comes from a BOM (or UTF-16's NUL pattern), else strict UTF-8, else
    charset_normalizer; it is never assumed. Raises `UnsupportedMediaType` for binary bytes or
    text in no recognisable encoding, `CorruptDocument` when the bytes break the encoding their
    BOM names, `DocumentTooLarge`, `NoExtractableText` for whitespace only.
    """

    def __init__(self, *, limits: ExtractionLimits) -> None:
        self._limits = limits

    def extract(
        self, data: bytes, filename: str | None = None, declared_media_type: str | None = None
    ) -> ExtractedText:
        check_input(data, self._limits)
        builder = SectionBuilder(self._limits)
        number = 1
        for piece in text_pieces(data):
            for index, page in enumerate(piece.split("\f")):
                if index:  # every form feed starts the next page
                    number += 1
                builder.page(page, number)
        return builder.build(media_types.PLAIN_TEXT, page_count=number, filename=filename)
