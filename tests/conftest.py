"""Shared fixtures. Each service's fixtures live in its own plugin module under tests/fixtures."""

pytest_plugins = [
    "tests.fixtures.core",
    "tests.fixtures.files",
    "tests.fixtures.s3",
    "tests.fixtures.postgres",
    "tests.fixtures.embeddings",
    "tests.fixtures.redis",
    "tests.fixtures.worker",
]
