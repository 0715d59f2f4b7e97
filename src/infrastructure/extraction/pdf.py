"""PDF text through pypdfium2 (PDFium)."""

from __future__ import annotations

import re
import threading

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from application.errors import CorruptDocument, DocumentTooLarge, EncryptedDocument
from application.ports import ExtractedText, TextExtractor
from infrastructure.extraction import media_types
from infrastructure.extraction.limits import ExtractionLimits, SectionBuilder, check_input

# PDFium is not thread-safe: one document at a time per process.
_PDFIUM = threading.Lock()
_LOCKED_CODES = {pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\ufffe\uffff]")
#: How deeply form XObjects are followed when counting a page's objects (pypdfium2's default).
_FORM_DEPTH = 15


class PdfiumPdfExtractor(TextExtractor):
    """One section per page with text (1-based page numbers), and the document's page count.

    The page count is checked against `max_pages` before any text is read. Every page, text
    page and document handle is closed as soon as it is done with, so a long-running worker
    does not grow. Raises `EncryptedDocument` (a password is needed), `CorruptDocument`
    (damaged or truncated, or no pages), `DocumentTooLarge`, `NoExtractableText` (for example
    a scan without a text layer).
    """

    def __init__(self, *, limits: ExtractionLimits) -> None:
        self._limits = limits

    def extract(
        self, data: bytes, filename: str | None = None, declared_media_type: str | None = None
    ) -> ExtractedText:
        check_input(data, self._limits)
        with _PDFIUM:
            document = _open(data)
            try:
                return self._read(document, filename)
            finally:
                document.close()

    def _read(self, document: pdfium.PdfDocument, filename: str | None) -> ExtractedText:
        page_count = len(document)
        if page_count == 0:
            raise CorruptDocument("the PDF has no pages")
        if page_count > self._limits.max_pages:
            raise DocumentTooLarge(
                f"the PDF has {page_count} pages; the limit (max_pages) is {self._limits.max_pages}"
            )
        builder = SectionBuilder(self._limits)
        for index in range(page_count):
            builder.page(self._page_text(document, index), number=index + 1)
        title = document.get_metadata_value("Title")
        return builder.build(media_types.PDF, page_count=page_count, filename=filename, title=title)

    def _page_text(self, document: pdfium.PdfDocument, index: int) -> str:
        try:
            page = document[index]
            try:
                self._check_objects(page, index)
                text_page = page.get_textpage()
                try:
                    text = text_page.get_text_range()
                finally:
                    text_page.close()
            finally:
                page.close()
        except pdfium.PdfiumError as error:
            raise CorruptDocument(f"page {index + 1} of the PDF cannot be read: {error}") from error
        return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))

    def _check_objects(self, page: pdfium.PdfPage, index: int) -> None:
        """Refuse a page that draws more objects than the budget, counting through its forms
        and stopping at the first one past it (so the count costs at most the budget)."""
        budget = self._limits.max_pdf_page_objects
        for count, _ in enumerate(page.get_objects(max_depth=_FORM_DEPTH), start=1):
            if count > budget:
                raise DocumentTooLarge(
                    f"page {index + 1} of the PDF draws more than {budget} objects"
                    " (the limit follows max_chars)"
                )


def _open(data: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as error:
        if error.err_code in _LOCKED_CODES:
            raise EncryptedDocument("the PDF needs a password to open") from error
        raise CorruptDocument(f"the PDF cannot be read: {error}") from error
