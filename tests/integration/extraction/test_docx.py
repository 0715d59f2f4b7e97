"""DOCX extraction with python-docx on documents python-docx writes."""

from __future__ import annotations

import io
import zipfile

import docx
import pytest

from application.errors import (
    CorruptDocument,
    DocumentTooLarge,
    NoExtractableText,
    UnsupportedMediaType,
)
from infrastructure.extraction import PythonDocxExtractor, SniffingTextExtractor
from tests.fixtures.defaults import extraction_limits
from tests.fixtures.files import MakeDocx


@pytest.fixture
def extractor() -> SniffingTextExtractor:
    return SniffingTextExtractor(limits=extraction_limits())


def test_headings_build_the_heading_path(
    extractor: SniffingTextExtractor, report_docx: bytes
) -> None:
    extracted = extractor.extract(report_docx, "report.docx")
    assert extracted.media_type.endswith("wordprocessingml.document")
    assert [section.heading_path for section in extracted.sections] == [
        ("Quarterly Report",),
        ("Quarterly Report", "Revenue"),
        ("Quarterly Report", "Revenue", "By region"),
        ("Quarterly Report", "Outlook"),
    ]
    assert extracted.sections[1].text == "Revenue\n\nRevenue grew in every region."


def test_tables_become_rows_of_cells(extractor: SniffingTextExtractor, report_docx: bytes) -> None:
    by_region = extractor.extract(report_docx).sections[2].text
    assert by_region == "By region\n\nRegion | Amount\nNorth | 120\nSouth | 95"


def test_merged_cells_are_read_once(extractor: SniffingTextExtractor, make_docx: MakeDocx) -> None:
    def fill(document: docx.document.Document) -> None:
        table = document.add_table(rows=2, cols=3)
        table.cell(0, 0).merge(table.cell(0, 2)).text = "Wide header"
        for index, cell in enumerate(table.rows[1].cells):
            cell.text = f"c{index}"

    text = extractor.extract(make_docx(fill)).sections[0].text
    assert text == "Wide header\nc0 | c1 | c2"


def test_a_document_without_text_has_nothing_to_extract(
    extractor: SniffingTextExtractor, make_docx: MakeDocx
) -> None:
    with pytest.raises(NoExtractableText):
        extractor.extract(make_docx(lambda document: document.add_paragraph("   ")))


def test_a_zip_bomb_is_refused_before_parsing(
    extractor: SniffingTextExtractor, report_docx: bytes
) -> None:
    buffer = io.BytesIO(report_docx)
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/media/padding.bin", bytes(20 * 1024 * 1024))
    with pytest.raises(DocumentTooLarge, match="max_compression_ratio"):
        extractor.extract(buffer.getvalue(), "bomb.docx")


def test_declared_unpacked_size_past_the_limit_is_too_large(report_docx: bytes) -> None:
    limits = extraction_limits(max_unpacked_bytes=10_000)
    with pytest.raises(DocumentTooLarge, match="max_unpacked_bytes"):
        PythonDocxExtractor(limits=limits).extract(report_docx)


def test_a_truncated_docx_is_corrupt(extractor: SniffingTextExtractor, report_docx: bytes) -> None:
    with pytest.raises(CorruptDocument):
        extractor.extract(report_docx[: len(report_docx) // 2], "cut.docx")


def test_a_package_without_its_parts_is_corrupt(extractor: SniffingTextExtractor) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document")
    with pytest.raises(CorruptDocument):
        extractor.extract(buffer.getvalue(), "broken.docx")


def test_a_zip_that_is_not_a_word_document_is_unsupported(
    extractor: SniffingTextExtractor,
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(UnsupportedMediaType, match="ZIP"):
        extractor.extract(buffer.getvalue(), "notes.docx")
