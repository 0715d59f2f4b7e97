"""HTML extraction with selectolax (lexbor) on real pages and pages written here."""

from __future__ import annotations

import codecs

import pytest

from application.errors import DocumentTooLarge
from infrastructure.extraction import (
    SelectolaxHtmlExtractor,
    SniffingTextExtractor,
)
from tests.fixtures.defaults import extraction_limits
from tests.fixtures.files import read_data

PAGE = """<!DOCTYPE html>
<html><head><title>Ignored</title><style>body { color: red }</style>
<script>var tracking = "secret";</script></head>
<body>
<header><a href="/">Site logo</a></header>
<nav><a href="/a">Menu item</a></nav>
<main>
  <h1>Guide</h1>
  <p>Intro   text
     spread over lines.</p>
  <h2>Install</h2>
  <p>Run the <b>installer</b>.</p>
  <pre>line one
  line two</pre>
  <h2>Tables</h2>
  <table><tr><th>Name</th><th>Size</th></tr><tr><td>a.pdf</td><td>3 MB</td></tr></table>
  <aside>Related: other guides</aside>
  <noscript>Enable JavaScript</noscript>
</main>
<footer>Copyright footer</footer>
</body></html>"""


@pytest.fixture
def extractor() -> SniffingTextExtractor:
    return SniffingTextExtractor(limits=extraction_limits())


def text_of(extractor: SniffingTextExtractor, data: bytes) -> str:
    return "\n".join(section.text for section in extractor.extract(data, "page.html").sections)


def test_headings_split_sections_with_paths(extractor: SniffingTextExtractor) -> None:
    extracted = extractor.extract(PAGE.encode(), "page.html")
    assert extracted.media_type == "text/html"
    assert [section.heading_path for section in extracted.sections] == [
        ("Guide",),
        ("Guide", "Install"),
        ("Guide", "Tables"),
    ]
    assert extracted.sections[0].text == "Guide\n\nIntro text spread over lines."


def test_boilerplate_and_code_are_dropped(extractor: SniffingTextExtractor) -> None:
    text = text_of(extractor, PAGE.encode())
    for dropped in ("Ignored", "color", "tracking", "Site logo", "Menu item", "Related", "Enable"):
        assert dropped not in text
    assert "Copyright footer" not in text


def test_pre_keeps_lines_and_tables_join_cells(extractor: SniffingTextExtractor) -> None:
    sections = extractor.extract(PAGE.encode()).sections
    assert "Run the installer.\n\nline one\nline two" in sections[1].text
    assert sections[2].text == "Tables\n\nName | Size\na.pdf | 3 MB"


def test_the_whole_body_is_read_without_main(extractor: SniffingTextExtractor) -> None:
    page = b"<html><body><header>Top bar</header><p>Body text</p><article><header>"
    page += b"<h1>Post</h1></header><p>Post text</p></article></body></html>"
    extracted = extractor.extract(page, "page.html")
    assert "Top bar" not in text_of(extractor, page)
    assert [s.heading_path for s in extracted.sections] == [("Post",)]


def test_a_real_docbook_page(extractor: SniffingTextExtractor) -> None:
    extracted = extractor.extract(read_data("users-and-groups.html"))
    paths = [section.heading_path for section in extracted.sections]
    assert paths[0] == ("Users and Groups in the Debian System",)
    assert "Copyright © 2001, 2002 Joey Hess" in extracted.sections[3].text
    assert sum(len(s.text) for s in extracted.sections) > 10_000


def test_a_real_texinfo_page(extractor: SniffingTextExtractor) -> None:
    extracted = extractor.extract(read_data("libffi-introduction.html"))
    assert extracted.sections[-1].heading_path == ("1 What is libffi?",)
    assert "calling convention" in extracted.sections[-1].text
    assert "copiable-anchor" not in text_of(extractor, read_data("libffi-introduction.html"))


def test_the_meta_charset_decides_the_encoding(extractor: SniffingTextExtractor) -> None:
    page = '<html><head><meta charset="iso-8859-1"></head><body><p>Café – 5 €</p></body></html>'
    # Browsers read a declared Latin-1 page as windows-1252, which has the dash and euro sign.
    assert text_of(extractor, page.encode("cp1252")) == "Café – 5 €"


