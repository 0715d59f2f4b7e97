"""Every extractor names the document: its own title or first heading, else the filename."""

from __future__ import annotations

import io

import docx
from pypdf import PdfReader, PdfWriter

from infrastructure.extraction import SniffingTextExtractor
from tests.fixtures.defaults import extraction_limits
from tests.fixtures.files import MakeDocx, read_data

EXTRACTOR = SniffingTextExtractor(limits=extraction_limits())


def title_of(data: bytes, filename: str | None) -> str | None:
    return EXTRACTOR.extract(data, filename).title


def test_a_pdf_is_named_by_its_metadata_title() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(read_data("libtasn1.pdf"))))
    writer.add_metadata({"/Title": "GNU Libtasn1  Reference"})
    buffer = io.BytesIO()
    writer.write(buffer)

    assert title_of(buffer.getvalue(), "manual.pdf") == "GNU Libtasn1 Reference"


def test_a_pdf_without_a_metadata_title_is_named_by_its_file() -> None:
    assert title_of(read_data("libtasn1.pdf"), "uploads/libtasn1 manual.pdf") == "libtasn1 manual"


def test_a_docx_is_named_by_its_core_properties(make_docx: MakeDocx) -> None:
    def fill(document: docx.document.Document) -> None:
        document.core_properties.title = "Travel policy"
        document.add_heading("Scope", level=1)
        document.add_paragraph("Who may travel.")

    assert title_of(make_docx(fill), "policy.docx") == "Travel policy"


def test_a_docx_without_one_is_named_by_its_first_top_heading(report_docx: bytes) -> None:
    assert title_of(report_docx, "q3.docx") == "Quarterly Report"


def test_an_html_page_is_named_by_its_title_then_its_first_h1() -> None:
    titled = b"<html><head><title>Users and groups</title></head><body><h1>Intro</h1>x</body>"
    untitled = b"<html><body><h2>Setup</h2><p>x</p><h1>Accounts</h1><p>y</p></body></html>"

    assert title_of(titled, "page.html") == "Users and groups"
    assert title_of(untitled, "page.html") == "Accounts"


def test_markdown_is_named_by_its_first_level_one_heading() -> None:
    text = b"Intro line.\n\n## Install\n\nRun it.\n\n# Zstandard testing\n\nMore.\n"

    assert title_of(text, "TESTING.md") == "Zstandard testing"


def test_plain_text_is_named_by_its_file() -> None:
    assert title_of(b"Just some words.\n", "notes/meeting notes.txt") == "meeting notes"
    assert title_of(b"Just some words.\n", None) is None
