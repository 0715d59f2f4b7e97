"""The peers' own virtualenv, `bench/out/peers-venv`: the peer processes run with its python.

The peers cannot share the project's environment: every release of
llama-index-vector-stores-postgres caps SQLAlchemy below 2.1 and every release of
langchain-postgres caps pgvector below 0.4, where the project runs 2.1 and 0.5. So the benchmark
builds them a virtualenv of their own on first use of the peers measure (or `make peers-venv`,
which runs `python -m bench.peer_venv`): `python -m venv`, then `torch==2.13.0` alone (so pip
never resolves another, multi-GB build), then the lock `bench/peers/requirements.txt`, then
`pip check`. A stamp holding the lock's digest marks it built; a changed lock rebuilds it.

The peer scripts import, besides their frameworks, the project's embedders from `src` (put on
their PYTHONPATH): the hashing embedder and the sentence-transformers wrapper, pure Python over
numpy and sentence-transformers, both in the lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.paths import OUT, REPO, child_environment, shown, without_repository

VENV = OUT / "peers-venv"
REQUIREMENTS = REPO / "bench" / "peers" / "requirements.txt"
#: Installed before the lock, on its own: the same build the project pins in its `semantic` extra.
TORCH = "torch==2.13.0"
#: Marks a finished build; holds the digest of the lock it was built from.
STAMP = VENV / ".installed"
#: Each pip step's bound (the torch wheel alone is hundreds of MB).
STEP_TIMEOUT = 1800.0
#: The packages whose versions the report shows beside the peers' rows.
REPORTED = (
    "llama-index-core",
    "llama-index-readers-file",
    "llama-index-vector-stores-postgres",
    "langchain-core",
    "langchain-community",
    "langchain-postgres",
    "sqlalchemy",
    "pgvector",
    "sentence-transformers",
    "torch",
)


def python() -> Path:
    """The peers' interpreter (it exists once `ensure` has run)."""
    return VENV / "bin" / "python"


def is_built() -> bool:
    """Whether the venv is built from the lock as it is now."""
    return STAMP.is_file() and STAMP.read_text(encoding="utf-8").strip() == _lock_digest()


def ensure() -> Path:
    """The peers' interpreter, building the venv first when it is missing or its lock changed."""
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / "peers-venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time; a waiting one finds it built
        if not is_built():
            _build()
    return python()


def _build() -> None:
    started = time.perf_counter()
    print(f"peers: building their virtualenv {shown(VENV)} (a few minutes, once)", flush=True)
    _step(sys.executable, "-m", "venv", "--clear", str(VENV))
    _step(str(python()), "-m", "pip", "install", "--quiet", TORCH)
    _step(str(python()), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS))
    _step(str(python()), "-m", "pip", "check")
    STAMP.write_text(_lock_digest() + "\n", encoding="utf-8")
    print(f"peers: virtualenv built in {time.perf_counter() - started:.0f} s", flush=True)


def environment(**overrides: str) -> dict[str, str]:
    """A peer process's environment: the harness's children's, with the project's `src` and the
    repository (for `bench`) on PYTHONPATH, since the project is not installed in the venv."""
    path = os.pathsep.join([str(REPO / "src"), str(REPO)])
    return child_environment(PYTHONPATH=path, **overrides)


def versions() -> dict[str, str]:
    """The versions of `REPORTED` in the venv ("not installed" for a missing one)."""
    script = (
        "import json, sys\n"
        "from importlib import metadata\n"
        "def version(name):\n"
        "    try:\n"
        "        return metadata.version(name)\n"
        "    except metadata.PackageNotFoundError:\n"
        "        return 'not installed'\n"
        "print(json.dumps({name: version(name) for name in sys.argv[1:]}))\n"
    )
    done = subprocess.run(
        [str(python()), "-c", script, *REPORTED],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    found = json.loads(done.stdout)
    return {str(name): str(version) for name, version in found.items()}


def _step(*command: str) -> None:
    """Run one build step, printed with the repository's paths shown relative to it."""
    print(f"peers: {without_repository(' '.join(command))}", flush=True)
    subprocess.run(command, cwd=REPO, check=True, timeout=STEP_TIMEOUT)


def _lock_digest() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


if __name__ == "__main__":
    ensure()
