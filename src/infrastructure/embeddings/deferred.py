"""An embedder whose model is loaded on first use, and the dimension a model's files state.

The worker process of WORKER_MODE=pool runs no job, yet checks the database's vector dimension
at start-up: it holds a `DeferredEmbedder` that knows the dimension from the model's files
(`stated_dimension`) and never loads the model unless something embeds or counts tokens with it.
Only its executor process loads the model, so no loaded model, PyTorch threads or weights are
ever inherited or paid for twice.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from application.errors import EmbedderRejected
from application.ports import Embedder, TokenCounter
from domain import Vector

#: The largest model configuration file read, in bytes (they are a few hundred).
_MAX_CONFIG_BYTES = 1 << 20
#: The legacy sentence-transformers pooling flags, one per mode that adds a vector.
_LEGACY_POOLING_FLAGS = (
    "pooling_mode_cls_token",
    "pooling_mode_max_tokens",
    "pooling_mode_mean_tokens",
    "pooling_mode_mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens",
    "pooling_mode_lasttoken",
)
#: Modules that change values but not the vector's length.
_SAME_LENGTH_MODULES = ("Normalize", "Dropout", "LayerNorm")


def stated_dimension(model_path: str | Path) -> int:
    """The length of the vectors the sentence-transformers model in `model_path` returns, read
    from its files as sentence-transformers derives it (the last Dense or Pooling module, else
    the transformer's hidden size), without loading the model.

    Raises `ValueError` if its files do not state it (an unknown module last, a missing key).
    """
    path = Path(model_path)
    modules_file = path / "modules.json"
    if not modules_file.is_file():  # a bare transformer: mean pooling over its hidden states
        return _hidden_size(path)
    modules = _read_json(modules_file)
    if not isinstance(modules, list):
        raise ValueError(f"{modules_file} is not a list of modules")
    for module in reversed(modules):
        if not isinstance(module, dict):
            raise ValueError(f"{modules_file} is not a list of modules")
        kind = str(module.get("type", "")).rpartition(".")[2]
        directory = path / str(module.get("path", ""))
        if kind in _SAME_LENGTH_MODULES:
            continue
        if kind == "Dense":
            return _positive(_read_object(directory / "config.json").get("out_features"), directory)
        if kind == "Pooling":
            return _pooled_dimension(_read_object(directory / "config.json"), directory)
        if kind == "Transformer":
            return _hidden_size(directory)
        raise ValueError(f"cannot tell the dimension of its {kind or 'unnamed'} module")
    raise ValueError(f"{modules_file} names no module")


class DeferredEmbedder(Embedder):
    """An embedder of known `dimension` that builds the real one (`load`) on first use of
    anything else, once; it refuses one whose dimension differs (`EmbedderRejected`)."""

    def __init__(self, dimension: int, load: Callable[[], Embedder]) -> None:
        self._dimension = dimension
        self._load = load
        self._loaded: Embedder | None = None
        self._lock = threading.Lock()

    @property
    def is_loaded(self) -> bool:
        """Whether the real embedder has been built."""
        return self._loaded is not None

    @property
    def model_id(self) -> str:
        return self._embedder().model_id

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def token_counter(self) -> TokenCounter:
        return self._embedder().token_counter

    @property
    def max_input_tokens(self) -> int | None:
        return self._embedder().max_input_tokens

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        return self._embedder().embed(texts)

    def _embedder(self) -> Embedder:
        with self._lock:
            if self._loaded is None:
                loaded = self._load()
                if loaded.dimension != self._dimension:
                    raise EmbedderRejected(
                        f"the model returns {loaded.dimension}-d vectors, its files state "
                        f"{self._dimension}"
                    )
                self._loaded = loaded
            return self._loaded


def _pooled_dimension(config: dict[str, Any], directory: Path) -> int:
    width = _positive(
        config.get("embedding_dimension", config.get("word_embedding_dimension")), directory
    )
    mode = config.get("pooling_mode")
    if isinstance(mode, str):
        return width
    if isinstance(mode, list) and mode:
        return width * len(mode)
    modes = sum(1 for flag in _LEGACY_POOLING_FLAGS if config.get(flag) is True)
    return width * (modes or 1)  # no flag set: sentence-transformers pools by the mean


def _hidden_size(directory: Path) -> int:
    config = _read_object(directory / "config.json")
    for key in ("hidden_size", "d_model", "dim"):
        if key in config:
            return _positive(config[key], directory)
    raise ValueError(f"{directory / 'config.json'} states no hidden size")


def _positive(value: object, directory: Path) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise ValueError(f"{directory / 'config.json'} states no dimension")


def _read_object(file: Path) -> dict[str, Any]:
    data = _read_json(file)
    if not isinstance(data, dict):
        raise ValueError(f"{file} is not a JSON object")
    return data


def _read_json(file: Path) -> Any:
    try:
        with file.open("rb") as stream:
            data = stream.read(_MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ValueError(f"cannot read {file}: {e.strerror}") from None
    if len(data) > _MAX_CONFIG_BYTES:
        raise ValueError(f"{file} is larger than {_MAX_CONFIG_BYTES} bytes")
    try:
        return json.loads(data)
    except ValueError:
        raise ValueError(f"{file} is not JSON") from None
