"""What a process checks before it takes work, and what it does around forks and probes."""

from __future__ import annotations

from collections.abc import Callable

from redis import Redis
from sqlalchemy import Engine

from application.errors import DependencyUnavailable
from application.ports import Embedder, UnitOfWorkFactory
from bootstrap.container import PROBE_TIMEOUT_SECONDS, QUICK_REDIS_TIMEOUT_SECONDS, Container
from bootstrap.errors import StartupError
from bootstrap.services import resolve_services, secret, upgrade_schema
from infrastructure.db import (
    EmbeddingDimensionMismatch,
    SchemaOutOfDate,
    SqlAlchemyUnitOfWorkFactory,
    migrations,
)
from infrastructure.db import ping as ping_database
from infrastructure.queue import ping as ping_redis
from infrastructure.queue import ping_and_write as probe_redis_writes
from infrastructure.redaction import masked_url
from infrastructure.settings import Settings, WorkerMode


def check_startup(container: Container) -> None:
    """Check, in order, Redis, the database, the schema revision and the vector dimension,
    then compile the statements a job runs (so forked work horses inherit them).

    Raises `StartupError` naming the setting or dependency at fault.
    """
    check_redis(container)
    check_database(container)
    _warm_up(container, container.resolve(Settings))


def check_redis(container: Container) -> None:
    """Raise `StartupError` naming REDIS_URL unless Redis answers within the probe timeout."""
    settings = container.resolve(Settings)
    try:
        ping_redis(container.resolve(Redis), PROBE_TIMEOUT_SECONDS)
    except DependencyUnavailable as e:
        raise StartupError(f"REDIS_URL: {masked_url(settings.redis_url)}: {e}") from e


def check_database(container: Container, *, vectors: bool = True) -> None:
    """Raise `StartupError` naming the setting at fault unless the database answers, its schema
    is at head and (with `vectors`) its vectors have the configured embedder's dimension.

    Checking the dimension builds the embedder (loads the model): a command that never embeds
    passes `vectors=False`."""
    settings = container.resolve(Settings)
    engine = container.resolve(Engine)
    try:
        ping_database(engine, PROBE_TIMEOUT_SECONDS)
    except DependencyUnavailable as e:
        raise StartupError(f"DATABASE_URL: {masked_url(settings.database_url)}: {e}") from e
    _check_schema(engine, container.resolve(Embedder).dimension if vectors else None)


def readiness_checks(container: Container) -> dict[str, Callable[[], None]]:
    """Named probes for `/readyz`: each returns or raises within the probe timeout.

    The database probe opens a connection the way a job does: a new one where jobs run in
    forked work horses (each opens its own), a pooled one where they run in the worker."""
    redis = container.resolve(Redis)
    engine = container.resolve(Engine)
    new_connection = container.resolve(Settings).worker_mode is WorkerMode.FORK
    return {
        "db": lambda: ping_database(engine, PROBE_TIMEOUT_SECONDS, new_connection=new_connection),
        "redis": lambda: probe_redis_writes(redis, QUICK_REDIS_TIMEOUT_SECONDS),
    }


def release_connections(container: Container) -> None:
    """Close pooled database and Redis connections (before forking worker processes)."""
    container.resolve(Engine).dispose()
    container.resolve(Redis).connection_pool.disconnect()


def migrate(settings: Settings) -> str:
    """Bring the database schema to head; return the head revision."""
    settings = resolve_services(settings)
    return upgrade_schema(
        secret(settings.database_url), settings.embedding_dimension, settings.text_search_language
    )


def _check_schema(engine: Engine, dimension: int | None) -> None:
    try:
        migrations.verify_schema(engine, dimension)
    except SchemaOutOfDate as e:
        current = migrations.schema_revision(engine) or "none"
        raise StartupError(
            f"DATABASE_URL: schema is at {current}, head is {migrations.head_revision()}: "
            "run `ingest migrate`, or start with MIGRATE_ON_START=true"
        ) from e
    except EmbeddingDimensionMismatch as e:
        raise StartupError(f"EMBEDDING_DIMENSION: {e}") from e
    except DependencyUnavailable as e:
        raise StartupError(f"DATABASE_URL: {e}") from e


def _warm_up(container: Container, settings: Settings) -> None:
    uow_factory = container.resolve(UnitOfWorkFactory)
    if not isinstance(uow_factory, SqlAlchemyUnitOfWorkFactory):
        return
    try:
        uow_factory.warm_up()
    except DependencyUnavailable as e:
        raise StartupError(f"DATABASE_URL: {masked_url(settings.database_url)}: {e}") from e
