"""Plain text in any encoding charset_normalizer can recognise."""

from __future__ import annotations

from application.ports import ExtractedText, TextExtractor
from infrastructure.extraction import media_types
from infrastructure.extraction.limits import ExtractionLimits, SectionBuilder, check_input
from infrastructure.extraction.text_decoding import decode_text


class PlainTextExtractor(TextExtractor):
    """The whole text as one section per form-feed-separated page.

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
        pages = decode_text(data).split("\f")
        builder = SectionBuilder(self._limits)
        for number, page in enumerate(pages, 1):
            builder.page(page, number)
        return builder.build(media_types.PLAIN_TEXT, page_count=len(pages), filename=filename)
