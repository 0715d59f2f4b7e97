"""Any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, Ollama, vLLM, TEI), over httpx."""

from __future__ import annotations

import asyncio
import email.utils
import math
import os
import random
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import numpy as np

from application.errors import (
    EmbedderRejected,
    EmbedderThrottled,
    EmbedderUnavailable,
    EmbeddingInterrupted,
)
from application.ports import Embedder, IngestionTelemetry, RateLimiter, TokenCounter
from domain import Vector
from infrastructure.embeddings.tiktoken_counter import token_counter_for_model
from infrastructure.rate_limits import Budgets, InMemoryRateLimiter
from infrastructure.redaction import redact

_RETRYABLE_STATUSES = frozenset({408, 425, 429})
_REASON_CHARS = 200
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """What one request may carry: at most `max_inputs` texts and `max_tokens` tokens (a
    longer single text goes alone), `concurrency` requests of one `embed` call at a time."""

    max_inputs: int = 2048
    max_tokens: int = 300_000
    concurrency: int = 4

    def __post_init__(self) -> None:
        if min(self.max_inputs, self.max_tokens, self.concurrency) < 1:
            raise ValueError("request limits and concurrency must be positive")


@dataclass(slots=True)
class ThrottleReport:
    """What `embed` calls have met of the provider's limits so far: seconds spent waiting for
    the shared budget or a pause, and 429 answers received. Read with `take()`."""

    waited_seconds: float = 0.0
    rejections: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, *, waited: float = 0.0, rejections: int = 0) -> None:
        with self._lock:
            self.waited_seconds += waited
            self.rejections += rejections

    def take(self) -> tuple[float, int]:
        """The seconds waited and 429s received since the last `take`."""
        with self._lock:
            taken = (self.waited_seconds, self.rejections)
            self.waited_seconds, self.rejections = 0.0, 0
            return taken


