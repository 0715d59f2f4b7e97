"""The composition root: settings in, a container of adapters and use cases out.

Entry points (`worker`, `cli`) build one container per process here; nothing below this layer
knows which adapter serves a port.
"""

from bootstrap.builders import (
    build_chunker,
    build_embedder,
    build_extractor,
    build_storage,
    chunk_token_limit,
    job_policy,
)
from bootstrap.container import (
    PROBE_TIMEOUT_SECONDS,
    QUICK_REDIS_TIMEOUT_SECONDS,
    Container,
    build_container,
)
from bootstrap.errors import StartupError
from bootstrap.services import describe_services, resolve_services
from bootstrap.startup import (
    check_database,
    check_redis,
    check_startup,
    migrate,
    readiness_checks,
    release_connections,
)

__all__ = [
    "PROBE_TIMEOUT_SECONDS",
    "QUICK_REDIS_TIMEOUT_SECONDS",
    "Container",
    "StartupError",
    "build_chunker",
    "build_container",
    "build_embedder",
    "build_extractor",
    "build_storage",
    "check_database",
    "check_redis",
    "check_startup",
    "chunk_token_limit",
    "describe_services",
    "job_policy",
    "migrate",
    "readiness_checks",
    "release_connections",
    "resolve_services",
]
