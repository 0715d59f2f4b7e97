"""PDF extraction with PDFium on real PDFs, and PDFs derived from them by pypdf."""

from __future__ import annotations

import pytest

from application.errors import (
    CorruptDocument,
    DocumentTooLarge,
    EncryptedDocument,
    NoExtractableText,
)
from infrastructure.extraction import PdfiumPdfExtractor, SniffingTextExtractor
from tests.fixtures.defaults import extraction_limits
from tests.fixtures.files import SAMPLE_PDFS, read_data


@pytest.fixture
def extractor() -> PdfiumPdfExtractor:
    return PdfiumPdfExtractor(limits=extraction_limits())


def test_each_page_is_a_section_numbered_from_one(
    extractor: PdfiumPdfExtractor, spec_pdf: bytes
) -> None:
    extracted = extractor.extract(spec_pdf)
    assert extracted.media_type == "application/pdf"
    assert extracted.page_count == 17
    assert [section.page for section in extracted.sections] == list(range(1, 18))
    assert extracted.sections[0].text.startswith("Shared MIME-info Database")
    assert "\r" not in "".join(section.text for section in extracted.sections)


@pytest.mark.parametrize("name", SAMPLE_PDFS)
def test_sample_pdfs_are_read_through_the_registry(name: str) -> None:
    extracted = SniffingTextExtractor(limits=extraction_limits()).extract(read_data(name), name)
    assert extracted.media_type == "application/pdf"
    assert extracted.page_count == len(extracted.sections) > 10
    assert sum(len(s.text) for s in extracted.sections) > 20_000


def test_a_password_protected_pdf_is_encrypted(
    extractor: PdfiumPdfExtractor, encrypted_pdf: bytes
) -> None:
    with pytest.raises(EncryptedDocument):
        extractor.extract(encrypted_pdf)


def test_a_pdf_with_only_an_owner_password_is_read(
    extractor: PdfiumPdfExtractor, owner_locked_pdf: bytes
) -> None:
    extracted = extractor.extract(owner_locked_pdf)
    assert extracted.sections[0].text.startswith("Shared MIME-info Database")


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.95])
def test_a_truncated_pdf_is_corrupt(
    extractor: PdfiumPdfExtractor, spec_pdf: bytes, fraction: float
) -> None:
    with pytest.raises(CorruptDocument):
        extractor.extract(spec_pdf[: int(len(spec_pdf) * fraction)])


def test_a_pdf_header_on_garbage_is_corrupt() -> None:
    with pytest.raises(CorruptDocument):
        SniffingTextExtractor(limits=extraction_limits()).extract(
            b"%PDF-1.7\n" + b"garbage " * 100, "x.pdf"
        )


def test_blank_pages_have_no_extractable_text(
    extractor: PdfiumPdfExtractor, blank_pdf: bytes
) -> None:
    with pytest.raises(NoExtractableText):
        extractor.extract(blank_pdf)


def test_more_pages_than_max_pages_is_too_large(spec_pdf: bytes) -> None:
    with pytest.raises(DocumentTooLarge, match="17 pages.*max_pages.*10"):
        PdfiumPdfExtractor(limits=extraction_limits(max_pages=10)).extract(spec_pdf)


def test_more_text_than_max_chars_is_too_large(spec_pdf: bytes) -> None:
    with pytest.raises(DocumentTooLarge, match="max_chars"):
        PdfiumPdfExtractor(limits=extraction_limits(max_chars=5_000)).extract(spec_pdf)


def test_more_bytes_than_max_bytes_is_too_large(spec_pdf: bytes) -> None:
    with pytest.raises(DocumentTooLarge, match="max_bytes"):
        PdfiumPdfExtractor(limits=extraction_limits(max_bytes=1000)).extract(spec_pdf)


def test_repeated_extraction_gives_the_same_text(
    extractor: PdfiumPdfExtractor, spec_pdf: bytes
) -> None:
    """Handles are released after each document; nothing carries over between runs."""
    first = extractor.extract(spec_pdf)
    for _ in range(5):
        assert extractor.extract(spec_pdf) == first