class OpenAICompatibleEmbedder(Embedder):
    """Posts batches of texts to `{base_url}/v1/embeddings` and returns the vectors in order.

    Batches follow `limits` (texts and tokens per request, counted with the model's own
    tokenizer when it is an OpenAI model whose encoding ships here, else estimated as words and
    punctuation marks: the same counter it gives the chunker). One `embed` call keeps up to
    `limits.concurrency` requests in flight, from one event loop and one keep-alive connection
    pool per process (made again in a forked child); a call that is interrupted (a job timeout,
    shutdown) cancels its requests before it returns.

    Before each request the shared `rate_limiter` (every worker's budget of requests and tokens
    per minute) is asked for room; a 429 pauses every caller of that limiter for its
    `Retry-After` (or the backoff). Waiting for the limit counts no retry: when the waits of
    one call would pass `max_throttle_wait` seconds, `EmbedderThrottled` is raised at once.
    Timeouts, connection errors and 5xx are retried up to `max_retries` times, waiting
    exponentially from `backoff_base` with jitter, never longer than `backoff_max`; then
    `EmbedderUnavailable` names the last status. Other 4xx answers and vectors of the wrong
    length raise `EmbedderRejected` at once. The API key is sent as a bearer token and never
    appears in an error or log line. `send_dimensions` asks the server for `dimension`-long
    vectors (models that support shortening, e.g. text-embedding-3).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        dimension: int,
        limits: RequestLimits | None = None,
        max_input_tokens: int | None = None,
        timeout: float,
        rate_limiter: RateLimiter | None = None,
        max_throttle_wait: float = 300.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        normalize: bool = True,
        send_dimensions: bool = False,
        token_counter: TokenCounter | None = None,
        telemetry: IngestionTelemetry | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if dimension < 1 or max_retries < 0:
            raise ValueError("dimension must be positive and max_retries not negative")
        self._url = _endpoint(base_url)
        self._model = model
        self._api_key = api_key
        self._dimension = dimension
        self._limits = limits or RequestLimits()
        self._max_input_tokens = max_input_tokens
        self._rate_limiter = rate_limiter or InMemoryRateLimiter(self.model_id, Budgets())
        self._max_throttle_wait = max_throttle_wait
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._normalize = normalize
        self._send_dimensions = send_dimensions
        self._sleep = sleep
        self._token_counter = token_counter or token_counter_for_model(model)
        self._timeout = timeout
        self._loop = _LoopThread()
        self._client: httpx.AsyncClient | None = None
        self._throttling = ThrottleReport()
        self._telemetry = telemetry

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
    def token_counter(self) -> TokenCounter:
        return self._token_counter

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        batches = list(self._batches(texts))
        if not batches:
            return []
        try:
            return self._loop.run(self._embed_all(batches))
        finally:
            self._report_throttling()

    def _report_throttling(self) -> None:
        waited, rejections = self._throttling.take()
        if self._telemetry is not None and (waited or rejections):
            self._telemetry.embedding_throttled(waited_seconds=waited, rejections=rejections)

    def close(self) -> None:
        """Closes the pooled connections and stops the event loop."""
        client, self._client = self._client, None
        if client is not None and self._loop.alive:
            self._loop.run(client.aclose())
        self._loop.stop()

    def _batches(self, texts: Sequence[str]) -> Iterator[_Batch]:
        batch: list[str] = []
        tokens = start = 0
        for position, text in enumerate(texts):
            size = self._token_counter.count(text)
            full = len(batch) == self._limits.max_inputs
            if batch and (full or tokens + size > self._limits.max_tokens):
                yield _Batch(batch, tokens, start)
                batch, tokens, start = [], 0, position
            batch.append(text)
            tokens += size
        if batch:
            yield _Batch(batch, tokens, start)

    async def _embed_all(self, batches: list[_Batch]) -> list[Vector]:
        gate = asyncio.Semaphore(self._limits.concurrency)
        call = _Call(deadline=time.monotonic() + self._max_throttle_wait)

        async def one(batch: _Batch) -> list[Vector]:
            async with gate:
                return await self._embed_batch(batch, call)

        tasks = [asyncio.ensure_future(one(batch)) for batch in batches]
        try:
            results = await asyncio.gather(*tasks)
        except EmbeddingInterrupted as error:
            await _settle(tasks)
            error.received = _received(batches, tasks)
            raise
        finally:
            await _settle(tasks)
        return [vector for result in results for vector in result]

    async def _embed_batch(self, batch: _Batch, call: _Call) -> list[Vector]:
        payload: dict[str, Any] = {"model": self._model, "input": batch.texts}
        if self._send_dimensions:
            payload["dimensions"] = self._dimension
        response = await self._post_with_retries(payload, batch.tokens, call)
        return self._vectors(response, len(batch.texts))

    async def _post_with_retries(
        self, payload: dict[str, Any], tokens: int, call: _Call
    ) -> httpx.Response:
        failures = 0
        while True:
            await self._wait_for_turn(tokens, call)
            outcome = await self._attempt(payload)
            if isinstance(outcome, httpx.Response):
                return outcome
            if outcome.throttled:
                self._throttling.add(rejections=1)
                self._pause_everyone(outcome.retry_after, failures + 1)
                continue  # the wait for the limit is not a retry
            failures += 1
            if failures > self._max_retries:
                raise EmbedderUnavailable(
                    f"the embedding service at {self._where} failed {failures} times; "
                    f"last: {outcome.what}"
                )
            await self._pause(self._backoff(failures, outcome.retry_after))

    async def _wait_for_turn(self, tokens: int, call: _Call) -> None:
        """Wait until the shared budget has room for this request (no retry is counted)."""
        while (wait := self._rate_limiter.try_acquire(tokens)) > 0:
            if time.monotonic() + wait > call.deadline:
                raise EmbedderThrottled(
                    f"the rate limit of the embedding service at {self._where} would hold the "
                    f"request past {self._max_throttle_wait:.0f}s; deferred"
                )
            self._throttling.add(waited=wait)
            await self._pause(wait)

    def _pause_everyone(self, retry_after: float | None, failures: int) -> None:
        """Hold every caller of the limiter as the 429 asks (or for the backoff)."""
        seconds = retry_after if retry_after is not None else self._backoff(failures, None)
        self._rate_limiter.pause(min(seconds, self._max_throttle_wait))

    async def _pause(self, seconds: float) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
            await asyncio.sleep(0)
        else:
            await asyncio.sleep(seconds)

    async def _attempt(self, payload: dict[str, Any]) -> httpx.Response | _Failure:
        """One POST: the response, or what went wrong when it may pass on a retry."""
        try:
            response = await self._http().post(self._url, json=payload)
        except httpx.TimeoutException as error:
            return _Failure(f"timed out ({type(error).__name__})")
        except httpx.TransportError as error:
            return _Failure(f"connection failed ({type(error).__name__})")
        status = response.status_code
        if status in _RETRYABLE_STATUSES or status >= 500:
            return _Failure(f"HTTP {status}", self._retry_after(response), throttled=status == 429)
        if status >= 400:
            raise EmbedderRejected(
                f"the embedding service at {self._where} rejected the request: "
                f"HTTP {status}: {self._reason(response)}"
            )
        return response

    def _http(self) -> httpx.AsyncClient:
        """This process's connection pool, made on first use in its event loop."""
        if self._client is None or self._loop.made_client_for != os.getpid():
            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            limits = httpx.Limits(max_connections=self._limits.concurrency)
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout), headers=headers, limits=limits
            )
            self._loop.made_client_for = os.getpid()
        return self._client

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:  # a 5xx may say when to come back too
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
    throttled: bool = False


