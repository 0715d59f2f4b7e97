"""Telling a file's type from its bytes, and dispatching it to the extractor for that type."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping

from application.errors import CorruptDocument, UnsupportedMediaType
from application.ports import ExtractedText, TextExtractor
from infrastructure.extraction import media_types
from infrastructure.extraction.docx_file import PythonDocxExtractor
from infrastructure.extraction.html_page import SelectolaxHtmlExtractor
from infrastructure.extraction.limits import ExtractionLimits, check_input
from infrastructure.extraction.markdown import MarkdownItExtractor
from infrastructure.extraction.pdf import PdfiumPdfExtractor
from infrastructure.extraction.plain_text import PlainTextExtractor
from infrastructure.extraction.text_decoding import evident_encoding, refuse_nul_bytes

_HEAD_BYTES = 65_536
_KNOWN_BINARIES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x7fELF", "an ELF executable"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy or encrypted Office file"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
)
_MARKDOWN_EXTENSIONS = {"md", "markdown", "mdown", "mkd", "mkdn"}
_PLAIN_EXTENSIONS = {"txt", "text", "log"}
_PREAMBLE = re.compile(r"\s*(?:<\?xml[^>]*>|<!--.*?-->)", re.DOTALL)
_DOCUMENT_TAG = re.compile(r"<(?:!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE)
_ELEMENT_TAG = re.compile(
    r"<(?:script|iframe|h[1-6]|div|font|table|a|style|title|b|br|p|meta|link|section|"
    r"article|main|nav|header|ul|ol)[\s/>]",
    re.IGNORECASE,
)
# Each sign costs linear time on any text: a pattern that may start at every position either
# stops at the next possible start (link text stops at `[`) or looks at most 200 characters ahead.
_MARKDOWN_SIGNS = (
    re.compile(r"^#{1,6}[ \t]+\S", re.MULTILINE),
    re.compile(r"^[^\s=-][^\n]*\n(?:=+|-{2,})[ \t]*$", re.MULTILINE),
    re.compile(r"^(?:```|~~~)", re.MULTILINE),
    re.compile(r"\[[^\[\]\n]{1,200}\]\([^()\s]{1,200}\)"),
    re.compile(r"^[ \t]*[-*+][ \t]+\S", re.MULTILINE),
    re.compile(r"(\*\*|__)\S[^\n]{0,200}?\S\1"),
    re.compile(r"`[^`\n]+`"),
    re.compile(r"^>[ \t]?\S", re.MULTILINE),
)


def sniff_media_type(
    data: bytes, filename: str | None = None, declared_media_type: str | None = None
) -> str:
    """The media type of `data`, judged from its content.

    PDF by its `%PDF-` header, DOCX by a ZIP holding `word/document.xml`, HTML by markup at
    the start of the text, Markdown by its syntax. A name declaring plain text (`.txt`,
    `.text`, `.log`) is believed unless the bytes are unmistakably something else: PDF, ZIP,
    binary, or an HTML document (a doctype or `<html>` first); reStructuredText and the like
    are never read as Markdown. A Markdown extension is believed likewise, and a declared
    `text/plain` or `text/markdown` (the type the uploader gave) like its extension. Raises
    `UnsupportedMediaType` for anything else (images, executables, other archives, binary
    bytes) and `CorruptDocument` for a damaged ZIP archive.
    """
    if _is_pdf(data):
        return media_types.PDF
    if data.startswith(b"PK\x03\x04"):
        return _zip_media_type(data)
    _refuse_known_binaries(data)
    head = _text_head(data)
    extension = _extension(filename)
    if extension not in _PLAIN_EXTENSIONS | _MARKDOWN_EXTENSIONS:
        extension = _declared_extension(declared_media_type) or extension
    if extension in _PLAIN_EXTENSIONS:
        return media_types.HTML if _is_html_document(head) else media_types.PLAIN_TEXT
    if _is_html(head):
        return media_types.HTML
    return _markdown_or_plain(head, extension)


class SniffingTextExtractor(TextExtractor):
    """Extracts any supported file by sniffing its type and handing it to that type's extractor.

    `extractors` maps a media type to its extractor; by default PDF (pypdfium2), DOCX
    (python-docx), HTML (selectolax), Markdown (markdown-it-py) and plain text, all sharing
    `limits`. Raises what `sniff_media_type` and the chosen extractor raise; pure computation.
    """

    def __init__(
        self,
        *,
        limits: ExtractionLimits,
        extractors: Mapping[str, TextExtractor] | None = None,
    ) -> None:
        self._limits = limits
        self._extractors = dict(extractors or default_extractors(self._limits))

    def extract(
        self, data: bytes, filename: str | None = None, declared_media_type: str | None = None
    ) -> ExtractedText:
        check_input(data, self._limits)
        media_type = sniff_media_type(data, filename, declared_media_type)
        extractor = self._extractors.get(media_type)
        if extractor is None:
            raise UnsupportedMediaType(f"{media_type} files are not accepted here")
        return extractor.extract(data, filename)


def default_extractors(limits: ExtractionLimits) -> dict[str, TextExtractor]:
    return {
        media_types.PDF: PdfiumPdfExtractor(limits=limits),
        media_types.DOCX: PythonDocxExtractor(limits=limits),
        media_types.HTML: SelectolaxHtmlExtractor(limits=limits),
        media_types.MARKDOWN: MarkdownItExtractor(limits=limits),
        media_types.PLAIN_TEXT: PlainTextExtractor(limits=limits),
    }


def _is_pdf(data: bytes) -> bool:
    """A `%PDF-` header at the start, or (as readers allow) within the first KB of a PDF."""
    if data.startswith(b"%PDF-"):
        return True
    return b"%PDF-" in data[:1024] and b"%%EOF" in data[-1024:]


def _zip_media_type(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError) as error:
        raise CorruptDocument(f"the ZIP archive is damaged: {error}") from error
    if "word/document.xml" in names:
        return media_types.DOCX
    raise UnsupportedMediaType("a ZIP archive that is not a Word (DOCX) document")


def _refuse_known_binaries(data: bytes) -> None:
    for magic, kind in _KNOWN_BINARIES:
        if data.startswith(magic):
            raise UnsupportedMediaType(f"the file is {kind}, which is not supported")


def _text_head(data: bytes) -> str:
    """The start of the text, decoded leniently: enough to judge markup and syntax."""
    encoding = evident_encoding(data)
    head = data[:_HEAD_BYTES]
    if encoding is None:
        refuse_nul_bytes(head)
        encoding = "utf-8"
    return head.decode(encoding, errors="ignore")


def _is_html(head: str) -> bool:
    skipped, start = _markup_start(head)
    if _DOCUMENT_TAG.match(start):
        return True
    weak = skipped or _ELEMENT_TAG.match(start) is not None
    return weak and _markdown_score(head) < 2


def _is_html_document(head: str) -> bool:
    """Whether the text starts (after an XML declaration or comments) as an HTML document."""
    return _DOCUMENT_TAG.match(_markup_start(head)[1]) is not None


def _markup_start(head: str) -> tuple[bool, str]:
    """Whether a comment came first, and the start of the text after any preamble."""
    start = head[:1024].lstrip("\ufeff")
    skipped = False
    while preamble := _PREAMBLE.match(start):
        skipped = skipped or preamble.group().lstrip().startswith("<!--")
        start = start[preamble.end() :]
    return skipped, start.lstrip()


def _markdown_or_plain(head: str, extension: str) -> str:
    if extension in _MARKDOWN_EXTENSIONS or _markdown_score(head) >= 2:
        return media_types.MARKDOWN
    return media_types.PLAIN_TEXT


def _markdown_score(text: str) -> int:
    """How many different kinds of Markdown syntax the text uses."""
    return sum(1 for sign in _MARKDOWN_SIGNS if sign.search(text))


def _declared_extension(declared_media_type: str | None) -> str:
    """The extension a declared text type stands for ("" for any other or none)."""
    declared = (declared_media_type or "").split(";", 1)[0].strip().lower()
    return {media_types.PLAIN_TEXT: "txt", media_types.MARKDOWN: "md"}.get(declared, "")


def _extension(filename: str | None) -> str:
    if not filename or "." not in filename:
        return ""
    return filename.rsplit(".", 1)[1].lower()
