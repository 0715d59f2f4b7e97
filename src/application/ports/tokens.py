"""Counting a text's tokens the way an embedder reads them, so chunks can be sized to fit it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class TokenSpans(Protocol):
    """Where each token of one text starts and ends, in text order, computed once.

    Ranges are character offsets into the text that was tokenized; a token belongs to a range
    when any of its characters do.
    """

    def __len__(self) -> int:
        """How many tokens the whole text takes."""
        ...

    def count(self, start: int, stop: int) -> int:
        """How many tokens overlap the characters `start`..`stop`."""
        ...

    def counts(self, starts: Sequence[int], stops: Sequence[int]) -> tuple[list[int], list[int]]:
        """For many ranges at once: the index of the first token each range overlaps, and the
        index past the last one (so the tokens of ranges i..j number `past[j] - first[i]`)."""
        ...

    def first_token(self, offset: int) -> int:
        """The index of the first token ending after `offset`."""
        ...

    def past_token(self, offset: int) -> int:
        """The index past the last token starting before `offset`."""
        ...

    def start_of(self, index: int) -> int:
        """The character offset where token `index` starts."""
        ...


class TokenCounter(Protocol):
    """Splits texts into the tokens one embedder counts: its model's own, or an estimate.

    The chunker sizes chunks with it, so a chunk of `n` tokens is `n` tokens to the embedder.
    Pure computation: no I/O, never raises for any text.
    """

    def token_spans(self, text: str) -> TokenSpans:
        """The spans of `text`'s tokens, special tokens (such as a model's [CLS]) left out."""
        ...

    def count(self, text: str) -> int:
        """How many tokens `text` takes, special tokens left out."""
        ...
