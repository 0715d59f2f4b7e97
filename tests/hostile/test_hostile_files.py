"""Crafted files against the extractors directly: each is refused or read in bounded work.

Costs are shown without clocks: a generous timeout stands guard over inputs that used to take
tens of seconds, and bounded work is shown by what the extractor never gets to (garbage placed
past a limit is never read).
"""

from __future__ import annotations

import codecs

import pytest

from application.errors import DocumentTooLarge, UnsupportedMediaType
from infrastructure.extraction import (
    PdfiumPdfExtractor,
    PlainTextExtractor,
    PythonDocxExtractor,
    SniffingTextExtractor,
    sniff_media_type,
)
from tests.fixtures.defaults import extraction_limits
from tests.hostile.test_hostile_corpus import docx_with

PROSE = "A perfectly ordinary paragraph about ingestion.\n\nAnd a second one.\n" * 20
_W = b"http://schemas.openxmlformats.org/wordprocessingml/2006/main"


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "text",
    [
        b"[" * 65_536,
        b"[a](" * 16_384,
        b"**a " * 16_384,
        b"_" * 65_536,
        b"`" * 65_536,
        b"<!--" * 16_384,
        b"a\n" + b"=" * 65_536 + b"x",
    ],
    ids=[
        "brackets",
        "link openers",
        "bold openers",
        "underscores",
        "backticks",
        "comments",
        "rule",
    ],
)
def test_the_sniffer_answers_pathological_text_in_linear_time(text: bytes) -> None:
    assert sniff_media_type(text) in {"text/plain", "text/markdown"}
    assert sniff_media_type(text * 64) == sniff_media_type(text)


def test_markdown_links_are_still_a_sign_of_markdown() -> None:
    text = b"See [the docs](https://example.org/a) and [more [nested] text](b.md).\n# Title\n"
    assert sniff_media_type(text) == "text/markdown"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_is_text(encoding: str) -> None:
    data = ("Grüße aus Köln, café crème.\n" + PROSE).encode(encoding)

    extracted = SniffingTextExtractor(limits=extraction_limits()).extract(data, "notes.txt")

    assert extracted.media_type == "text/plain"
    assert extracted.sections[0].text.startswith("Grüße aus Köln, café crème.")


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_is_markdown_when_it_says_so(encoding: str) -> None:
    data = "# Title\n\nSee [docs](https://example.org) and `code`.\n".encode(encoding)
    assert sniff_media_type(data) == "text/markdown"


def test_binary_with_nuls_at_every_other_byte_is_still_binary() -> None:
    data = bytes(range(1, 30)).replace(b"", b"\x00")[1:] * 200

    with pytest.raises(UnsupportedMediaType):
        SniffingTextExtractor(limits=extraction_limits()).extract(data, "data.txt")


@pytest.mark.parametrize(
    "bom", [codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE], ids=["8", "16le", "16be"]
)
def test_nul_characters_after_a_bom_are_refused_like_without_one(bom: bytes) -> None:
    encoding = {codecs.BOM_UTF8: "utf-8", codecs.BOM_UTF16_LE: "utf-16-le"}.get(bom, "utf-16-be")
    data = bom + (PROSE + "\x00 and more prose\n").encode(encoding)

    with pytest.raises(UnsupportedMediaType) as with_bom:
        SniffingTextExtractor(limits=extraction_limits()).extract(data, "notes.txt")
    with pytest.raises(UnsupportedMediaType) as without_bom:
        plain = PlainTextExtractor(limits=extraction_limits())
        plain.extract((PROSE + "\x00 and more prose\n").encode())

    assert str(with_bom.value) == str(without_bom.value)


def _empty_paragraphs(count: int, tail: bytes = b"</w:body></w:document>") -> bytes:
    return (
        b'<?xml version="1.0"?><w:document xmlns:w="'
        + _W
        + b'"><w:body>'
        + b"<w:p/>" * count
        + tail
    )


def test_a_docx_of_endless_empty_paragraphs_is_too_large() -> None:
    limits = extraction_limits(max_chars=100_000)

    with pytest.raises(DocumentTooLarge, match="elements"):
        PythonDocxExtractor(limits=limits).extract(docx_with(_empty_paragraphs(30_000)))


def test_a_docx_of_the_smallest_elements_one_past_the_limit_is_too_large() -> None:
    """Parts too small to hold more elements than the limit are not counted: the bound is
    exact for the shortest element there is, `<a/>`."""
    limits = extraction_limits(max_chars=100_000)
    document = b"<d>" + b"<a/>" * limits.max_docx_elements + b"</d>"

    with pytest.raises(DocumentTooLarge, match="elements"):
        PythonDocxExtractor(limits=limits).extract(docx_with(document))


def test_the_docx_element_count_stops_before_the_rest_is_read() -> None:
    """Past the limit comes broken XML: counting while parsing never reaches it."""
    limits = extraction_limits(max_chars=100_000)
    broken_tail = b"<w:p><<<not xml at all" * 10

    with pytest.raises(DocumentTooLarge):
        docx = docx_with(_empty_paragraphs(30_000, broken_tail))
        PythonDocxExtractor(limits=limits).extract(docx)


def test_a_docx_within_the_element_limit_is_read(report_docx: bytes) -> None:
    limits = extraction_limits(max_chars=100_000)
    assert PythonDocxExtractor(limits=limits).extract(report_docx).sections


def nested_form_pdf(depth: int, fan_out: int) -> bytes:
    """A one-page PDF of a few hundred bytes whose page draws a form XObject that draws the one
    below it `fan_out` times, `depth` levels deep: fan_out ** depth copies of one short text.
    PDFium expands every copy when it builds the page's text."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /XObject << /F 5 0 R >> >> >>",
    ]
    objects.append(_stream(b"/F Do"))
    font = 6 + depth
    for level in range(depth):
        number = 5 + level
        if level == depth - 1:
            content = b"BT /T 9 Tf 10 10 Td (many words in a tiny file) Tj ET"
            resources = b"/Font << /T %d 0 R >>" % font
        else:
            content = b" ".join(b"q /F Do Q" for _ in range(fan_out))
            resources = b"/XObject << /F %d 0 R >>" % (number + 1)
        objects.append(
            _stream(content, b"/Type /XObject /Subtype /Form /BBox [0 0 612 792]"
                    b" /Resources << " + resources + b" >>")
        )
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    return _pdf(objects)


def _stream(content: bytes, dictionary: bytes = b"") -> bytes:
    return b"<< %s /Length %d >>\nstream\n%s\nendstream" % (dictionary, len(content), content)


def _pdf(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_a_page_expanding_into_too_many_objects_is_refused_before_its_text_is_built() -> None:
    limits = extraction_limits(max_chars=20_000)  # at most 2,000 objects a page
    crafted = nested_form_pdf(depth=5, fan_out=10)  # 10,000 copies of one text

    with pytest.raises(DocumentTooLarge, match="objects"):
        PdfiumPdfExtractor(limits=limits).extract(crafted)

    assert len(crafted) < 2_000


def test_a_page_within_the_object_budget_is_read() -> None:
    limits = extraction_limits(max_chars=20_000)
    modest = nested_form_pdf(depth=2, fan_out=10)

    extracted = PdfiumPdfExtractor(limits=limits).extract(modest)

    assert "many words in a tiny file" in extracted.sections[0].text
