"""Word (DOCX) text through python-docx, after checking what the ZIP archive would unpack to."""

from __future__ import annotations

import contextlib
import io
import re
import zipfile

import docx
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph
from lxml.etree import XMLParser, XMLSyntaxError

from application.errors import CorruptDocument, DocumentTooLarge, UnsupportedMediaType
from application.ports import ExtractedText, TextExtractor
from infrastructure.extraction import media_types
from infrastructure.extraction.limits import ExtractionLimits, SectionBuilder, check_input

_HEADING_STYLE = re.compile(r"heading\s*([1-9])", re.IGNORECASE)
_RATIO_FLOOR_BYTES = 1024 * 1024
_XML_MEMBERS = (".xml", ".rels")
_READ_BYTES = 65_536
#: The fewest bytes an XML element takes (`<a/>`).
_MIN_ELEMENT_BYTES = 4


class PythonDocxExtractor(TextExtractor):
    """Paragraphs and tables of the document body, in order, split into sections at headings.

    Paragraphs styled `Title` or `Heading 1`..`Heading 9` open sections and build the heading
    path; a table becomes one block of rows, cells joined by " | ". Before parsing, the
    archive's declared member sizes are checked against `max_unpacked_bytes` and
    `max_compression_ratio` (zip bombs), and its XML elements are counted in a streaming pass
    that stops at `max_docx_elements` (a body of endless empty paragraphs): both
    `DocumentTooLarge`. Raises `CorruptDocument` for a
    damaged archive or XML, `UnsupportedMediaType` for other Office packages (templates,
    macro-enabled documents), `NoExtractableText` for a document without text.
    """

    def __init__(self, *, limits: ExtractionLimits) -> None:
        self._limits = limits

    def extract(
        self, data: bytes, filename: str | None = None, declared_media_type: str | None = None
    ) -> ExtractedText:
        check_input(data, self._limits)
        self._check_archive(data)
        document = _parse(data)
        builder = SectionBuilder(self._limits)
        heading_levels = _heading_levels_by_style_id(document)
        for block in document.iter_inner_content():
            if isinstance(block, Paragraph):
                _add_paragraph(builder, block, heading_levels.get(block._p.style))
            else:
                builder.text(_table_text(block))
        return builder.build(
            media_types.DOCX, filename=filename, title=document.core_properties.title
        )

    def _check_archive(self, data: bytes) -> None:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                self._check_declared_sizes(archive.infolist())
                _count_elements(archive, self._limits.max_docx_elements)
        except (zipfile.BadZipFile, ValueError) as error:
            raise CorruptDocument(f"the DOCX archive is damaged: {error}") from error

    def _check_declared_sizes(self, members: list[zipfile.ZipInfo]) -> None:
        limits = self._limits
        unpacked = sum(member.file_size for member in members)
        if unpacked > limits.max_unpacked_bytes:
            raise DocumentTooLarge(
                f"the DOCX would unpack to {unpacked} bytes; "
                f"the limit (max_unpacked_bytes) is {limits.max_unpacked_bytes}"
            )
        for member in members:
            ratio = member.file_size / max(member.compress_size, 1)
            if member.file_size > _RATIO_FLOOR_BYTES and ratio > limits.max_compression_ratio:
                raise DocumentTooLarge(
                    f"DOCX member {member.filename!r} is compressed {ratio:.0f}:1; "
                    f"the limit (max_compression_ratio) is {limits.max_compression_ratio}:1"
                )


def _count_elements(archive: zipfile.ZipFile, limit: int) -> None:
    """Stream every XML part through a parser that builds nothing and only counts elements,
    raising `DocumentTooLarge` at the first one past `limit`. A part that is not well-formed
    is left for python-docx to judge (only the parts it reads matter).

    Parts whose declared sizes add up to less than `_MIN_ELEMENT_BYTES` per element past the
    limit cannot hold that many (a member is never read past its declared size: zipfile stops
    there and checks the CRC), so they are not streamed: most real documents."""
    members = [m for m in archive.infolist() if m.filename.endswith(_XML_MEMBERS)]
    if sum(member.file_size for member in members) < _MIN_ELEMENT_BYTES * (limit + 1):
        return
    counter = _ElementCounter(limit)
    for member in members:
        parser = XMLParser(target=counter, resolve_entities=False, no_network=True)
        with archive.open(member) as part, contextlib.suppress(XMLSyntaxError):
            while chunk := part.read(_READ_BYTES):
                parser.feed(chunk)
            parser.close()


class _ElementCounter:
    """An lxml parser target that counts start tags up to a limit."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._count = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self._count += 1
        if self._count > self._limit:
            raise DocumentTooLarge(
                f"the DOCX holds more than {self._limit} XML elements, the limit "
                "(max_docx_elements, a quarter of max_chars)"
            )

    def close(self) -> None:
        return None


def _parse(data: bytes) -> docx.document.Document:
    try:
        return docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, XMLSyntaxError, PackageNotFoundError) as error:
        raise CorruptDocument(f"the DOCX cannot be read: {error}") from error
    except ValueError as error:
        raise UnsupportedMediaType(f"not a Word document: {error}") from error


def _add_paragraph(builder: SectionBuilder, paragraph: Paragraph, level: int | None) -> None:
    if level is None:
        builder.text(paragraph.text)
    else:
        builder.heading(level, paragraph.text)


def _heading_levels_by_style_id(document: docx.document.Document) -> dict[str | None, int]:
    """Heading level of each heading style, read once per document: resolving each
    paragraph's style by name searches the whole style sheet every time. Keyed like
    `CT_P.style`, which is None for a paragraph without a style (never a heading)."""
    levels: dict[str | None, int] = {}
    for style in document.styles:
        level = _heading_level(style.name or "")
        if level is not None and style.style_id:
            levels[style.style_id] = level
    return levels


def _heading_level(style_name: str) -> int | None:
    if style_name == "Title":
        return 0
    match = _HEADING_STYLE.fullmatch(style_name)
    return int(match.group(1)) if match else None


def _table_text(table: Table) -> str:
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) not in seen:
                seen.add(id(cell._tc))
                cells.append(" ".join(cell.text.split()))
        rows.append(" | ".join(cells))
    return "\n".join(row for row in rows if row.strip(" |"))
