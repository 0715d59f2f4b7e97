"""The OpenAI-compatible embedder against a real HTTP server on loopback."""

from __future__ import annotations

import email.utils
import socket
import time
from typing import Any

import pytest

from application.errors import EmbedderRejected, EmbedderUnavailable
from infrastructure.embeddings import HashingEmbedder, OpenAICompatibleEmbedder
from infrastructure.embeddings.openai_compatible import RequestLimits
from infrastructure.rate_limits import Budgets, InMemoryRateLimiter, SharedPause
from tests.fixtures.defaults import http_defaults
from tests.fixtures.embedding_server import SERVER_KEY, EmbeddingServer, Reply


class Sleeps(list[float]):
    """Records the waits the embedder asks for instead of waiting; `now` is the time they
    would have taken, the clock of the limiter `embedder()` gives it."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)

    def now(self) -> float:
        return sum(self)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def embedder(server: EmbeddingServer, sleeps: Sleeps, **options: Any) -> OpenAICompatibleEmbedder:
    limiter = InMemoryRateLimiter("test", Budgets(), pauses=SharedPause(sleeps.now))
    options = {
        "dimension": 32,
        "max_retries": 3,
        "sleep": sleeps,
        "rate_limiter": limiter,
        **http_defaults(),
        **options,
    }
    return OpenAICompatibleEmbedder(server.url, "hashing", **options)


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_posts_the_model_and_inputs_to_v1_embeddings(
    embedding_server: EmbeddingServer, sleeps: Sleeps, suffix: str
) -> None:
    client = OpenAICompatibleEmbedder(
        embedding_server.url + suffix,
        "nomic-embed",
        api_key=SERVER_KEY,
        dimension=32,
        **http_defaults(),
    )

    vectors = client.embed(["one text", "another text"])

    (request,) = embedding_server.requests
    assert request.path == "/v1/embeddings"
    assert request.body == {"model": "nomic-embed", "input": ["one text", "another text"]}
    assert request.headers["authorization"] == f"Bearer {SERVER_KEY}"
    expected = HashingEmbedder(dimension=32).embed(["one text", "another text"])
    assert [list(v) for v in vectors] == [pytest.approx(e, abs=1e-6) for e in expected]


def test_asks_for_the_dimension_only_when_told(
    embedding_server: EmbeddingServer, sleeps: Sleeps
) -> None:
    embedder(embedding_server, sleeps, send_dimensions=True).embed(["a"])
    embedder(embedding_server, sleeps).embed(["a"])

    assert embedding_server.requests[0].body["dimensions"] == 32
    assert "dimensions" not in embedding_server.requests[1].body


def test_batches_by_count_and_keeps_the_order(
    embedding_server: EmbeddingServer, sleeps: Sleeps
) -> None:
    texts = [f"text number {n}" for n in range(7)]

    one_at_a_time = RequestLimits(max_inputs=3, concurrency=1)  # requests arrive in order

    vectors = embedder(embedding_server, sleeps, limits=one_at_a_time).embed(texts)

    assert [len(r.body["input"]) for r in embedding_server.requests] == [3, 3, 1]
    expected = HashingEmbedder(dimension=32).embed(texts)
    assert [list(v) for v in vectors] == [pytest.approx(e, abs=1e-6) for e in expected]


def test_batches_by_estimated_tokens(embedding_server: EmbeddingServer, sleeps: Sleeps) -> None:
    texts = ["one two three four", "five six seven eight", "nine", "a b c d e f g h i j k l"]

    one_at_a_time = RequestLimits(max_tokens=8, concurrency=1)  # requests arrive in order

    embedder(embedding_server, sleeps, limits=one_at_a_time).embed(texts)

    batches = [request.body["input"] for request in embedding_server.requests]
    assert batches == [texts[:2], texts[2:3], texts[3:]]


def test_normalises_unless_told_not_to(embedding_server: EmbeddingServer, sleeps: Sleeps) -> None:
    raw = {"data": [{"index": 0, "embedding": [3.0, 4.0]}]}
    embedding_server.script(Reply(body=raw), Reply(body=raw))

    normalised = embedder(embedding_server, sleeps, dimension=2).embed(["x"])
    as_sent = embedder(embedding_server, sleeps, dimension=2, normalize=False).embed(["x"])

    assert list(normalised[0]) == pytest.approx([0.6, 0.8])
    assert list(as_sent[0]) == pytest.approx([3.0, 4.0])


def test_waits_as_long_as_retry_after_says(
    embedding_server: EmbeddingServer, sleeps: Sleeps
) -> None:
    embedding_server.script(
        Reply(429, {"Retry-After": "7"}), Reply(503, {"Retry-After": "1.5"}), Reply()
    )

    vectors = embedder(embedding_server, sleeps).embed(["hello"])

    assert len(vectors) == 1
    assert sleeps == [7.0, 1.5]
    assert len(embedding_server.requests) == 3


def test_retry_after_as_a_date_is_capped(embedding_server: EmbeddingServer, sleeps: Sleeps) -> None:
    future = email.utils.formatdate(time.time() + 3600, usegmt=True)
    past = email.utils.formatdate(time.time() - 3600, usegmt=True)
    embedding_server.script(
        Reply(503, {"Retry-After": future}), Reply(503, {"Retry-After": past}), Reply()
    )

    embedder(embedding_server, sleeps, backoff_max=20).embed(["hello"])

    assert sleeps == [20.0, 0.0]


def test_backs_off_exponentially_with_jitter_without_retry_after(
    embedding_server: EmbeddingServer, sleeps: Sleeps
) -> None:
    embedding_server.script(Reply(500), Reply(502), Reply(503))

    embedder(embedding_server, sleeps, backoff_base=1.0, backoff_max=3.0).embed(["hello"])

    assert 0.5 <= sleeps[0] <= 1.0
    assert 1.0 <= sleeps[1] <= 2.0
    assert 1.5 <= sleeps[2] <= 3.0


def test_gives_up_after_max_retries_naming_the_last_status(
    embedding_server: EmbeddingServer, sleeps: Sleeps
) -> None:
    embedding_server.script(*[Reply(503)] * 3, Reply(502))

    with pytest.raises(EmbedderUnavailable, match="HTTP 502") as raised:
        embedder(embedding_server, sleeps, max_retries=3).embed(["hello"])

    assert "4 times" in str(raised.value)
    assert len(embedding_server.requests) == 4
    assert len(sleeps) == 3


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_client_errors_are_rejected_at_once(
    embedding_server: EmbeddingServer, sleeps: Sleeps, status: int
) -> None:
    embedding_server.script(Reply(status, body={"error": {"message": "input is not valid"}}))

    with pytest.raises(EmbedderRejected, match=f"HTTP {status}: input is not valid"):
        embedder(embedding_server, sleeps).embed(["hello"])

    assert len(embedding_server.requests) == 1
    assert sleeps == []


def test_a_wrong_key_is_rejected_without_revealing_it(
    embedding_server: EmbeddingServer, sleeps: Sleeps
) -> None:
    secret = "sk-live-very-secret-value"

    with pytest.raises(EmbedderRejected, match="HTTP 401") as raised:
        embedder(embedding_server, sleeps, api_key=secret).embed(["hello"])

    assert embedding_server.requests[0].headers["authorization"] == f"Bearer {secret}"
    assert secret not in str(raised.value)
    assert len(embedding_server.requests) == 1


def test_a_wrong_dimension_is_rejected(embedding_server: EmbeddingServer, sleeps: Sleeps) -> None:
    embedding_server.script(Reply(dimension=16))

    with pytest.raises(EmbedderRejected, match="dimension 16; 32 is configured"):
        embedder(embedding_server, sleeps).embed(["hello"])


@pytest.mark.parametrize(
    "body",
    [b"<html>gateway</html>", {"data": [{"embedding": [1.0]}]}, {"data": []}, {"nothing": 1}],
)
def test_a_malformed_answer_is_rejected(
    embedding_server: EmbeddingServer, sleeps: Sleeps, body: object
) -> None:
    embedding_server.script(Reply(body=body))

    with pytest.raises(EmbedderRejected):
        embedder(embedding_server, sleeps, dimension=1).embed(["hello"])


def test_a_slow_server_times_out_and_is_retried(
    embedding_server: EmbeddingServer, sleeps: Sleeps
) -> None:
    embedding_server.script(Reply(hold=True), Reply(hold=True))

    with pytest.raises(EmbedderUnavailable, match="timed out"):
        embedder(embedding_server, sleeps, timeout=0.2, max_retries=1).embed(["hello"])

    assert len(sleeps) == 1


def test_a_refused_connection_is_transient(sleeps: Sleeps) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = OpenAICompatibleEmbedder(
        f"http://127.0.0.1:{port}",
        "m",
        api_key="sk-x",
        dimension=4,
        max_retries=2,
        sleep=sleeps,
        **http_defaults(),
    )

    with pytest.raises(EmbedderUnavailable, match="connection failed") as raised:
        client.embed(["hello"])

    assert len(sleeps) == 2
    assert "sk-x" not in str(raised.value)


def test_the_model_id_names_model_and_dimension() -> None:
    client = OpenAICompatibleEmbedder(
        "http://127.0.0.1:1", "text-embedding-3-small", dimension=512, **http_defaults()
    )

    assert client.model_id == "openai-compatible/text-embedding-3-small:512"


@pytest.mark.parametrize(
    "echoed",
    [
        "Authorization: Basic dXNlcjpzZWNyZXQ=",
        "{'authorization': 'Token 0123456789abcdef'}",
        "bad credentials Basic dXNlcjpzZWNyZXQ=",
    ],
)
def test_credentials_a_gateway_echoes_are_masked_in_the_rejection(
    embedding_server: EmbeddingServer, sleeps: Sleeps, echoed: str
) -> None:
    embedding_server.script(Reply(400, body={"error": {"message": f"refused: {echoed}"}}))

    with pytest.raises(EmbedderRejected, match="HTTP 400: refused") as raised:
        embedder(embedding_server, sleeps).embed(["hello"])

    assert "dXNlcjpzZWNyZXQ=" not in str(raised.value)
    assert "0123456789abcdef" not in str(raised.value)
