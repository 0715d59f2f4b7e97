"""`python -m bench.worker_process`: one worker process for a measurement.

- `--kind ours`: the project's worker class for WORKER_MODE (from the environment), built
  exactly as `python -m worker run` builds it (settings from the environment, the container,
  start-up checks). With `--allow-noop` its jobs are `NoopAllowedJob`s, which also run the
  harness's no-op job, so the per-job overhead can be measured.
- `--kind rq`: the plain RQ class ours derives from, with the same JSON serializer: `rq.Worker`
  with `--mode fork` (the default), `rq.SimpleWorker` with `--mode inline` or `--mode pool`.
  With `--load-stack` the process first loads what ours loads (the container, checked and
  warmed up), so a fork copies a process of the same size and only the worker class differs.

With `--burst` it drains the queue, then prints one JSON line: when work began and ended.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import time
from typing import TYPE_CHECKING

from redis import Redis
from rq import SimpleWorker, Worker
from rq.serializers import JSONSerializer
from rq.worker import BaseWorker

if TYPE_CHECKING:
    from bootstrap import Container

_LOADED: list[Container] = []


def _our_worker(queue: str, allow_noop: bool) -> BaseWorker:
    from bench.our_worker import our_worker

    return our_worker(_load_stack(), queue, allow_noop)


def _load_stack() -> Container:
    """The container, checked and warmed up, as `python -m worker run` holds it before forking."""
    from bootstrap import build_container, check_startup, release_connections
    from infrastructure.settings import WorkerMode, load_settings

    settings = load_settings()
    container = build_container(settings, defer_model=settings.worker_mode is WorkerMode.POOL)
    check_startup(container)
    release_connections(container)
    return container


def _plain_worker(queue: str, redis_url: str, mode: str) -> BaseWorker:
    worker_class = Worker if mode == "fork" else SimpleWorker
    return worker_class([queue], connection=Redis.from_url(redis_url), serializer=JSONSerializer)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=("ours", "rq"), required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--mode", choices=("fork", "inline", "pool"), default="fork")
    parser.add_argument("--burst", action="store_true")
    parser.add_argument("--allow-noop", action="store_true")
    parser.add_argument("--load-stack", action="store_true", help="load ours first (kind rq)")
    parser.add_argument("--preload", action="append", default=[], help="import before forking")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for module in args.preload:
        getattr(importlib.import_module(module), "preload", lambda: None)()
    if args.kind == "ours":
        worker = _our_worker(args.queue, args.allow_noop)
    else:
        if args.load_stack:
            _LOADED.append(_load_stack())  # held, so the process keeps ours' size
        worker = _plain_worker(args.queue, args.redis_url, args.mode)
    started = time.time()
    worker.work(burst=args.burst, with_scheduler=True, logging_level="WARNING")
    print(json.dumps({"started": started, "finished": time.time()}), flush=True)


if __name__ == "__main__":
    main()
