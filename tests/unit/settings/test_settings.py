"""The settings against `.env.example`, and the advisories logged at start-up."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from application.ports import SearchMode
from infrastructure.settings import (
    ConfigurationError,
    EmbedderKind,
    Settings,
    WorkerMode,
    load_settings,
)

ENV_EXAMPLE = Path(__file__).parents[3] / ".env.example"
ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$")


def example_lines() -> list[tuple[str, str, bool]]:
    """(NAME, value, commented out) for every assignment in `.env.example`."""
    found = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        if match := ASSIGNMENT.match(line.strip()):
            found.append((match.group(1), match.group(2), line.startswith("#")))
    return found


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def test_env_example_names_every_setting_and_nothing_else() -> None:
    named = [name for name, _, _ in example_lines()]
    assert sorted(named) == sorted(field.upper() for field in Settings.model_fields)


@pytest.mark.usefixtures("clean_environment")
def test_env_example_values_are_the_defaults() -> None:
    from_example = Settings(_env_file=ENV_EXAMPLE)  # type: ignore[call-arg]
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert from_example == defaults


@pytest.mark.usefixtures("clean_environment")
def test_every_commented_example_is_accepted() -> None:
    values = {
        name.lower(): value
        for name, value, commented in example_lines()
        if commented and value and name != "EMBEDDER"
    }
    settings = load_settings(**values, metrics_require_auth=True)
    assert settings.metrics_token is not None


@pytest.mark.usefixtures("clean_environment")
def test_a_metrics_token_without_required_auth_is_an_advisory() -> None:
    unused = load_settings(metrics_token="t0ken", metrics_require_auth=False)
    used = load_settings(metrics_token="t0ken", metrics_require_auth=True)
    assert [a.split(":")[0] for a in unused.advisories()] == ["METRICS_TOKEN"]
    assert "t0ken" not in unused.advisories()[0]
    assert used.advisories() == []
    assert load_settings().advisories() == []


@pytest.mark.usefixtures("clean_environment")
def test_worker_mode_is_pool_unless_another_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(embedder="hashing").worker_mode is WorkerMode.POOL
    remote = load_settings(embedder="openai", embedding_base_url="http://x", embedding_model="m")
    assert remote.worker_mode is WorkerMode.POOL
    assert load_settings(embedder="sentence-transformers").worker_mode is WorkerMode.POOL
    monkeypatch.setenv("WORKER_MODE", "inline")
    assert load_settings().worker_mode is WorkerMode.INLINE
    monkeypatch.setenv("WORKER_MODE", "fork")
    assert load_settings().worker_mode is WorkerMode.FORK
    monkeypatch.setenv("WORKER_MODE", "thread")
    with pytest.raises(
        ConfigurationError, match="WORKER_MODE: Input should be 'fork', 'inline' or 'pool'"
    ):
        load_settings()


@pytest.mark.usefixtures("clean_environment")
def test_a_local_model_in_forked_horses_is_an_advisory() -> None:
    forked = load_settings(embedder="sentence-transformers", worker_mode="fork")
    inline = load_settings(embedder="sentence-transformers", worker_mode="inline")
    pooled = load_settings(embedder="sentence-transformers")
    assert [a.split(":")[0] for a in forked.advisories()] == ["WORKER_MODE"]
    assert inline.advisories() == []
    assert pooled.advisories() == []


@pytest.mark.usefixtures("clean_environment")
def test_the_bundled_model_is_the_default_embedder_when_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("infrastructure.settings.bundled_minilm_path", lambda: "/models/minilm")
    settings = load_settings()
    assert settings.embedder is EmbedderKind.SENTENCE_TRANSFORMERS
    assert settings.worker_mode is WorkerMode.POOL
    assert settings.advisories() == []


@pytest.mark.usefixtures("clean_environment")
def test_without_the_semantic_extra_the_default_is_hashing_with_one_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("infrastructure.settings.bundled_minilm_path", lambda: None)
    settings = load_settings()
    assert settings.embedder is EmbedderKind.HASHING
    assert settings.worker_mode is WorkerMode.POOL
    [advisory] = settings.advisories()
    assert advisory.startswith("EMBEDDER:")
    assert "lexical" in advisory and "pip install 'ingestion-worker[semantic]'" in advisory
    assert load_settings(embedder="hashing").advisories() == []


@pytest.mark.usefixtures("clean_environment")
def test_hybrid_search_leaves_hashing_vectors_out_unless_weighted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings(embedder="hashing").hybrid_vector_weight == 0.0
    assert load_settings(embedder="sentence-transformers").hybrid_vector_weight == 1.0
    monkeypatch.setenv("HYBRID_VECTOR_WEIGHT", "0.4")
    assert load_settings(embedder="hashing").hybrid_vector_weight == 0.4
    assert load_settings().search_mode is SearchMode.HYBRID
