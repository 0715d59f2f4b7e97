"""Markdown extraction with markdown-it-py."""

from __future__ import annotations

import tracemalloc

import pytest

from application.errors import NoExtractableText
from infrastructure.extraction import MarkdownItExtractor, SniffingTextExtractor
from infrastructure.extraction.markdown import PIECE_CHARS, pieces
from tests.fixtures.defaults import extraction_limits
from tests.fixtures.files import read_data

GUIDE = """# Guide

Some *intro* with a [link](https://example.org) and `code`.

## Install

1. Download.
2. Run:

```sh
pip install thing
  --upgrade
```

### Check

| Tool | Version |
|------|---------|
| pip  | 24      |

## Usage

> Quoted advice.

![Diagram of the flow](flow.png)
"""


@pytest.fixture
def extractor() -> SniffingTextExtractor:
    return SniffingTextExtractor(limits=extraction_limits())


def test_atx_headings_build_heading_paths(extractor: SniffingTextExtractor) -> None:
    extracted = extractor.extract(GUIDE.encode(), "guide.md")
    assert extracted.media_type == "text/markdown"
    assert [s.heading_path for s in extracted.sections] == [
        ("Guide",),
        ("Guide", "Install"),
        ("Guide", "Install", "Check"),
        ("Guide", "Usage"),
    ]


def test_markup_is_removed_but_words_and_code_stay(extractor: SniffingTextExtractor) -> None:
    sections = extractor.extract(GUIDE.encode(), "guide.md").sections
    assert sections[0].text == "Guide\n\nSome intro with a link and code."
    assert "pip install thing\n  --upgrade" in sections[1].text
    assert sections[2].text == "Check\n\nTool | Version\npip | 24"
    assert sections[3].text == "Usage\n\nQuoted advice.\n\nDiagram of the flow"


def test_setext_headings_of_a_real_file(extractor: SniffingTextExtractor) -> None:
    extracted = extractor.extract(read_data("zstd-TESTING.md"), "TESTING.md")
    assert [s.heading_path for s in extracted.sections] == [
        ("Testing",),
        ("Testing", "Short Tests"),
        ("Testing", "Medium Tests"),
        ("Testing", "Long Tests"),
    ]
    assert "Valgrind Test" in extracted.sections[2].text


def test_markdown_is_recognised_without_its_extension(extractor: SniffingTextExtractor) -> None:
    assert extractor.extract(read_data("pyyaml-README.md")).media_type == "text/markdown"


def test_headings_alone_have_text(extractor: SniffingTextExtractor) -> None:
    extracted = MarkdownItExtractor(limits=extraction_limits()).extract(b"# Only a title\n")
    assert extracted.sections[0].text == "Only a title"


def test_markup_without_words_has_no_text() -> None:
    with pytest.raises(NoExtractableText):
        MarkdownItExtractor(limits=extraction_limits()).extract(b"---\n\n***\n")


def test_deep_nesting_does_not_recurse_without_bound(extractor: SniffingTextExtractor) -> None:
    text = ">" * 50_000 + " deep\n\n# After\n\nstill read\n"
    extracted = MarkdownItExtractor(limits=extraction_limits()).extract(text.encode())
    assert extracted.sections[-1].text == "After\n\nstill read"


def test_pieces_rejoin_to_the_text_and_never_cut_a_fence() -> None:
    fenced = "```\n" + "code line\n\n" * 50 + "```\n"
    text = ("Para one.\n\n" * 30 + fenced) * 20

    parts = list(pieces(text, size=200))

    assert "".join(parts) == text
    assert len(parts) > 10
    assert all(part.endswith("\n\n") for part in parts[:-1])
    assert all(part.count("```") % 2 == 0 for part in parts)  # every fence closes in its piece


def test_a_long_document_is_parsed_in_pieces_with_the_same_sections() -> None:
    copies = PIECE_CHARS // len(GUIDE) * 4
    one = MarkdownItExtractor(limits=extraction_limits()).extract(GUIDE.encode()).sections

    tracemalloc.start()
    many = (
        MarkdownItExtractor(limits=extraction_limits())
        .extract(((GUIDE + "\n") * copies).encode())
        .sections
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert many == one * copies
    # Parsed whole, this text peaked at about 110 times its size (markdown-it's tokens for all
    # of it at once); in pieces at about 30 times (mostly the many small sections it yields).
    assert peak < 60 * len(GUIDE) * copies


def test_angle_brackets_that_are_not_html_tags_are_kept(extractor: SniffingTextExtractor) -> None:
    markdown = (
        b"Returns a list of <N> items, like <string> or <foo-bar x=1>.\n\n"
        b"Some <b>bold</b> and <span class=\"x\">spanned</span> text<br/> <!-- note -->here.\n"
    )
    extracted = extractor.extract(markdown, "notes.md")
    assert extracted.media_type == "text/markdown"
    text = " ".join(section.text for section in extracted.sections)
    assert "<N>" in text and "<string>" in text and "<foo-bar x=1>" in text
    assert "bold" in text and "spanned" in text and "here" in text
    assert "<b>" not in text and "<span" not in text and "<br/>" not in text
    assert "note" not in text
