"""Markdown text through markdown-it-py (CommonMark plus tables)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from markdown_it import MarkdownIt
from markdown_it.token import Token

from application.ports import ExtractedText, TextExtractor
from infrastructure.extraction import media_types
from infrastructure.extraction.limits import ExtractionLimits, SectionBuilder, check_input
from infrastructure.extraction.text_decoding import decode_text

_CODE_BLOCKS = {"fence", "code_block", "html_block"}
_LINE_BREAKS = {"softbreak", "hardbreak"}
_INLINE_TEXT = {"text", "code_inline", "image"}
#: Text is parsed in pieces of about this many characters: markdown-it's tokens take about ten
#: times the text they come from, so a 100 MB file parsed whole peaked above 1 GB.
PIECE_CHARS = 256 * 1024
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
#: An HTML tag, by its name, or a comment: dropped. Anything else markdown-it reads as inline
#: HTML (`<N>`, `<string>`, `<file-name>`) is text in angle brackets, and kept.
_HTML_TAG = re.compile(
    r"<(?:!--|/?(?:a|abbr|address|article|aside|audio|b|bdi|bdo|blockquote|body|br|button"
    r"|canvas|caption|center|cite|code|col|colgroup|dd|del|details|dfn|div|dl|dt|em|embed"
    r"|figcaption|figure|font|footer|form|h[1-6]|head|header|hr|html|i|iframe|img|input|ins"
    r"|kbd|label|li|link|main|mark|meta|nav|object|ol|p|picture|pre|q|s|samp|script|section"
    r"|select|small|source|span|strike|strong|style|sub|summary|sup|table|tbody|td|textarea"
    r"|tfoot|th|thead|time|title|tr|tt|u|ul|var|video|wbr)(?=[\s/>]))",
    re.IGNORECASE,
)


class MarkdownItExtractor(TextExtractor):
    """Sections under ATX and setext headings with their heading path; markup removed.

    Paragraphs and list items keep their words (link targets, emphasis marks and inline HTML
    tags dropped, image alt text and other text in angle brackets kept), code blocks keep their
    text verbatim, table rows join cells with " | ".
    The encoding is detected like plain text's. Nesting deeper than markdown-it's limit (20
    levels) is not descended into. A long text is parsed in pieces cut at blank lines outside
    fenced code (`pieces`), so memory follows the piece, not the file; the one difference this
    makes is that a reference-style link defined in another piece keeps its brackets. Raises
    like `PlainTextExtractor`.
    """

    def __init__(self, *, limits: ExtractionLimits) -> None:
        self._limits = limits
        self._parser = MarkdownIt("commonmark").enable("table")

    def extract(
        self, data: bytes, filename: str | None = None, declared_media_type: str | None = None
    ) -> ExtractedText:
        check_input(data, self._limits)
        builder = SectionBuilder(self._limits)
        for piece in pieces(decode_text(data)):
            _walk(self._parser.parse(piece), builder)
        return builder.build(media_types.MARKDOWN, filename=filename)


def pieces(text: str, size: int = PIECE_CHARS) -> Iterator[str]:
    """`text` in consecutive pieces, each ending at the first blank line outside a fenced code
    block once it holds `size` characters (a text with no such line stays one piece).

    Markdown's blocks never span a blank line outside a fence, except loose lists and
    indented code, which split into two lists or two code blocks with the same text.
    """
    if len(text) <= size:
        yield text
        return
    start = position = 0
    fence: str | None = None
    while position < len(text):
        end = text.find("\n", position) + 1 or len(text)
        line = text[position:end]
        if fence is not None:
            fence = None if _closes(line, fence) else fence
        elif opening := _FENCE.match(line):
            fence = opening.group(1)
        elif end - start >= size and not line.strip():
            yield text[start:end]
            start = end
        position = end
    if start < len(text):
        yield text[start:]


def _closes(line: str, fence: str) -> bool:
    """Whether `line` closes the code block `fence` opened: the same character at least as many
    times, indented at most three spaces, nothing else on the line."""
    indent = len(line) - len(line.lstrip(" "))
    stripped = line.strip()
    return indent <= 3 and stripped.startswith(fence) and set(stripped) == {fence[0]}


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
        elif child.type == "html_inline" and not _HTML_TAG.match(child.content):
            parts.append(child.content)
    return "".join(parts)
