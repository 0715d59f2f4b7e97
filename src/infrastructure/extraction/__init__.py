"""Text extraction adapters: PDF, DOCX, HTML, Markdown and plain text, and a sniffing registry."""

from infrastructure.extraction.docx_file import PythonDocxExtractor
from infrastructure.extraction.html_page import SelectolaxHtmlExtractor
from infrastructure.extraction.limits import ExtractionLimits
from infrastructure.extraction.markdown import MarkdownItExtractor
from infrastructure.extraction.pdf import PdfiumPdfExtractor
from infrastructure.extraction.plain_text import PlainTextExtractor
from infrastructure.extraction.sniffing import SniffingTextExtractor, sniff_media_type

__all__ = [
    "ExtractionLimits",
    "MarkdownItExtractor",
    "PdfiumPdfExtractor",
    "PlainTextExtractor",
    "PythonDocxExtractor",
    "SelectolaxHtmlExtractor",
    "SniffingTextExtractor",
    "sniff_media_type",
]
