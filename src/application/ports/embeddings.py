"""Turning chunk text into vectors, and reusing vectors already computed."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol
from uuid import UUID

from application.ports.tokens import TokenCounter
from domain import Vector


class Embedder(Protocol):
    """Maps texts to fixed-length vectors.

    `model_id` names the model and everything that changes its output (including the
    dimension): vectors are reused only for the same `model_id`.
    """

    @property
    def model_id(self) -> str:
        """A stable name of the model and its settings, e.g. `hashing-v1:384`."""
        ...

    @property
    def dimension(self) -> int:
        """The length of every vector returned."""
        ...

    @property
    def token_counter(self) -> TokenCounter:
        """Counts tokens as this embedder reads them: the model's own tokenizer when it has one,
        else an estimate (words, a long one per 16 characters, and punctuation marks). The
        chunker sizes chunks with it, so a chunk within `max_input_tokens` by this count is read
        whole."""
        ...

    @property
    def max_input_tokens(self) -> int | None:
        """The most tokens the model reads of one text (it cuts the rest); None: no limit."""
        ...

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        """One vector per text, in order; the embedder batches internally as it sees fit.

        No transaction may be open while this runs. Raises `EmbedderUnavailable` (transient:
        timeouts, 429, 5xx, connection errors) or `EmbedderRejected` (permanent: 4xx, wrong
        dimension returned).
        """
        ...


class HeldVectors(Protocol):
    """Vectors received for a document's texts by an attempt that stopped before writing them,
    kept for a while so the next attempt does not ask the embedder again.

    Keys are `Chunk.embedded_sha256`, as for `EmbeddingCache`; vectors are scoped by workspace
    and `model_id`, and expire on their own (the adapter's time to live).
    """

    def hold(self, workspace_id: UUID, model_id: str, vectors: Mapping[str, Vector]) -> None:
        """Keep `vectors` (embedded-text hash -> vector) for later lookups. Raises
        `DependencyUnavailable` when the store cannot be reached."""
        ...

    def lookup(
        self, workspace_id: UUID, model_id: str, content_hashes: Collection[str]
    ) -> dict[str, Vector]:
        """The held vector of each of `content_hashes` still kept, for `model_id` within
        `workspace_id`. Raises `DependencyUnavailable` when the store cannot be reached."""
        ...


class EmbeddingCache(Protocol):
    """Vectors already stored for embedded texts, so unchanged chunks are not embedded again.

    Keys are `Chunk.embedded_sha256`: the hash of exactly the text the embedder read.
    """

    def lookup(
        self, workspace_id: UUID, model_id: str, content_hashes: Collection[str]
    ) -> dict[str, Vector]:
        """The stored vector of each of `content_hashes` (embedded-text hashes) known.

        Only vectors made by `model_id` within `workspace_id` are returned; hashes without one are
        absent from the result. Reads committed data in its own short transaction; raises
        `DependencyUnavailable` when the store cannot be reached.
        """
        ...
