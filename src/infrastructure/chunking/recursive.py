"""A token-aware recursive chunker: split on structure, then merge greedily up to a token budget."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from application.ports import Chunker, ExtractedText, TextSection, TokenCounter, TokenSpans
from domain import Chunk, context_line

#: Boundaries tried in order, coarsest first: blank lines, line breaks, sentence ends, spaces.
_SEPARATORS = (
    re.compile(r"\n[^\S\n]*\n\s*"),
    re.compile(r"\s*\n\s*"),
    re.compile(r"(?<=[.!?;:…])\s+|(?<=[。！？；])"),
    re.compile(r"\s+"),
)
_SENTENCE_START = _SEPARATORS[2]
_WORD_START = _SEPARATORS[3]
_NON_SPACE = re.compile(r"\S")
_SECTION_JOINER = "\n\n"
#: Sections are joined into one text up to this many characters, so a long document is chunked
#: a stretch at a time (its token spans and pieces are those of one stretch, and no copy of the
#: whole text is made). A single longer section is one text by itself.
_RUN_CHARS = 1 << 20
#: Paragraphs (lines, sentences) of at most this fraction of the budget are not left as a chunk
#: of their own before one that has to be split: they lead into it.
_LEAD_IN_FRACTION = 8

Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class _Run:
    """Consecutive sections under one heading path, joined into one text."""

    text: str
    heading_path: tuple[str, ...]
    offsets: list[int]
    pages: list[int | None]

    def page_span(self, start: int, stop: int) -> tuple[int | None, int | None]:
        first = bisect_right(self.offsets, start) - 1
        last = bisect_right(self.offsets, stop - 1) - 1
        pages = [page for page in self.pages[first : last + 1] if page is not None]
        return (min(pages), max(pages)) if pages else (None, None)


class RecursiveTokenChunker(Chunker):
    """Splits text on its structure and packs the pieces into chunks of at most `max_tokens`.

    Consecutive sections with the same heading path are read as one text (their page span is
    kept per chunk), up to about a million characters; a chunk never mixes heading paths, nor
    spans two such texts. Within such a text, pieces are found by
    recursive splitting: blank lines, then lines, then sentences, then words, then token
    boundaries for a word longer than the budget. Adjacent pieces are merged greedily while they
    fit; pieces of at most an eighth of the budget (a heading, "For example:") before a piece that
    has to be split are split along with it, so they start its first chunk rather than being a
    chunk alone (words excepted). Each chunk after the first of a text starts with the last
    ≤ `overlap_tokens` tokens of the previous one, cut at a sentence or word start; content is
    packed to `max_tokens - overlap_tokens` so that a chunk with its overlap still fits in
    `max_tokens`.

    With `embed_context`, each chunk carries the context line `title › heading path` to be
    embedded before its text; the line and its newline are counted against `max_tokens`, so
    the embedded text fits too (a context line longer than half the budget is cut to that half).

    Tokens are counted with `token_counter`, once per text: pass the embedder's own
    (`Embedder.token_counter`) so chunks fit the model, and cap `max_tokens` at the embedder's
    `max_input_tokens` (the composition root does both). Pure computation: no I/O.
    Cutting a word longer than the budget at token boundaries may make the model tokenize the cut
    pieces slightly differently than the whole word.
    """

    def __init__(
        self,
        *,
        max_tokens: int,
        overlap_tokens: int,
        token_counter: TokenCounter,
        embed_context: bool,
    ) -> None:
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        if not 0 <= overlap_tokens < max_tokens:
            raise ValueError("overlap_tokens must be at least 0 and less than max_tokens")
        self._overlap_tokens = overlap_tokens
        self._budget = max_tokens - overlap_tokens
        self._token_counter = token_counter
        self._embed_context = embed_context

    def split(self, text: ExtractedText) -> list[Chunk]:
        chunks: list[Chunk] = []
        for run in _runs(text.sections):
            context, budget = self._context_and_budget(text.title, run.heading_path)
            metadata = {"headings": list(run.heading_path)}  # one per run: chunks only read it
            for start, stop, tokens in self._split_run(run.text, budget):
                page_start, page_end = run.page_span(start, stop)
                chunks.append(
                    Chunk(
                        ordinal=len(chunks),
                        text=run.text[start:stop],
                        token_count=tokens,
                        page_start=page_start,
                        page_end=page_end,
                        metadata=metadata,
                        context=context,
                    )
                )
        return chunks

    def _context_and_budget(self, title: str | None, headings: tuple[str, ...]) -> tuple[str, int]:
        """The context line for chunks under `headings`, and the tokens left for their text."""
        if not self._embed_context:
            return "", self._budget
        context = context_line(title, headings)
        if not context:
            return "", self._budget
        limit = self._budget // 2
        spans = self._token_counter.token_spans(context)
        if len(spans) >= limit:
            context = context[: spans.start_of(max(limit - 1, 0))].rstrip()
        if not context:
            return "", self._budget
        return context, self._budget - self._token_counter.count(f"{context}\n")

    def _split_run(self, text: str, budget: int) -> Iterator[tuple[int, int, int]]:
        if not _NON_SPACE.search(text):
            return
        spans = self._token_counter.token_spans(text)
        previous: Span | None = None
        for span in self._pack(text, spans, (0, len(text)), 0, budget):
            start, stop = _trim(text, span)
            if previous is not None:
                start = self._overlap_start(text, spans, previous, start)
            yield start, stop, self._count(text, spans, start, stop)
            previous = (start, stop)

    def _count(self, text: str, spans: TokenSpans, start: int, stop: int) -> int:
        """Tokens of `text[start:stop]`: from the whole text's spans, unless a word was cut at an
        end (a cut piece of a word may tokenize differently on its own)."""
        if _inside_a_word(text, start) or _inside_a_word(text, stop):
            return len(self._token_counter.token_spans(text[start:stop]))
        return spans.count(start, stop)

    def _pack(
        self, text: str, spans: TokenSpans, span: Span, level: int, budget: int
    ) -> list[Span]:
        """`span` as pieces of at most `budget`, split at `level` or finer, merged greedily."""
        if spans.count(*span) <= budget:
            return [span]
        if level == len(_SEPARATORS):
            return self._cut_tokens(text, spans, span, budget, budget)
        parts = _parts(text, span, _SEPARATORS[level])
        if len(parts) == 1:
            return self._pack(text, spans, span, level + 1, budget)
        first, past = spans.counts(*_columns(parts))
        packed: list[Span] = []
        run_start = -1
        for i, (start, stop) in enumerate(parts):
            if past[i] - first[i] > budget:
                if run_start >= 0 and _leads_in(level, past[i - 1] - first[run_start], budget):
                    start = parts[run_start][0]
                elif run_start >= 0:
                    packed.append((parts[run_start][0], parts[i - 1][1]))
                run_start = -1
                packed.extend(self._pack(text, spans, (start, stop), level + 1, budget))
            elif run_start >= 0 and past[i] - first[run_start] <= budget:
                continue
            else:
                if run_start >= 0:
                    packed.append((parts[run_start][0], parts[i - 1][1]))
                run_start = i
        if run_start >= 0:
            packed.append((parts[run_start][0], parts[-1][1]))
        return packed

    def _cut_tokens(
        self, text: str, spans: TokenSpans, span: Span, budget: int, step: int
    ) -> list[Span]:
        """A word longer than `budget`, cut every `step` tokens into pieces that each fit the
        budget when tokenized on their own (a piece that does not is cut finer)."""
        start, stop = span
        first, past = spans.first_token(start), spans.past_token(stop)
        cuts = [start]
        for index in range(first + step, past, step):
            cut = spans.start_of(index)
            if cut > cuts[-1]:
                cuts.append(cut)
        cuts.append(stop)
        pieces: list[Span] = []
        for piece in zip(cuts, cuts[1:], strict=False):
            fits = len(self._token_counter.token_spans(text[piece[0] : piece[1]])) <= budget
            if fits or step == 1:
                pieces.append(piece)
            else:
                pieces.extend(self._cut_tokens(text, spans, piece, budget, max(1, step // 2)))
        return pieces

    def _overlap_start(self, text: str, spans: TokenSpans, previous: Span, start: int) -> int:
        """Where the chunk starting at `start` begins once the previous chunk's tail is added."""
        if self._overlap_tokens == 0:
            return start
        prev_start, prev_stop = previous
        last = spans.past_token(prev_stop)
        index = max(last - self._overlap_tokens, spans.first_token(prev_start))
        if index >= last:
            return start
        earliest = max(spans.start_of(index), prev_start + 1)
        for boundary in (_SENTENCE_START, _WORD_START):
            if boundary is _SENTENCE_START and self._overlap_tokens < 4:
                continue
            found = boundary.search(text, earliest - 1, prev_stop)
            if found is None or not prev_start < found.end() < prev_stop:
                continue
            tokens = spans.count(found.end(), prev_stop)
            if boundary is _WORD_START or tokens * 2 >= self._overlap_tokens:
                return found.end()
        return start


