"""A model's dimension read from its files, and the embedder that loads the model on first use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from application.errors import EmbedderRejected
from application.ports import Embedder
from infrastructure.embeddings import DeferredEmbedder, HashingEmbedder, stated_dimension

TRANSFORMER = {"path": "", "type": "sentence_transformers.models.Transformer"}
POOLING = {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}
DENSE = {"path": "2_Dense", "type": "sentence_transformers.models.Dense"}
NORMALIZE = {"path": "3_Normalize", "type": "sentence_transformers.models.Normalize"}


def write_model(model: Path, modules: list[dict[str, str]] | None, **configs: Any) -> Path:
    """A model directory with `modules.json` and one `config.json` per folder in `configs`
    (`root`: the model directory itself)."""
    if modules is not None:
        (model / "modules.json").write_text(json.dumps(modules))
    for folder, config in configs.items():
        directory = model if folder == "root" else model / folder
        directory.mkdir(exist_ok=True)
        (directory / "config.json").write_text(json.dumps(config))
    return model


def test_the_bundled_model_states_the_dimension_it_returns(minilm_embedder: Any) -> None:
    pytest.importorskip("sentence_transformers")
    from infrastructure.embeddings import bundled_minilm_path

    path = bundled_minilm_path()
    assert path is not None
    assert stated_dimension(path) == minilm_embedder.dimension == 384


def test_pooling_states_the_width_times_its_modes(tmp_path: Path) -> None:
    legacy = {"word_embedding_dimension": 384, "pooling_mode_mean_tokens": True}
    model = write_model(tmp_path, [TRANSFORMER, POOLING, NORMALIZE], **{"1_Pooling": legacy})
    assert stated_dimension(model) == 384

    legacy.update(pooling_mode_cls_token=True)
    write_model(tmp_path, None, **{"1_Pooling": legacy})
    assert stated_dimension(model) == 768

    write_model(tmp_path, None, **{"1_Pooling": {"embedding_dimension": 64, "pooling_mode": "cls"}})
    assert stated_dimension(model) == 64
    modes = {"embedding_dimension": 64, "pooling_mode": ["cls", "max", "mean"]}
    write_model(tmp_path, None, **{"1_Pooling": modes})
    assert stated_dimension(model) == 192


def test_a_dense_module_last_states_its_output(tmp_path: Path) -> None:
    model = write_model(
        tmp_path,
        [TRANSFORMER, POOLING, DENSE, NORMALIZE],
        **{"1_Pooling": {"word_embedding_dimension": 768}, "2_Dense": {"out_features": 256}},
    )
    assert stated_dimension(model) == 256


def test_a_bare_transformer_states_its_hidden_size(tmp_path: Path) -> None:
    assert stated_dimension(write_model(tmp_path, None, root={"hidden_size": 512})) == 512


@pytest.mark.parametrize(
    ("modules", "configs", "message"),
    [
        ([{"path": "x", "type": "my.models.Custom"}], {}, "its Custom module"),
        ([TRANSFORMER, POOLING], {"1_Pooling": {"pooling_mode": "mean"}}, "states no dimension"),
        ([TRANSFORMER, POOLING], {"1_Pooling": ["not", "an", "object"]}, "not a JSON object"),
        ([TRANSFORMER, POOLING], {}, "cannot read"),
        ([], {}, "names no module"),
        (None, {}, "cannot read"),
    ],
)
def test_files_that_do_not_state_it_are_refused(
    tmp_path: Path, modules: list[dict[str, str]] | None, configs: dict[str, Any], message: str
) -> None:
    model = write_model(tmp_path, modules, **configs)
    with pytest.raises(ValueError, match=message):
        stated_dimension(model)


def test_the_deferred_embedder_loads_once_and_only_when_used() -> None:
    loads: list[Embedder] = []

    def load() -> Embedder:
        loads.append(HashingEmbedder(dimension=16))
        return loads[-1]

    embedder = DeferredEmbedder(16, load)
    assert embedder.dimension == 16
    assert not embedder.is_loaded and loads == []

    assert len(embedder.embed(["one text"])[0]) == 16
    assert embedder.model_id == loads[0].model_id
    assert embedder.token_counter is loads[0].token_counter
    assert embedder.is_loaded and len(loads) == 1


def test_the_deferred_embedder_refuses_a_model_of_another_dimension() -> None:
    embedder = DeferredEmbedder(384, lambda: HashingEmbedder(dimension=16))
    with pytest.raises(EmbedderRejected, match="returns 16-d vectors, its files state 384"):
        embedder.embed(["text"])
    assert not embedder.is_loaded
