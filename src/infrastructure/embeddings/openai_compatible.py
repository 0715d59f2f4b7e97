"""Any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, Ollama, vLLM, TEI), over httpx."""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np

from application.errors import EmbedderRejected, EmbedderUnavailable
from application.ports import Embedder
from domain import Vector
from infrastructure.embeddings.tokens import RegexTokenCounter
from infrastructure.redaction import redact

_RETRYABLE_STATUSES = frozenset({408, 425, 429})
_REASON_CHARS = 200


class OpenAICompatibleEmbedder(Embedder):
    """Posts batches of texts to `{base_url}/v1/embeddings` and returns the vectors in order.

    Batches hold at most `batch_size` texts and about `max_batch_tokens` tokens (estimated as
    words and punctuation marks by `RegexTokenCounter`, the counter it gives the chunker; a longer
    single text goes alone). Timeouts, connection errors,
    429 and 5xx are retried up to `max_retries` times, waiting as the server's `Retry-After` says
    (seconds or an HTTP date) or else exponentially from `backoff_base` with jitter, never longer
    than `backoff_max`; then `EmbedderUnavailable` names the last status. Other 4xx answers and
    vectors of the wrong length raise `EmbedderRejected` at once. The API key is sent as a bearer
    token and never appears in an error or log line. `send_dimensions` asks the server for
    `dimension`-long vectors (models that support shortening, e.g. text-embedding-3).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        dimension: int,
        batch_size: int,
        max_batch_tokens: int = 100_000,
        max_input_tokens: int | None = None,
        timeout: float,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        normalize: bool = True,
        send_dimensions: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if dimension < 1 or batch_size < 1 or max_batch_tokens < 1 or max_retries < 0:
            raise ValueError("dimension, batch sizes must be positive and max_retries not negative")
        self._url = _endpoint(base_url)
        self._model = model
        self._api_key = api_key
        self._dimension = dimension
        self._batch_size = batch_size
        self._max_batch_tokens = max_batch_tokens
        self._max_input_tokens = max_input_tokens
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._normalize = normalize
        self._send_dimensions = send_dimensions
        self._sleep = sleep
        self._token_counter = RegexTokenCounter()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=httpx.Timeout(timeout), headers=headers)

    @property
    def model_id(self) -> str:
        return f"openai-compatible/{self._model}:{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_input_tokens(self) -> int | None:
        return self._max_input_tokens

    @property
    def token_counter(self) -> RegexTokenCounter:
        return self._token_counter

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        vectors: list[Vector] = []
        for batch in self._batches(texts):
            vectors.extend(self._embed_batch(batch))
        return vectors

    def close(self) -> None:
        """Closes the pooled connections."""
        self._client.close()

    def _batches(self, texts: Sequence[str]) -> Iterator[list[str]]:
        batch: list[str] = []
        tokens = 0
        for text in texts:
            size = self._token_counter.count(text)
            if batch and (len(batch) == self._batch_size or tokens + size > self._max_batch_tokens):
                yield batch
                batch, tokens = [], 0
            batch.append(text)
            tokens += size
        if batch:
            yield batch

    def _embed_batch(self, batch: list[str]) -> list[Vector]:
        payload: dict[str, Any] = {"model": self._model, "input": batch}
        if self._send_dimensions:
            payload["dimensions"] = self._dimension
        response = self._post_with_retries(payload)
        return self._vectors(response, len(batch))

    def _post_with_retries(self, payload: dict[str, Any]) -> httpx.Response:
        outcome = self._attempt(payload)
        for attempt in range(1, self._max_retries + 1):
            if isinstance(outcome, httpx.Response):
                return outcome
            self._sleep(self._backoff(attempt, outcome.retry_after))
            outcome = self._attempt(payload)
        if isinstance(outcome, httpx.Response):
            return outcome
        raise EmbedderUnavailable(
            f"the embedding service at {self._where} failed {self._max_retries + 1} times; "
            f"last: {outcome.what}"
        )

    def _attempt(self, payload: dict[str, Any]) -> httpx.Response | _Failure:
        """One POST: the response, or what went wrong when it may pass on a retry."""
        try:
            response = self._client.post(self._url, json=payload)
        except httpx.TimeoutException as error:
            return _Failure(f"timed out ({type(error).__name__})")
        except httpx.TransportError as error:
            return _Failure(f"connection failed ({type(error).__name__})")
        status = response.status_code
        if status in _RETRYABLE_STATUSES or status >= 500:
            return _Failure(f"HTTP {status}", self._retry_after(response))
        if status >= 400:
            raise EmbedderRejected(
                f"the embedding service at {self._where} rejected the request: "
                f"HTTP {status}: {self._reason(response)}"
            )
        return response

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self._backoff_max)
        ceiling = min(self._backoff_max, self._backoff_base * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not secrecy

    def _retry_after(self, response: httpx.Response) -> float | None:
        value = response.headers.get("Retry-After")
        if value is None:
            return None
        try:
            seconds = float(value)
        except ValueError:
            seconds = None
        if seconds is not None:
            return max(0.0, seconds) if math.isfinite(seconds) else None
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())

    def _vectors(self, response: httpx.Response, expected: int) -> list[Vector]:
        try:
            items = sorted(response.json()["data"], key=lambda item: item["index"])
            matrix = np.array([item["embedding"] for item in items], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as error:
            raise EmbedderRejected(
                f"the embedding service at {self._where} sent a malformed response"
            ) from error
        if matrix.ndim != 2 or len(matrix) != expected:
            raise EmbedderRejected(
                f"the embedding service at {self._where} returned {len(items)} vectors "
                f"for {expected} texts"
            )
        if matrix.shape[1] != self._dimension:
            raise EmbedderRejected(
                f"the embedding service at {self._where} returned vectors of dimension "
                f"{matrix.shape[1]}; {self._dimension} is configured"
            )
        if self._normalize:
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            matrix /= np.where(norms == 0, 1, norms)
        return list(matrix)

    def _reason(self, response: httpx.Response) -> str:
        try:
            body = response.json()
            error = body.get("error", body) if isinstance(body, dict) else body
            reason = error.get("message", error) if isinstance(error, dict) else error
            text = str(reason)
        except ValueError:
            text = response.text
        text = " ".join(text.split())[:_REASON_CHARS] or response.reason_phrase
        text = text.replace(self._api_key, "***") if self._api_key else text
        return redact(text)  # a gateway may echo the request's Authorization header

    @property
    def _where(self) -> str:
        return str(self._url.copy_with(username=None, password=None, query=None))


@dataclass(frozen=True, slots=True)
class _Failure:
    """A failed attempt that a retry may get past."""

    what: str
    retry_after: float | None = None


def _endpoint(base_url: str) -> httpx.URL:
    base = base_url.rstrip("/")
    if not base.endswith("/v1"):
        base += "/v1"
    return httpx.URL(base + "/embeddings")
