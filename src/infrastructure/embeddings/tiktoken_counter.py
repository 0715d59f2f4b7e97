"""OpenAI models' own tokenizer (tiktoken), loaded without the internet.

tiktoken fetches an encoding's ranks from the internet on first use. The one OpenAI's embedding
models use, `cl100k_base`, ships with this package (`data/cl100k_base.tiktoken.gz`, checked
against the hash tiktoken expects); an encoding that cannot be had offline falls back to the
word-and-punctuation estimate, said once in the log.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import logging
import os
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from application.ports import TokenCounter
from infrastructure.embeddings.tokens import NumpyTokenSpans, RegexTokenCounter, piece_bounds

_log = logging.getLogger(__name__)

_DATA = Path(__file__).parent / "data"
#: The encodings shipped here: name -> (file, the SHA-256 of its unpacked text, as tiktoken's).
_VENDORED = {
    "cl100k_base": (
        "cl100k_base.tiktoken.gz",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}
#: cl100k_base's pre-tokenizer pattern and special tokens, as tiktoken_ext.openai_public has them.
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_CL100K_SPECIAL = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}


class TiktokenCounter(TokenCounter):
    """Counts with a tiktoken `Encoding` (special-token text counted as ordinary text).

    Long texts are cut at whitespace into pieces encoded in parallel, as `HuggingFaceTokenCounter`
    does; token spans are character offsets recovered from each token's bytes.
    """

    def __init__(self, encoding: Any) -> None:
        self._encoding = encoding

    @property
    def name(self) -> str:
        """The encoding's name, e.g. `cl100k_base`."""
        return str(self._encoding.name)

    def token_spans(self, text: str) -> NumpyTokenSpans:
        bounds = piece_bounds(text)
        pieces = self._encode([text[a:b] for a, b in bounds])
        starts: list[np.ndarray[Any, np.dtype[np.int64]]] = [np.zeros(0, dtype=np.int64)]
        ends: list[np.ndarray[Any, np.dtype[np.int64]]] = [np.zeros(0, dtype=np.int64)]
        for (a, b), tokens in zip(bounds, pieces, strict=True):
            first, past = self._char_spans(text[a:b], tokens)
            starts.append(first + a)
            ends.append(past + a)
        return NumpyTokenSpans(np.concatenate(starts), np.concatenate(ends))

    def count(self, text: str) -> int:
        return sum(len(t) for t in self._encode(_pieces(text)))

    def _encode(self, pieces: list[str]) -> list[list[int]]:
        """Each piece's tokens; several pieces in parallel (tiktoken starts a thread pool per
        batch, which costs more than encoding one short text: 180 µs against 10)."""
        if len(pieces) == 1:
            return [self._encoding.encode_ordinary(pieces[0])]
        return list(self._encoding.encode_ordinary_batch(pieces))

    def _char_spans(
        self, piece: str, tokens: list[int]
    ) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.int64]]]:
        """Each token's first character and the character past its last one (a token holding
        part of a multi-byte character takes that whole character)."""
        raw = np.frombuffer(piece.encode("utf-8", "surrogatepass"), dtype=np.uint8)
        lengths = [len(b) for b in self._encoding.decode_tokens_bytes(tokens)]
        byte_ends = np.cumsum(np.array(lengths, dtype=np.int64))
        byte_starts = byte_ends - np.array(lengths, dtype=np.int64)
        # chars_before[i]: how many characters start in the first i bytes.
        chars_before = np.concatenate(([0], np.cumsum((raw & 0xC0) != 0x80)))
        return chars_before[byte_starts + 1] - 1, chars_before[byte_ends]


def _pieces(text: str) -> list[str]:
    return [text[a:b] for a, b in piece_bounds(text)]


def token_counter_for_model(model: str) -> TokenCounter:
    """The tokenizer of OpenAI model `model` when tiktoken knows it and its encoding can be
    had offline; else the word-and-punctuation estimate (said once per model in the log)."""
    counter = _openai_counter(model)
    return counter if counter is not None else RegexTokenCounter()


@cache
def _openai_counter(model: str) -> TiktokenCounter | None:
    import tiktoken

    try:
        name = tiktoken.encoding_name_for_model(model)
    except KeyError:
        return None  # not an OpenAI model: its tokenizer is unknown here
    encoding = _offline_encoding(tiktoken, name)
    if encoding is None:
        _log.warning(
            "tokenizer %s of %s cannot be loaded offline; chunks and requests are sized with "
            "the word-and-punctuation estimate instead",
            name,
            model,
        )
        return None
    return TiktokenCounter(encoding)


def _offline_encoding(tiktoken: Any, name: str) -> Any | None:
    if name in _VENDORED:
        return _vendored(tiktoken, name)
    if os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR"):
        try:  # an operator may have placed the file in tiktoken's own cache
            return tiktoken.get_encoding(name)
        except Exception:  # any failure means "not offline"
            return None
    return None


def _vendored(tiktoken: Any, name: str) -> Any:
    file, expected = _VENDORED[name]
    data = gzip.decompress((_DATA / file).read_bytes())
    if hashlib.sha256(data).hexdigest() != expected:
        raise ValueError(f"{file}: the vendored {name} ranks are damaged")
    ranks = {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in data.splitlines() if line)
    }
    return tiktoken.Encoding(
        name=name, pat_str=_CL100K_PATTERN, mergeable_ranks=ranks, special_tokens=_CL100K_SPECIAL
    )
