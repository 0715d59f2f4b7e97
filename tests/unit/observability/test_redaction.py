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


#: Inputs that made a backtracking pattern quadratic: about a megabyte each.
_PATHOLOGICAL = [
    "a" * 1_000_000,
    "a1" * 500_000,
    "a:" * 500_000,
    "a://" * 250_000,
    "a://b:" + "c" * 1_000_000,
    "a://" + "b" * 1_000_000,
    "password " * 100_000,
    "password=" + " " * 1_000_000,
    "Bearer " * 140_000,
    "Authorization: " * 60_000,
    "Basic " * 160_000,
]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("text", _PATHOLOGICAL, ids=lambda text: repr(text[:12]))
def test_redaction_of_a_megabyte_is_linear(text: str) -> None:
    # Bounded by the timeout: each pattern backtracking over the input would take minutes.
    assert len(redact(text)) <= len(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Basic dXNlcjpzZWNyZXQ=", "Authorization: Basic ***"),
        ("authorization: Token 0123456789abcdef", "authorization: Token ***"),
        ('{"Authorization": "Basic dXNlcjpzZWNyZXQ="}', '{"Authorization": "Basic ***"}'),
        ("{'authorization': 'Bearer sk-123'}", "{'authorization': 'Bearer ***'}"),
        ("Authorization=c2VjcmV0LXRva2Vu", "Authorization=***"),
        ("gateway echoed Basic dXNlcjpzZWNyZXQ= back", "gateway echoed Basic *** back"),
        ("a Basic understanding of it", "a Basic understanding of it"),
    ],
)
def test_masks_authorization_values_of_any_scheme(text: str, expected: str) -> None:
    assert redact(text) == expected