def _runs(sections: Sequence[TextSection]) -> Iterator[_Run]:
    """Consecutive sections with one heading path, up to `_RUN_CHARS` characters together;
    blank sections hold nothing, not even a page."""
    group: list[TextSection] = []
    chars = 0
    for section in _taken(sections):
        if not _NON_SPACE.search(section.text):
            continue
        if group and (
            section.heading_path != group[0].heading_path or chars + len(section.text) > _RUN_CHARS
        ):
            yield _join(group)
            group, chars = [], 0
        group.append(section)
        chars += len(section.text) + len(_SECTION_JOINER)
    if group:
        yield _join(group)


def _taken(sections: Sequence[TextSection]) -> Iterator[TextSection]:
    """The sections in order, taken out of `sections` if it is a list (so each is let go once
    chunked, unless its caller holds it too)."""
    if not isinstance(sections, list):
        yield from sections
        return
    sections.reverse()
    while sections:
        yield sections.pop()


def _join(sections: list[TextSection]) -> _Run:
    offsets: list[int] = []
    position = 0
    for section in sections:
        offsets.append(position)
        position += len(section.text) + len(_SECTION_JOINER)
    return _Run(
        text=_SECTION_JOINER.join(section.text for section in sections),
        heading_path=tuple(sections[0].heading_path),
        offsets=offsets,
        pages=[section.page for section in sections],
    )


