"""The service URLs a process uses: the configured ones, or the embedded default's."""

from __future__ import annotations

import logging

from pydantic import SecretStr

from application.errors import DependencyUnavailable
from bootstrap.errors import StartupError
from infrastructure.db import EmbeddingDimensionMismatch, MissingPgvector, migrations
from infrastructure.redaction import masked_url
from infrastructure.settings import Settings

_log = logging.getLogger(__name__)


def resolve_services(settings: Settings) -> Settings:
    """`settings` with DATABASE_URL and REDIS_URL filled in, starting the embedded default
    (under DATA_DIR) for whichever is unset. Raises `StartupError` if one cannot start."""
    updates: dict[str, SecretStr] = {}
    if settings.redis_url is None:
        updates["redis_url"] = SecretStr(_start_embedded_redis(settings))
    if settings.database_url is None:
        updates["database_url"] = SecretStr(_start_embedded_postgres(settings))
    return settings.model_copy(update=updates) if updates else settings


def describe_services(settings: Settings) -> str:
    """One line naming the services `settings` use, e.g. `using the embedded Postgres and Redis
    in /home/me/.local/share/ingestion-worker` or `using DATABASE_URL postgresql://u:***@db/rag
    and REDIS_URL redis://cache:6379/0` (passwords masked)."""
    services = (
        ("Postgres", "DATABASE_URL", settings.database_url),
        ("Redis", "REDIS_URL", settings.redis_url),
    )
    embedded = [name for name, _, url in services if url is None]
    parts = [f"{setting} {masked_url(url)}" for _, setting, url in services if url is not None]
    if embedded:
        parts.append(
            f"the embedded {' and '.join(embedded)} in {settings.data_dir.expanduser().resolve()}"
        )
    return "using " + " and ".join(parts)


def secret(value: object) -> str:
    """The plain text of a resolved URL or secret setting."""
    if value is None:
        raise StartupError("a service URL was not resolved")
    return str(value.get_secret_value()) if hasattr(value, "get_secret_value") else str(value)


def _start_embedded_redis(settings: Settings) -> str:
    from infrastructure.local.redis import EmbeddedRedisError, start_embedded_redis

    try:
        embedded = start_embedded_redis(settings.data_dir)
    except EmbeddedRedisError as e:
        raise StartupError(f"REDIS_URL: unset, and {e}") from e
    how = "started" if embedded.started_here else "attached to"
    _log.info("REDIS_URL unset: %s the embedded Redis in %s", how, embedded.directory)
    return embedded.url


def _start_embedded_postgres(settings: Settings) -> str:
    """Start (or attach to) the embedded Postgres and bring its schema to head: the embedded
    database is ours to manage, so no entry point needs a setup step."""
    from infrastructure.local.postgres import (
        EmbeddedPostgresUnavailable,
        start_embedded_postgres,
    )

    directory = (settings.data_dir / "postgres").resolve()
    try:
        dsn = start_embedded_postgres(directory)
    except EmbeddedPostgresUnavailable as e:
        raise StartupError(f"DATABASE_URL: unset, and {e}") from e
    _log.info("DATABASE_URL unset: using the embedded Postgres in %s", directory)
    upgrade_schema(dsn, settings.embedding_dimension, settings.text_search_language)
    return dsn


def upgrade_schema(database_url: str, embedding_dimension: int, text_search_language: str) -> str:
    """Bring the schema to head (under the migrations' advisory lock); return the head revision.

    Raises `StartupError` naming DATABASE_URL when the server cannot be reached, lacks pgvector
    or stores vectors of another dimension.
    """
    try:
        migrations.upgrade(
            database_url, embedding_dimension, text_search_language=text_search_language
        )
    except (DependencyUnavailable, MissingPgvector, EmbeddingDimensionMismatch) as e:
        raise StartupError(f"DATABASE_URL: {masked_url(database_url)}: {e}") from e
    return migrations.head_revision()
