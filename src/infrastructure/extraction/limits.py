"""Extraction limits, and the section builder every format extractor fills in reading order."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath

from application.errors import DocumentTooLarge, EmptyDocument, NoExtractableText
from application.ports import ExtractedText, TextSection

_MIB = 1024 * 1024
_CHARS_PER_DOCX_ELEMENT = 4
_CHARS_PER_PDF_OBJECT = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtractionLimits:
    """What a single document may cost; going past any of them is `DocumentTooLarge`.

    `max_unpacked_bytes` and `max_compression_ratio` bound what a DOCX (a ZIP archive) declares
    it unpacks to, checked before anything is decompressed; the ratio applies to members over
    1 MiB. `max_html_depth` bounds how deeply HTML elements nest (parsing cost grows with the
    square of the depth). The first three are settings (MAX_FILE_BYTES, MAX_PAGES, MAX_CHARS),
    so they have no defaults here; `max_docx_elements` and `max_pdf_page_objects` follow from
    `max_chars`.
    """

    max_bytes: int
    max_pages: int
    max_chars: int
    max_unpacked_bytes: int = 500 * _MIB
    max_compression_ratio: int = 100
    max_html_depth: int = 4096

    @property
    def max_pdf_page_objects(self) -> int:
        """How many objects one PDF page may draw, counting every copy a form XObject draws of
        what it holds: one per ten characters of `max_chars`. A page's text is built from all of
        them at once, in native code that no limit interrupts, so a few hundred bytes of nested
        forms could otherwise ask for gigabytes."""
        return self.max_chars // _CHARS_PER_PDF_OBJECT

    @property
    def max_docx_elements(self) -> int:
        """How many XML elements a DOCX's parts may hold in all: one per four characters of
        `max_chars`. Real documents carry several characters per element; every element costs
        python-docx about 120 bytes of tree, so empty ones must not be free."""
        return self.max_chars // _CHARS_PER_DOCX_ELEMENT


def filename_title(filename: str | None) -> str | None:
    """`Annual report` for `reports/Annual report.pdf`; None for no name."""
    if not filename:
        return None
    return PurePath(filename.replace("\\", "/")).stem.strip() or None


def check_input(data: bytes, limits: ExtractionLimits) -> None:
    """Refuse empty input (`EmptyDocument`) and input past `max_bytes` (`DocumentTooLarge`)."""
    if not data:
        raise EmptyDocument()
    if len(data) > limits.max_bytes:
        raise DocumentTooLarge(
            f"the file is {len(data)} bytes; the limit (max_bytes) is {limits.max_bytes}"
        )


@dataclass(slots=True)
class SectionBuilder:
    """Collects sections in reading order, tracking headings and the character limit.

    `heading` closes the current section and opens one under the new heading path (a heading
    of level n replaces every open heading of level n or deeper); `text` adds a block to the
    current section; `page` adds a whole page as its own section. The document's title is the
    one `build` is given, else its first heading of the highest level, else the filename
    without its extension.
    """

    limits: ExtractionLimits
    _sections: list[TextSection] = field(default_factory=list)
    _blocks: list[str] = field(default_factory=list)
    _path: list[tuple[int, str]] = field(default_factory=list)
    _chars: int = 0
    _top_heading: tuple[int, str] | None = None

    def heading(self, level: int, title: str) -> None:
        title = " ".join(title.split())
        if not title:
            return
        if self._top_heading is None or level < self._top_heading[0]:
            self._top_heading = (level, title)
        self._flush()
        while self._path and self._path[-1][0] >= level:
            self._path.pop()
        self._path.append((level, title))
        self.text(title)

    def text(self, block: str) -> None:
        if block.strip():
            self._count(block)
            self._blocks.append(block.strip("\n"))

    def page(self, text: str, number: int) -> None:
        if text.strip():
            self._count(text)
            self._sections.append(TextSection(text, page=number))

    def build(
        self,
        media_type: str,
        page_count: int | None = None,
        *,
        filename: str | None,
        title: str | None = None,
    ) -> ExtractedText:
        """The collected text; `NoExtractableText` when nothing but whitespace was found."""
        self._flush()
        if not self._sections:
            raise NoExtractableText()
        title = " ".join((title or "").split()) or self._heading_title() or filename_title(filename)
        sections = self._sections  # a list, which the chunker empties as it goes
        return ExtractedText(media_type, sections, page_count=page_count, title=title)

    def _heading_title(self) -> str | None:
        return self._top_heading[1] if self._top_heading else None

    def _count(self, text: str) -> None:
        self._chars += len(text)
        if self._chars > self.limits.max_chars:
            raise DocumentTooLarge(
                f"the text runs past {self.limits.max_chars} characters, the limit (max_chars)"
            )

    def _flush(self) -> None:
        if self._blocks:
            path = tuple(title for _, title in self._path)
            self._sections.append(TextSection("\n\n".join(self._blocks), heading_path=path))
            self._blocks = []