def _leads_in(level: int, tokens: int, budget: int) -> bool:
    """Whether pieces of `tokens` split at `level`, before a piece too long for the budget, are
    too short to be a chunk of their own (a heading, "For example:"): they are then packed with
    the start of that piece rather than left alone. Words are not: a word before a word longer
    than the budget stays apart from its cut pieces."""
    return level < len(_SEPARATORS) - 1 and tokens <= budget // _LEAD_IN_FRACTION


def _parts(text: str, span: Span, separator: re.Pattern[str]) -> list[Span]:
    """The stretches of `span` between matches of `separator` that hold a non-space character."""
    start, stop = span
    parts: list[Span] = []
    position = start
    for match in separator.finditer(text, start, stop):
        if match.start() > position:
            parts.append((position, match.start()))
        position = max(position, match.end())
    if position < stop:
        parts.append((position, stop))
    return [part for part in parts if _NON_SPACE.search(text, *part)]


def _columns(parts: list[Span]) -> tuple[list[int], list[int]]:
    return [start for start, _ in parts], [stop for _, stop in parts]


def _inside_a_word(text: str, position: int) -> bool:
    if not 0 < position < len(text):
        return False
    return not (text[position - 1].isspace() or text[position].isspace())


def _trim(text: str, span: Span) -> Span:
    start, stop = span
    piece = text[start:stop]
    return start + len(piece) - len(piece.lstrip()), stop - len(piece) + len(piece.rstrip())
