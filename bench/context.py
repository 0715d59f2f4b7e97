"""What every measurement shares: the corpus, the services, the stored files, the settings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.corpus import Corpus, CorpusFile
from bench.paths import OUT
from bench.services import Services

#: The workspace every benchmark document belongs to: the worker reads a document's file only
#: under its workspace's folder, so the corpus is uploaded there.
WORKSPACE = uuid.UUID("00000000-0000-4000-8000-00000000be4c")


@dataclass(frozen=True)
class Blob:
    """A corpus file as uploaded: its storage key and absolute path in local storage."""

    file: CorpusFile
    key: str
    path: Path

    @property
    def filename(self) -> str:
        return self.file.path.name


@dataclass
class Context:
    size: str
    corpus: Corpus
    services: Services
    repetitions: int
    storage_root: Path = OUT / "blobs"
    data_dir: Path = OUT / "worker-data"
    blobs: list[Blob] = field(default_factory=list)

    def upload_corpus(self) -> None:
        """Put every corpus file in local storage once (not timed)."""
        from infrastructure.storage.local import LocalBlobStorage

        storage = LocalBlobStorage(self.storage_root)
        for n, file in enumerate(self.corpus.files):
            self.blobs.append(self.upload(storage, file, f"corpus-{n:05d}"))

    def upload(self, storage: Any, file: CorpusFile, folder: str) -> Blob:
        key = f"{WORKSPACE}/{self.size}/{folder}/{file.path.name}"
        if not storage.exists(key) or storage.size(key) != file.size:
            storage.put(key, file.path.read_bytes())
        return Blob(file, key, storage.root / key)

    def worker_env(self, queue: str, **extra: str) -> dict[str, str]:
        """The environment of the project's worker for this run (hashing embedder by default)."""
        env = {
            "DATABASE_URL": self.services.database_url,
            "REDIS_URL": self.services.redis_url,
            "QUEUES": queue,
            "LOCAL_STORAGE_ROOT": str(self.storage_root),
            "DATA_DIR": str(self.data_dir),
            "HTTP_PORT": "0",
            "LOG_LEVEL": "WARNING",
            "EMBEDDER": "hashing",
            "EMBEDDING_DIMENSION": "384",
            "WORKERS": "1",
        }
        env.update(extra)
        return env

    def settings(self, queue: str = "bench-inprocess", **extra: str) -> Any:
        """The project's settings for in-process use, from the same values as `worker_env`."""
        from infrastructure.settings import load_settings

        values = {k.lower(): v for k, v in self.worker_env(queue, **extra).items()}
        return load_settings(**values)


def new_queue(label: str) -> str:
    return f"bench-{label}-{uuid.uuid4().hex[:8]}"
