"""HTML text through selectolax's lexbor parser."""

from __future__ import annotations

import codecs
import re
from itertools import accumulate

from selectolax.lexbor import LexborHTMLParser, LexborNode

from application.errors import DocumentTooLarge
from application.ports import ExtractedText, TextExtractor
from infrastructure.extraction import media_types
from infrastructure.extraction.limits import ExtractionLimits, SectionBuilder, check_input
from infrastructure.extraction.text_decoding import decode_text, evident_encoding

# Markers woven into the tree before flattening it to text; private-use characters, which are
# removed from the input first so the page itself cannot forge them.
_BLOCK, _LINE, _CELL, _HEADING, _HEADING_END = "\ue000", "\ue001", "\ue002", "\ue003", "\ue004"
_MARKERS = {ord(marker): None for marker in (_BLOCK, _LINE, _CELL, _HEADING, _HEADING_END)}
_DROPPED = ["script", "style", "noscript", "template", "nav", "aside", "footer", "svg", "iframe"]
# Links between pages, not a page's text: ARIA's navigation role, DocBook's navigation bars.
_NAVIGATION = '[role="navigation"], div.navheader, div.navfooter'
_CONTENT = ("main", "article")
_HEADINGS = "h1, h2, h3, h4, h5, h6"
_BLOCKS = (
    "p, div, hr, section, article, main, header, blockquote, table, ul, ol, dl, "
    "figure, figcaption, caption, address, details, summary, form, fieldset"
)
_LINES = "li, tr, br, dt, dd"
_CELLS = "td, th"
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.IGNORECASE)
_WINDOWS_1252_ALIASES = {"latin_1", "iso8859-1", "ascii"}
_VOID_OR_SELF_CLOSING = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead",
    "tbody", "tfoot", "colgroup", "rb", "rt", "rp", "html", "head", "body",
}  # fmt: skip
# An opening or closing tag of an element that can nest (group 1 is "/" for a closing tag).
_NESTING_TAG = re.compile(
    rf"<(/?)(?!(?:{'|'.join(sorted(_VOID_OR_SELF_CLOSING, key=len, reverse=True))})[\s/>])[A-Za-z]",
    re.IGNORECASE,
)
_SECTION_SPLIT = re.compile(f"{_HEADING}([1-6])([^{_HEADING_END}]*){_HEADING_END}")


class SelectolaxHtmlExtractor(TextExtractor):
    """The readable text of a page, split into sections at `h1`..`h6` with heading paths.

    Scripts, styles, navigation (`<nav>`, `role="navigation"`, DocBook's navigation bars),
    asides, footers and page headers are dropped, and table rows without text; when the page
    has a `<main>` or `<article>`, only that is read. Block elements break lines, table cells
    are joined by " | ", `<pre>` keeps its lines. The encoding comes from a BOM, then a
    `<meta charset>`, then strict UTF-8, then charset_normalizer. Element nesting past
    `max_html_depth` is refused (`DocumentTooLarge`) before parsing, since the parser's cost
    grows with the square of the depth; the parser and the walk never recurse in Python.
    """

    def __init__(self, *, limits: ExtractionLimits) -> None:
        self._limits = limits

    def extract(
        self, data: bytes, filename: str | None = None, declared_media_type: str | None = None
    ) -> ExtractedText:
        check_input(data, self._limits)
        markup = decode_html(data).translate(_MARKERS)
        _check_depth(markup, self._limits.max_html_depth)
        tree = LexborHTMLParser(markup)
        tree.strip_tags(_DROPPED)
        for navigation in reversed(tree.css(_NAVIGATION)):
            navigation.decompose()
        title = tree.css_first("title")
        content = _content_root(tree)
        builder = SectionBuilder(self._limits)
        if content is not None:
            _add_sections(builder, _marked_text(content))
        return builder.build(
            media_types.HTML, filename=filename, title=title.text() if title else None
        )


def decode_html(data: bytes) -> str:
    """The page as text: its evident encoding (BOM or UTF-16's NULs), else `<meta charset>`,
    else UTF-8, else a detected encoding."""
    if evident_encoding(data):
        return decode_text(data)
    declared = _declared_encoding(data[:4096])
    if declared:
        return data.decode(declared, errors="replace")
    return decode_text(data)


def _declared_encoding(head: bytes) -> str | None:
    match = _META_CHARSET.search(head)
    if not match:
        return None
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
    except LookupError:
        return None
    if name.startswith(("utf-16", "utf-32")):
        return "utf-8"
    return "cp1252" if name in _WINDOWS_1252_ALIASES else name


def _check_depth(markup: str, max_depth: int) -> None:
    """Estimate the deepest element nesting from the tags alone, without parsing."""
    if markup.count("<") <= max_depth:
        return
    steps = (-1 if closing else 1 for closing in _NESTING_TAG.findall(markup))
    if max(accumulate(steps, _step_not_below_zero), default=0) > max_depth:
        raise DocumentTooLarge(
            f"the HTML nests elements more than {max_depth} deep, the limit (max_html_depth)"
        )


def _step_not_below_zero(depth: int, step: int) -> int:
    return max(depth + step, 0)


def _content_root(tree: LexborHTMLParser) -> LexborNode | None:
    for tag in _CONTENT:
        node = tree.css_first(tag)
        if node is not None:
            return node
    return tree.body


def _marked_text(content: LexborNode) -> str:
    """The content's text with block breaks, cells, `<pre>` lines and headings marked."""
    for header in reversed(content.css("header")):
        if not _within(header, _CONTENT):
            header.decompose()
    for heading in reversed(content.css(_HEADINGS)):
        level = str(heading.tag)[1]
        title = " ".join(heading.text(deep=True).translate(_MARKERS).split())
        heading.replace_with(f"{_BLOCK}{_HEADING}{level}{title}{_HEADING_END}{_BLOCK}")
    for pre in reversed(content.css("pre")):
        lines = pre.text(deep=True).translate(_MARKERS).replace("\n", _LINE)
        pre.replace_with(f"{_BLOCK}{lines}{_BLOCK}")
    for block in content.css(_BLOCKS):
        block.insert_after(_BLOCK)
    for line in content.css(_LINES):
        line.insert_after(_LINE)
    for cell in content.css(_CELLS):
        cell.insert_after(_CELL)
    return content.text(deep=True, separator="", strip=False)


def _within(node: LexborNode, tags: tuple[str, ...]) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.tag in tags:
            return True
        parent = parent.parent
    return False


def _add_sections(builder: SectionBuilder, marked: str) -> None:
    parts = _SECTION_SPLIT.split(marked)
    builder.text(_plain(parts[0]))
    for index in range(1, len(parts), 3):
        level, title, body = parts[index : index + 3]
        builder.heading(int(level), title)
        builder.text(_plain(body))


def _plain(marked: str) -> str:
    """Collapse HTML whitespace, then turn the markers into line breaks and separators."""
    text = " ".join(marked.split())
    text = re.sub(f"{_CELL}\\s*(?=[{_BLOCK}{_LINE}]|$)", "", text)
    text = text.replace(_CELL, " | ").replace(_LINE, "\n").replace(_BLOCK, "\n\n")
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
    text = "\n".join(line for line in text.split("\n") if not _only_separators(line))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _only_separators(line: str) -> bool:
    """A table row whose cells hold no text (images, spacers): separators and nothing else."""
    return "|" in line and not line.strip(" |")
