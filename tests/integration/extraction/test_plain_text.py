"""Plain text in whatever encoding it came in."""

from __future__ import annotations

import codecs
import random

import pytest

from application.errors import CorruptDocument, UnsupportedMediaType
from infrastructure.extraction import PlainTextExtractor, SniffingTextExtractor
from infrastructure.extraction.text_decoding import PIECE_BYTES
from tests.fixtures.defaults import extraction_limits
from tests.fixtures.files import read_data


@pytest.fixture
def extractor() -> SniffingTextExtractor:
    return SniffingTextExtractor(limits=extraction_limits())


def only_text(extractor: SniffingTextExtractor, data: bytes, name: str = "a.txt") -> str:
    return "\f".join(section.text for section in extractor.extract(data, name).sections)


def test_a_real_legacy_encoded_file_is_decoded(extractor: SniffingTextExtractor) -> None:
    text = only_text(extractor, read_data("erlang-AUTHORS-latin1.txt"), "AUTHORS")
    assert "Björn" in text and "Torbjörn" in text
    assert "\ufffd" not in text


def test_a_real_ascii_faq(extractor: SniffingTextExtractor) -> None:
    extracted = extractor.extract(read_data("socat-FAQ.txt"), "FAQ")
    assert extracted.media_type == "text/plain"
    assert "Q: What is the clue of socat?" in extracted.sections[0].text


@pytest.mark.parametrize(
    ("bom", "codec"),
    [
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
    ],
)
def test_a_bom_names_the_encoding(extractor: SniffingTextExtractor, bom: bytes, codec: str) -> None:
    text = "Ünïcödé text: 東京, Ελλάδα."
    assert only_text(extractor, bom + text.encode(codec)) == text


def test_bytes_breaking_their_bom_are_corrupt() -> None:
    with pytest.raises(CorruptDocument, match="utf-8"):
        PlainTextExtractor(limits=extraction_limits()).extract(
            codecs.BOM_UTF8 + b"ok \xff\xfe\xfd broken"
        )


def test_form_feeds_separate_pages(extractor: SniffingTextExtractor) -> None:
    extracted = extractor.extract(b"page one\fpage two\f\fpage four", "a.txt")
    assert extracted.page_count == 4
    assert [(s.page, s.text) for s in extracted.sections] == [
        (1, "page one"),
        (2, "page two"),
        (4, "page four"),
    ]


def test_random_bytes_named_txt_are_unsupported(extractor: SniffingTextExtractor) -> None:
    noise = random.Random(7).randbytes(8192)
    with pytest.raises(UnsupportedMediaType):
        extractor.extract(noise, "notes.txt")


def test_random_bytes_without_nuls_are_unsupported(extractor: SniffingTextExtractor) -> None:
    noise = bytes(byte for byte in random.Random(7).randbytes(8192) if byte)
    with pytest.raises(UnsupportedMediaType):
        extractor.extract(noise, "notes.txt")


def test_control_characters_mark_binary(extractor: SniffingTextExtractor) -> None:
    with pytest.raises(UnsupportedMediaType, match="control"):
        extractor.extract(bytes(range(1, 32)) * 50 + b"some words", "log.txt")


def test_a_long_file_is_decoded_a_piece_at_a_time_cut_between_paragraphs() -> None:
    paragraphs = [f"Paragraph {n}: café, naïve, déjà vu." for n in range(20_000)]  # ~800 KB
    pages = ["\n\n".join(paragraphs[:12_000]), "\n\n".join(paragraphs[12_000:])]
    data = "\f".join(pages).encode("utf-8")
    assert len(data) > 10 * PIECE_BYTES  # multi-byte characters fall across piece boundaries

    extracted = PlainTextExtractor(limits=extraction_limits()).extract(data, "long.txt")

    assert len(extracted.sections) > 10
    assert extracted.page_count == 2
    for number, page in enumerate(pages, 1):
        texts = [s.text for s in extracted.sections if s.page == number]
        assert "\n\n".join(texts) == page  # every cut fell on a blank line, which the joiner is


def test_a_long_file_not_utf8_past_its_first_piece_is_decoded_by_detection() -> None:
    data = b"plain words and more words\n" * (2 * PIECE_BYTES // 27) + "Café crème".encode("cp1252")

    extracted = PlainTextExtractor(limits=extraction_limits()).extract(data, "legacy.txt")

    assert extracted.sections[-1].text.endswith("Café crème")


def test_a_long_file_breaking_its_bom_past_its_first_piece_is_corrupt() -> None:
    body = ("words and more words\n" * (PIECE_BYTES // 20)).encode("utf-16-le")
    data = codecs.BOM_UTF16_LE + body + b"\x00\xdc"  # a lone low surrogate

    with pytest.raises(CorruptDocument):
        PlainTextExtractor(limits=extraction_limits()).extract(data, "broken.txt")
