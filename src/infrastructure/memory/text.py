"""The simplest extractor and chunker that honour their contracts: UTF-8 text, paragraphs."""

from __future__ import annotations

import re

from application.errors import (
    DocumentTooLarge,
    EmptyDocument,
    NoExtractableText,
    UnsupportedMediaType,
)
from application.ports import Chunker, ExtractedText, TextExtractor, TextSection
from domain import Chunk

_PARAGRAPH = re.compile(r"\S(?:.*?\S)?(?=\n\s*\n|\s*\Z)", re.DOTALL)


class PlainUtf8Extractor(TextExtractor):
    """Reads UTF-8 text; a form feed starts a new page; the filename, less its extension, names
    the document."""

    def __init__(self, *, max_chars: int) -> None:
        self._max_chars = max_chars

    def extract(
        self, data: bytes, filename: str | None = None, declared_media_type: str | None = None
    ) -> ExtractedText:
        if not data:
            raise EmptyDocument()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise UnsupportedMediaType("the file is not UTF-8 text") from error
        if "\x00" in text:
            raise UnsupportedMediaType("the file is binary")
        if len(text) > self._max_chars:
            raise DocumentTooLarge(f"{len(text)} characters; the limit is {self._max_chars}")
        pages = text.split("\f")
        sections = [TextSection(page, page=n) for n, page in enumerate(pages, 1) if page.strip()]
        if not sections:
            raise NoExtractableText()
        return ExtractedText("text/plain", sections, page_count=len(pages), title=_title(filename))


def _title(filename: str | None) -> str | None:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name or None


class ParagraphChunker(Chunker):
    """One chunk per paragraph, cut into pieces of at most `max_words` words; no overlap."""

    def __init__(self, max_words: int = 200) -> None:
        self._max_words = max_words

    def split(self, text: ExtractedText) -> list[Chunk]:
        chunks: list[Chunk] = []
        for section in text.sections:
            for paragraph in _PARAGRAPH.findall(section.text):
                words = paragraph.split()
                for start in range(0, len(words), self._max_words):
                    piece = " ".join(words[start : start + self._max_words])
                    chunks.append(
                        Chunk(
                            ordinal=len(chunks),
                            text=piece,
                            token_count=min(self._max_words, len(words) - start),
                            page_start=section.page,
                            page_end=section.page,
                            metadata={"headings": list(section.heading_path)},
                        )
                    )
        return chunks
