from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from infrastructure.redaction import forget_secrets, masked_url, redact, register_secret


@pytest.fixture(autouse=True)
def _no_registered_secrets() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://user:secret@host:5432/db", "postgresql://user:***@host:5432/db"),
        (
            "postgresql+psycopg://ingest:s3cr3t@db.internal/rag?sslmode=require",
            "postgresql+psycopg://ingest:***@db.internal/rag?sslmode=require",
        ),
        ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
        ("rediss://default:p@ss@cache:6380", "rediss://default:***@cache:6380"),
        ("host=db user=x password=topsecret dbname=rag", "host=db user=x password=*** dbname=rag"),
        ("https://api.example/v1?api_key=abc123&x=1", "https://api.example/v1?api_key=***&x=1"),
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer ***"),
        ("http://host:8080/path", "http://host:8080/path"),
        ("postgresql://user@host/db", "postgresql://user@host/db"),
    ],
)
def test_masks_credentials_and_keeps_the_rest(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_masks_registered_secret_values_anywhere() -> None:
    register_secret("sk-live-0123456789")
    register_secret(None)
    register_secret("")

    assert redact("embedder said: bad key sk-live-0123456789!") == "embedder said: bad key ***!"


def test_masks_each_url_in_a_longer_message() -> None:
    text = "tried postgresql://a:one@h1/db then redis://:two@h2:6379 and failed"

    masked = redact(text)

    assert "one" not in masked.split("//")[1] and ":two@" not in masked
    assert masked == "tried postgresql://a:***@h1/db then redis://:***@h2:6379 and failed"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://user:secret@host:5432/db", "postgresql://user:***@host:5432/db"),
        (SecretStr("redis://:hunter2@cache:6379/0"), "redis://:***@cache:6379/0"),
        ("rediss://default:p@ss@cache:6380/1", "rediss://default:***@cache:6380/1"),
        ("postgresql://user@host/db?password=kept", "postgresql://user@host/db?password=kept"),
        ("unix:///var/redis.sock", "unix:///var/redis.sock"),
        (None, "(embedded)"),
    ],
)
def test_masked_url_hides_only_the_password_of_a_configured_url(
    url: str | SecretStr | None, expected: str
) -> None:
    assert masked_url(url) == expected
