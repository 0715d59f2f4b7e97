"""Shared fixtures. Each service's fixtures live in its own plugin module under tests/fixtures."""

import os

from hypothesis import settings

pytest_plugins = [
    "tests.fixtures.core",
    "tests.fixtures.files",
    "tests.fixtures.s3",
    "tests.fixtures.postgres",
    "tests.fixtures.embeddings",
    "tests.fixtures.redis",
    "tests.fixtures.worker",
]

# CI replays the same examples every run, so a red build always means a change broke something;
# developers' runs keep exploring new examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
