"""A URL setting with a port that is no port is refused at start-up, naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from infrastructure.settings import ConfigurationError, Settings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.mark.parametrize(
    ("setting", "url"),
    [
        ("database_url", "postgresql://ingest:secret@db:99999999/rag"),
        ("database_url", "postgresql://ingest:secret@db:notaport/rag"),
        ("redis_url", "redis://cache:70000/0"),
        ("redis_url", "redis://cache:notaport/0"),
    ],
)
def test_an_invalid_port_is_a_configuration_error_naming_the_setting(
    setting: str, url: str
) -> None:
    with pytest.raises(ConfigurationError, match=setting.upper()) as refused:
        load_settings(**{setting: url})

    assert "secret" not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:secret@embedder.example/v1",
        "https://secret@embedder.example/v1",
        "http://:secret@127.0.0.1:8080",
    ],
)
def test_user_info_in_the_embedding_url_is_refused_without_showing_it(url: str) -> None:
    # httpx would send it as HTTP Basic auth in place of the API key, silently.
    with pytest.raises(ConfigurationError, match="EMBEDDING_BASE_URL") as refused:
        load_settings(embedding_base_url=url)

    assert "secret" not in str(refused.value)


def test_an_embedding_url_without_user_info_is_accepted() -> None:
    url = "https://embedder.example:8443/v1"

    assert load_settings(embedding_base_url=url).embedding_base_url == url
