"""Shared fixtures. Each service's fixtures live in its own plugin module under tests/fixtures."""

import os
import tempfile

from hypothesis import settings

# DATA_DIR defaults to this user's data directory: a test that leaves DATA_DIR unset, and every
# process it starts, gets one under /tmp instead of touching the real one. (Outside pytest's
# private temp root, so the embedded Postgres's own user may use it.)
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="ingestion-test-data-home-")

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
