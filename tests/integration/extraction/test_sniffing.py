"""Telling types apart by content; the filename only breaks the Markdown/plain-text tie."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import pytest

from application.errors import UnsupportedMediaType
from infrastructure.extraction import SniffingTextExtractor, sniff_media_type
from tests.fixtures.defaults import extraction_limits
from tests.fixtures.files import read_data

MARKDOWNISH = b"# Title\n\nSee [docs](https://example.org) and `code`.\n"


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("shared-mime-info-spec.pdf", "application/pdf"),
        ("users-and-groups.html", "text/html"),
        ("libffi-introduction.html", "text/html"),
        ("zstd-TESTING.md", "text/markdown"),
        ("pyyaml-README.md", "text/markdown"),
        ("socat-FAQ.txt", "text/plain"),
        ("erlang-AUTHORS-latin1.txt", "text/plain"),
    ],
)
def test_sample_files_are_recognised_without_their_names(name: str, media_type: str) -> None:
    assert sniff_media_type(read_data(name)) == media_type


def test_a_docx_is_recognised_by_its_contents(report_docx: bytes) -> None:
    assert sniff_media_type(report_docx, "report.bin").endswith("wordprocessingml.document")


def test_the_extension_does_not_make_html_a_pdf() -> None:
    assert sniff_media_type(read_data("users-and-groups.html"), "report.pdf") == "text/html"


def test_the_extension_breaks_the_markdown_tie() -> None:
    text = b"Just a line of prose without any markup.\n"
    assert sniff_media_type(text, "notes.md") == "text/markdown"
    assert sniff_media_type(text, "notes.txt") == "text/plain"
    assert sniff_media_type(text) == "text/plain"


def test_clear_markdown_is_markdown_unless_named_plain_text() -> None:
    assert sniff_media_type(MARKDOWNISH, "notes.md") == "text/markdown"
    assert sniff_media_type(MARKDOWNISH) == "text/markdown"
    assert sniff_media_type(MARKDOWNISH, "notes.txt") == "text/plain"


RESTRUCTURED_TEXT = (
    b":mod:`abc` --- Abstract Base Classes\n=====================================\n\n"
    b"- ``__name__`` of a class, see `the guide <https://example.org>`_\n"
    b"- item **two**, returns ``<string>``\n\n.. code-block:: python\n\n   x = 1\n"
)


@pytest.mark.parametrize("name", ["abc.rst.txt", "notes.txt", "NOTES.TXT", "app.log"])
def test_a_name_declaring_plain_text_is_believed(name: str) -> None:
    assert sniff_media_type(RESTRUCTURED_TEXT, name) == "text/plain"
    assert sniff_media_type(b"<div>not a page</div>\n", name) == "text/plain"


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (b"<!DOCTYPE html>\n<title>x</title><p>Hello</p>", "text/html"),
        (b"<html><body><p>Hello</p></body></html>", "text/html"),
        (read_data("libtasn1.pdf"), "application/pdf"),
    ],
)
def test_unmistakable_bytes_override_a_plain_text_name(data: bytes, media_type: str) -> None:
    assert sniff_media_type(data, "notes.txt") == media_type


def test_binary_bytes_named_plain_text_are_refused() -> None:
    with pytest.raises(UnsupportedMediaType):
        SniffingTextExtractor(limits=extraction_limits()).extract(b"ab\x00\x01cd" * 100, "a.txt")


def test_a_plain_text_file_keeps_every_character() -> None:
    text = SniffingTextExtractor(limits=extraction_limits()).extract(RESTRUCTURED_TEXT, "abc.txt")
    assert "".join(section.text for section in text.sections).split() == (
        RESTRUCTURED_TEXT.decode().split()
    )


def test_markdown_opening_with_html_stays_markdown() -> None:
    readme = b'<p align="center"><img src="logo.png"></p>\n\n' + MARKDOWNISH
    assert sniff_media_type(readme, "README") == "text/markdown"


def test_html_fragments_and_comments_are_html() -> None:
    assert sniff_media_type(b"<!-- saved page -->\n<div><p>Hello</p></div>") == "text/html"
    assert sniff_media_type(b"\xef\xbb\xbf  <P>Hello</P>") == "text/html"


def test_xml_is_not_html() -> None:
    xml = b'<?xml version="1.0"?>\n<catalog><book>Title</book></catalog>'
    assert sniff_media_type(xml) == "text/plain"


@pytest.mark.parametrize("filename", ["logo.png", "logo.txt", None])
def test_an_image_is_unsupported_whatever_its_name(filename: str | None) -> None:
    with pytest.raises(UnsupportedMediaType, match="PNG"):
        SniffingTextExtractor(limits=extraction_limits()).extract(
            read_data("git-logo.png"), filename
        )


def test_an_executable_is_unsupported() -> None:
    with open(Path(sys.executable).resolve(), "rb") as executable:
        head = executable.read(65_536)
    with pytest.raises(UnsupportedMediaType, match="ELF"):
        SniffingTextExtractor(limits=extraction_limits()).extract(head, "program.txt")


def test_a_plain_zip_is_unsupported() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.csv", "a,b\n1,2\n")
    with pytest.raises(UnsupportedMediaType):
        SniffingTextExtractor(limits=extraction_limits()).extract(buffer.getvalue(), "data.docx")


@pytest.mark.parametrize("name", ["upload", "notes.rst", "README"])
def test_a_file_declared_text_plain_is_plain_text_whatever_its_name(name: str) -> None:
    markdown_looking = b"# Title\n\nSome *emphasis* and a [link](http://x) and <N> kept.\n"

    assert sniff_media_type(markdown_looking, name, "text/plain") == "text/plain"
    assert sniff_media_type(markdown_looking, name, "text/plain; charset=utf-8") == "text/plain"


def test_a_declared_type_does_not_override_unmistakable_bytes() -> None:
    assert sniff_media_type(b"%PDF-1.7\n...", "upload", "text/plain") == "application/pdf"


def test_a_txt_name_wins_over_a_declared_markdown_type() -> None:
    assert sniff_media_type(b"# Title\n\n*x*\n", "notes.txt", "text/markdown") == "text/plain"
