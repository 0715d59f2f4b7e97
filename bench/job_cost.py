"""`python -m bench.job_cost [--documents N] [--modes fork,inline,pool]`: per-job cost, tiny docs.

For each WORKER_MODE, N small text documents (distinct contents) are submitted to a queue of
their own, then one `python -m worker run --burst` drains it. The cost per job is the span from
the first attempt's start to the last one's end (the documents' own timestamps) divided by N;
start-up is not counted. Prints one line per mode.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import uuid

from bench.context import Context, new_queue
from bench.corpus import Corpus
from bench.paths import OUT, REPO, child_environment


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.job_cost", description=__doc__)
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--modes", default="fork,inline,pool")
    args = parser.parse_args()
    from bench.services import running_services

    with running_services(None, None, dimension=384) as services:
        context = Context("job-cost", Corpus(OUT, ()), services, 1, OUT / "job-cost-blobs")
        for mode in args.modes.split(","):
            per_job = _drain(context, mode, args.documents)
            print(
                f"WORKER_MODE={mode}: {per_job * 1000:.1f} ms per job, "
                f"{1 / per_job:.1f} docs/s ({args.documents} tiny text documents, 1 worker)",
                flush=True,
            )


def _drain(context: Context, mode: str, documents: int) -> float:
    from application.usecases.ingestion import SubmitDocument, SubmitUpload
    from bootstrap import build_container

    queue = new_queue(f"cost-{mode}")
    container = build_container(context.settings(queue))
    submit: SubmitDocument = container.resolve(SubmitDocument)
    workspace = uuid.uuid4()
    for n in range(documents):
        text = f"Document {n}.\n\nIt says one small thing, number {n}, and stops.\n"
        submit(SubmitUpload(workspace, f"doc{n}.txt", text.encode()))
    subprocess.run(
        [sys.executable, "-m", "worker", "run", "--burst"],
        cwd=REPO,
        env=child_environment(**context.worker_env(queue, WORKER_MODE=mode)),
        check=True,
        capture_output=True,
    )
    return _span_seconds(context, workspace) / documents


def _span_seconds(context: Context, workspace: uuid.UUID) -> float:
    from bench import database

    connection = database.connect(context.services.plain_dsn())
    row = connection.execute(
        "SELECT extract(epoch FROM max(processed_at) - min(processing_started_at)),"
        " count(*) FILTER (WHERE status <> 'ready') FROM documents WHERE workspace_id = %s",
        (workspace,),
    ).fetchone()
    connection.close()
    if row is None or row[1]:
        raise RuntimeError(f"not every document became ready: {row}")
    return float(row[0])


if __name__ == "__main__":
    main()