def test_a_utf16_page_with_a_bom_is_read(extractor: SniffingTextExtractor) -> None:
    page = "<!doctype html><html><body><p>Grüße aus Köln</p></body></html>"
    assert text_of(extractor, codecs.BOM_UTF16_LE + page.encode("utf-16-le")) == "Grüße aus Köln"


def test_an_undeclared_legacy_encoding_is_detected(extractor: SniffingTextExtractor) -> None:
    prose = "Le cœur de l'été était brûlant, et les élèves rêvaient déjà des vacances. " * 8
    page = f"<html><body><p>{prose}</p></body></html>".encode("cp1252")
    assert text_of(extractor, page) == prose.strip()


def test_100k_nested_divs_are_refused_before_parsing(extractor: SniffingTextExtractor) -> None:
    page = "<html><body>" + "<div>" * 100_000 + "deep" + "</div>" * 100_000 + "</body></html>"
    with pytest.raises(DocumentTooLarge, match="max_html_depth"):
        extractor.extract(page.encode(), "deep.html")


def test_nesting_within_the_limit_is_read(extractor: SniffingTextExtractor) -> None:
    page = "<html><body>" + "<div>" * 3_000 + "deep text" + "</div>" * 3_000 + "</body></html>"
    assert text_of(extractor, page.encode()) == "deep text"


def test_many_shallow_elements_are_not_mistaken_for_depth() -> None:
    page = "<html><body>" + "<div><p>item</p><br></div>" * 20_000 + "</body></html>"
    extracted = SelectolaxHtmlExtractor(limits=extraction_limits(max_html_depth=50)).extract(
        page.encode()
    )
    assert sum(len(s.text) for s in extracted.sections) == len("item") * 20_000 + 2 * (20_000 - 1)


def test_private_use_characters_cannot_forge_structure(extractor: SniffingTextExtractor) -> None:
    page = "<html><body><p>a\ue0031Fake\ue004b</p></body></html>"
    extracted = extractor.extract(page.encode())
    assert [s.heading_path for s in extracted.sections] == [()]
    assert extracted.sections[0].text == "a1Fakeb"


def test_stray_closing_tags_cannot_hide_deep_nesting(extractor: SniffingTextExtractor) -> None:
    page = "<html><body>" + "</div>" * 50_000 + "<div>" * 50_000 + "x" + "</div>" * 50_000
    with pytest.raises(DocumentTooLarge, match="max_html_depth"):
        extractor.extract(page.encode(), "deep.html")


NAVIGATED = """<html><body>
<div class="navheader"><table><tr><th colspan="3">Chapter 1. Basics</th></tr>
<tr><td><a href="prev.html"><img src="prev.png" alt="Prev"></a></td><th></th>
<td><a href="next.html"><img src="next.png" alt="Next"></a></td></tr></table></div>
<div role="navigation"><a href="/">Home</a> › <a href="/docs">Docs</a></div>
<h1>Chapter 1. Basics</h1>
<p>The answer is here.</p>
<table><tr><td><img src="note.png"></td><td> </td></tr>
<tr><td>Note</td><td>Read it.</td></tr></table>
<div class="navfooter"><table><tr><td>Up</td><td>Home</td></tr></table></div>
</body></html>"""


def test_navigation_blocks_are_dropped(extractor: SniffingTextExtractor) -> None:
    """DocBook's navheader and navfooter, and anything marked role="navigation", are links
    between pages, not the page's text."""
    extracted = extractor.extract(NAVIGATED.encode(), "chapter.html")
    text = "\n".join(section.text for section in extracted.sections)
    assert [section.heading_path for section in extracted.sections] == [("Chapter 1. Basics",)]
    assert "Home" not in text and "Up" not in text and "Docs" not in text


def test_a_table_row_of_empty_cells_leaves_no_line(extractor: SniffingTextExtractor) -> None:
    text = text_of(extractor, NAVIGATED.encode())
    assert text == "Chapter 1. Basics\n\nThe answer is here.\n\nNote | Read it."
