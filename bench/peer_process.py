"""`python -m bench.peer_process`: one peer run, in its own process, as a user's script runs.

    python -m bench.peer_process llamaindex|langchain --documents DIR --database-url URL
        --embedder hashing|minilm [--workers N] [--pdf-loader pypdfium2|pypdf] [--set-up]

With `--set-up` it only creates the framework's tables and HNSW index. Otherwise it ingests every
file under DIR and prints one JSON line: documents, chunks, and the seconds its imports took.
The benchmark runs it with the peers' own virtualenv's python (`bench.peer_venv`), from the
repository root with `src` on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

STARTED = time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peer_process")
    parser.add_argument("framework", choices=("llamaindex", "langchain"))
    parser.add_argument("--documents", type=Path, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--embedder", choices=("hashing", "minilm"), required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pdf-loader", choices=("pypdfium2", "pypdf"), default="pypdfium2")
    parser.add_argument("--set-up", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from bench import peer_frameworks

    imported = time.perf_counter() - STARTED
    if args.set_up:
        peer_frameworks.set_up(args.framework, args.database_url, args.embedder)
        return
    if args.framework == "llamaindex":
        counts = peer_frameworks.run_llama_index(
            args.documents, args.database_url, args.embedder, args.workers
        )
    else:
        counts = peer_frameworks.run_langchain(
            args.documents, args.database_url, args.embedder, args.pdf_loader
        )
    print(json.dumps({**counts, "import_seconds": imported}), flush=True)


if __name__ == "__main__":
    main()
