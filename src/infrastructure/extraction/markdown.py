"""Markdown text through markdown-it-py (CommonMark plus tables)."""

from __future__ import annotations

from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.token import Token

from application.ports import ExtractedText, TextExtractor
from infrastructure.extraction import media_types
from infrastructure.extraction.limits import ExtractionLimits, SectionBuilder, check_input
from infrastructure.extraction.text_decoding import decode_text

_CODE_BLOCKS = {"fence", "code_block", "html_block"}
_LINE_BREAKS = {"softbreak", "hardbreak"}
_INLINE_TEXT = {"text", "code_inline", "image"}


class MarkdownItExtractor(TextExtractor):
    """Sections under ATX and setext headings with their heading path; markup removed.

    Paragraphs and list items keep their words (link targets and emphasis marks dropped, image
    alt text kept), code blocks keep their text verbatim, table rows join cells with " | ".
    The encoding is detected like plain text's. Nesting deeper than markdown-it's limit (20
    levels) is not descended into. Raises like `PlainTextExtractor`.
    """

    def __init__(self, limits: ExtractionLimits | None = None) -> None:
        self._limits = limits or ExtractionLimits()
        self._parser = MarkdownIt("commonmark").enable("table")

    def extract(self, data: bytes, filename: str | None = None) -> ExtractedText:
        check_input(data, self._limits)
        tokens = self._parser.parse(decode_text(data))
        builder = SectionBuilder(self._limits)
        _walk(tokens, builder)
        return builder.build(media_types.MARKDOWN)


def _walk(tokens: Sequence[Token], builder: SectionBuilder) -> None:
    rows: list[str]
    index, rows = 0, []
    while index < len(tokens):
        token = tokens[index]
        if token.type == "heading_open":
            builder.heading(int(token.tag[1:]), _inline_text(tokens[index + 1]))
            index += 2
        elif token.type == "tr_open":
            index, row = _row(tokens, index + 1)
            rows.append(row)
        elif token.type == "table_close":
            builder.text("\n".join(rows))
            rows = []
        elif token.type == "inline":
            builder.text(_inline_text(token))
        elif token.type in _CODE_BLOCKS:
            builder.text(token.content)
        index += 1


def _row(tokens: Sequence[Token], index: int) -> tuple[int, str]:
    """The table row starting at `index` (after `tr_open`), and the index of its `tr_close`."""
    cells = []
    while tokens[index].type != "tr_close":
        if tokens[index].type == "inline":
            cells.append(" ".join(_inline_text(tokens[index]).split()))
        index += 1
    return index, " | ".join(cells)


def _inline_text(token: Token) -> str:
    if token.children is None:
        return token.content
    parts = []
    for child in token.children:
        if child.type in _INLINE_TEXT:
            parts.append(child.content)
        elif child.type in _LINE_BREAKS:
            parts.append("\n")
    return "".join(parts)