@dataclass(frozen=True, slots=True)
class _Batch:
    texts: list[str]
    tokens: int
    #: The position of its first text in the `embed` call.
    start: int


async def _settle(tasks: Sequence[asyncio.Future[list[Vector]]]) -> None:
    """Cancel what is still running and wait until every task has ended."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _received(
    batches: list[_Batch], tasks: Sequence[asyncio.Future[list[Vector]]]
) -> dict[int, Vector]:
    """The vectors of the batches that came back, by the position of their text in the call."""
    received: dict[int, Vector] = {}
    for batch, task in zip(batches, tasks, strict=True):
        if task.done() and not task.cancelled() and task.exception() is None:
            received.update(enumerate(task.result(), start=batch.start))
    return received


@dataclass(frozen=True, slots=True)
class _Call:
    """One `embed` call: when waiting for the rate limit must give up."""

    deadline: float


class _LoopThread:
    """One asyncio event loop on a daemon thread, made on first use in each process (a forked
    child makes its own: threads do not survive a fork)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self.made_client_for = 0

    @property
    def alive(self) -> bool:
        return self._loop is not None and self._pid == os.getpid()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` on the loop and return its result; if the calling thread is interrupted
        while it waits (a job timeout raised into it), `work` is cancelled, and has finished
        cancelling its own tasks and requests, before the interruption goes on."""
        started, finished = threading.Event(), threading.Event()

        async def tracked() -> T:
            started.set()
            try:
                return await work
            finally:
                finished.set()

        future = asyncio.run_coroutine_threadsafe(tracked(), self._running())
        try:
            return future.result()
        except BaseException:
            future.cancel()
            if started.is_set():  # else it is cancelled before it begins: nothing to wait for
                finished.wait(_CANCEL_WAIT_SECONDS)
            raise

    def stop(self) -> None:
        """Stop the loop and wait for its thread."""
        with self._lock:
            if not self.alive or self._loop is None or self._thread is None:
                return
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=_CANCEL_WAIT_SECONDS)
            self._loop = None

    def _running(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._loop = asyncio.new_event_loop()
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="embedding-requests", daemon=True
                )
                self._thread.start()
            return self._loop


#: How long an interrupted call waits for its requests to be cancelled, in seconds.
_CANCEL_WAIT_SECONDS = 5.0


def _endpoint(base_url: str) -> httpx.URL:
    base = base_url.rstrip("/")
    if not base.endswith("/v1"):
        base += "/v1"
    return httpx.URL(base + "/embeddings")
