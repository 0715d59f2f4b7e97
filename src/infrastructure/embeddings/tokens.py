"""The embedders' token counters: where each token of a text starts and ends, computed once.

A counter tokenizes a whole text in one pass and returns its spans; the chunker then counts
the tokens between any two character offsets by binary search instead of tokenizing candidate
pieces again and again (token counting is what costs, not splitting). `RegexTokenCounter` is the
estimate of embedders without a tokenizer; `HuggingFaceTokenCounter` is a model's own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from application.ports import TokenCounter, TokenSpans

Offsets = npt.NDArray[np.int64]

_SPACE = 0
_WORD = 1
_MARK = 2
_BLOCK_CHARS = 1 << 20
_PIECE_CHARS = 4096
#: The longest token `RegexTokenCounter` counts: a longer run of word characters is one token per
#: this many characters, as a subword tokenizer splits a word it does not know into pieces.
WORD_PIECE_CHARS = 16
_WHITESPACE = re.compile(r"\s")
_WORD_CHAR = re.compile(r"\w")
_SPACE_CHAR = re.compile(r"\s")


class NumpyTokenSpans(TokenSpans):
    """The character spans of a text's tokens, in order: `starts[i]`..`ends[i]` is token i."""

    __slots__ = ("ends", "starts")

    def __init__(self, starts: Offsets, ends: Offsets) -> None:
        self.starts = starts
        self.ends = ends

    def __len__(self) -> int:
        return len(self.starts)

    def count(self, start: int, stop: int) -> int:
        first = int(self.ends.searchsorted(start, side="right"))
        return max(0, int(self.starts.searchsorted(stop, side="left")) - first)

    def counts(self, starts: Sequence[int], stops: Sequence[int]) -> tuple[list[int], list[int]]:
        first = self.ends.searchsorted(starts, side="right")
        past = self.starts.searchsorted(stops, side="left")
        return first.tolist(), past.tolist()

    def first_token(self, offset: int) -> int:
        return int(self.ends.searchsorted(offset, side="right"))

    def past_token(self, offset: int) -> int:
        return int(self.starts.searchsorted(offset, side="left"))

    def start_of(self, index: int) -> int:
        return int(self.starts[index])


