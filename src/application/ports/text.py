"""Turning file bytes into text, and text into chunks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from domain import Chunk


@dataclass(frozen=True, slots=True)
class TextSection:
    """A run of text from one place in a document: a page, or the body under a heading."""

    text: str
    page: int | None = None
    heading_path: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExtractedText:
    """A document's text in reading order, with the media type it was read as.

    `title` is the document's own name for itself: its metadata title or first heading, else
    the filename without its extension; None when there is neither.
    """

    media_type: str
    sections: Sequence[TextSection] = field(default_factory=tuple)
    page_count: int | None = None
    title: str | None = None


class TextExtractor(Protocol):
    """Reads the text out of a file whose type it determines from the bytes themselves."""

    def extract(
        self, data: bytes, filename: str | None = None, declared_media_type: str | None = None
    ) -> ExtractedText:
        """The text of `data`, in reading order, as sections with page numbers and headings.

        `filename` and `declared_media_type` (what the uploader said the file is) are hints:
        the type is sniffed from the bytes, and a declared plain-text or Markdown type (or
        extension) is believed unless the bytes are unmistakably something else. `filename`
        names the document (`title`) when the document does not name itself. Raises `EmptyDocument`
        (no bytes), `UnsupportedMediaType`, `CorruptDocument`, `EncryptedDocument`,
        `DocumentTooLarge` (past the configured byte, page or character limits), or
        `NoExtractableText` (a valid file with nothing to read). Pure computation: no I/O,
        no transaction.
        """
        ...


class Chunker(Protocol):
    """Splits extracted text into chunks sized for the embedder."""

    def split(self, text: ExtractedText) -> list[Chunk]:
        """Chunks in reading order with ordinals 0..n-1, none longer than the configured size.

        Every non-whitespace character of the text lands in some chunk, in order; consecutive
        chunks of one section may overlap by the configured amount. Each chunk carries its page
        span and heading path, and may carry a context line (title and heading path) to embed
        before its text; the size limit covers the context line too. Returns an empty list for
        text that is only whitespace. Sections held in a list (as the extractors return them)
        are taken out of it as they are chunked, so a long document's text is let go on the way:
        the list is empty afterwards.
        """
        ...