class RegexTokenCounter(TokenCounter):
    """Words and punctuation marks, `\\w{1,16}|[^\\w\\s]` (the estimate used without a model
    tokenizer): a word longer than `WORD_PIECE_CHARS` (16) characters counts one token per 16
    of them, so no token of the estimate hides an unbounded run of letters from the chunker.

    Computed with numpy over character classes rather than a regex scan, so a 20 MB text takes a
    fraction of a second; the result equals `len(re.findall(r"\\w{1,16}|[^\\w\\s]", text))`. The
    text is classified `block_chars` characters at a time, so the working arrays follow the
    block, not the text (a 50 MB section once took 520 MB of them at its peak).
    """

    def __init__(self, block_chars: int = _BLOCK_CHARS) -> None:
        if block_chars < 1:
            raise ValueError("block_chars must be at least 1")
        self._block_chars = block_chars

    _ascii = np.array(
        [
            _WORD if _WORD_CHAR.match(chr(c)) else _SPACE if _SPACE_CHAR.match(chr(c)) else _MARK
            for c in range(128)
        ],
        dtype=np.uint8,
    )

    def token_spans(self, text: str) -> NumpyTokenSpans:
        starts: list[Offsets] = [np.zeros(0, dtype=np.int64)]
        ends: list[Offsets] = [np.zeros(0, dtype=np.int64)]
        run_start = 0  # where the run of word characters reaching the current block began
        word_before = False
        for begin in range(0, len(text), self._block_chars):
            stop = min(begin + self._block_chars, len(text))
            word = self._classes(text[begin:stop])
            mark = word == _MARK
            word = word == _WORD
            before = np.empty_like(word)
            before[0] = word_before
            before[1:] = word[:-1]
            after = np.empty_like(word)
            after[-1] = stop < len(text) and self._classes(text[stop])[0] == _WORD
            after[:-1] = word[1:]
            offsets = np.arange(begin, stop, dtype=np.int64)
            run_starts = np.where(word & ~before, offsets, run_start if word_before else 0)
            np.maximum.accumulate(run_starts, out=run_starts)
            in_run = (offsets - run_starts) % WORD_PIECE_CHARS
            starts.append(offsets[(word & (~before | (in_run == 0))) | mark])
            piece_end = word & (~after | (in_run == WORD_PIECE_CHARS - 1))
            ends.append(offsets[piece_end | mark] + 1)
            word_before = bool(word[-1])
            run_start = int(run_starts[-1])
        return NumpyTokenSpans(np.concatenate(starts), np.concatenate(ends))

    def count(self, text: str) -> int:
        return len(self.token_spans(text))

    def _classes(self, block: str) -> npt.NDArray[np.uint8]:
        codes = np.frombuffer(block.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        ascii_mask = codes < 128
        if ascii_mask.all():
            return self._ascii[codes]
        classes = np.empty(len(codes), dtype=np.uint8)
        classes[ascii_mask] = self._ascii[codes[ascii_mask]]
        others = codes[~ascii_mask]
        distinct = np.unique(others)
        distinct_classes = np.array([_classify(chr(c)) for c in distinct.tolist()], dtype=np.uint8)
        classes[~ascii_mask] = distinct_classes[np.searchsorted(distinct, others)]
        return classes


def _classify(char: str) -> int:
    if _WORD_CHAR.match(char):
        return _WORD
    return _SPACE if _SPACE_CHAR.match(char) else _MARK


class HuggingFaceTokenCounter(TokenCounter):
    """The embedding model's own tokenizer (a Hugging Face fast tokenizer), for exact chunk sizes.

    Accepts a `tokenizers.Tokenizer` or a `transformers` fast tokenizer; works on a private copy
    with truncation and padding off. Long texts are cut at whitespace into pieces that are
    tokenized in parallel; tokenizers that split on whitespace (WordPiece, as in BERT-family
    models) give the same tokens as for the whole text.
    """

    def __init__(self, tokenizer: Any) -> None:
        from tokenizers import Tokenizer

        backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
        if not isinstance(backend, Tokenizer):
            raise TypeError("a Hugging Face fast tokenizer (tokenizers.Tokenizer) is needed")
        self._tokenizer = Tokenizer.from_str(backend.to_str())
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()

    @classmethod
    def from_file(cls, path: str | Path) -> HuggingFaceTokenCounter:
        """Loads `tokenizer.json` from `path` (the file, or the model directory holding it)."""
        from tokenizers import Tokenizer

        file = Path(path)
        if file.is_dir():
            file = file / "tokenizer.json"
        return cls(Tokenizer.from_file(str(file)))

    def token_spans(self, text: str) -> NumpyTokenSpans:
        bounds = piece_bounds(text)
        encodings = self._tokenizer.encode_batch(
            [text[a:b] for a, b in bounds], add_special_tokens=False
        )
        parts = [
            np.array(encoding.offsets, dtype=np.int64).reshape(-1, 2) + a
            for (a, _), encoding in zip(bounds, encodings, strict=True)
        ]
        spans = np.concatenate(parts) if parts else np.zeros((0, 2), dtype=np.int64)
        return NumpyTokenSpans(np.ascontiguousarray(spans[:, 0]), np.ascontiguousarray(spans[:, 1]))

    def count(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)


def piece_bounds(text: str) -> list[tuple[int, int]]:
    bounds: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        stop = min(len(text), start + _PIECE_CHARS)
        if stop < len(text):
            space = _WHITESPACE.search(text, stop)
            stop = space.start() if space else len(text)
        bounds.append((start, stop))
        start = stop
    return bounds
