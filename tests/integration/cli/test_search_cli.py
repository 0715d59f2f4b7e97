"""`ingest search` against the session's real Postgres, on documents the pipeline processed."""

from __future__ import annotations

from uuid import UUID

import pytest

from application.ports import JobQueue
from application.usecases.ingestion import (
    ProcessDocument,
    ProcessUploadedDocument,
    SubmitDocument,
    SubmitUpload,
)
from bootstrap import Container
from infrastructure.memory import InMemoryJobQueue
from tests.integration.cli.test_ingest_cli import WORKSPACE, Ingest, ingest  # noqa: F401

GUIDE = b"""# Operations guide

## Retries

A job that fails for a transient reason is retried with exponential backoff.

## Storage

Chunks and their embeddings are written to Postgres in one transaction.
"""


def processed(container: Container, filename: str, data: bytes) -> UUID:
    container.register(JobQueue, instance=InMemoryJobQueue())
    submit: SubmitDocument = container.resolve(SubmitDocument)
    document = submit(SubmitUpload(WORKSPACE, filename, data))
    process: ProcessUploadedDocument = container.resolve(ProcessUploadedDocument)
    process(ProcessDocument(document.id, WORKSPACE))
    return document.id


def rows(out: str) -> list[list[str]]:
    """The result table's rows, split on the runs of spaces between columns."""
    return [
        [cell.strip() for cell in line.split("  ") if cell.strip()]
        for line in out.splitlines()[2:]
        if line.strip()
    ]


@pytest.mark.parametrize("mode", ["vector", "text", "hybrid"])
def test_search_prints_rank_score_file_page_headings_and_first_line(
    ingest: Ingest,  # noqa: F811
    app_container: Container,
    mode: str,
) -> None:
    processed(app_container, "ops.md", GUIDE)
    processed(app_container, "other.txt", b"Nothing about the subject at all.")

    code, out = ingest(
        "search", "retried exponential backoff", "--workspace", str(WORKSPACE),
        "--k", "3", "--mode", mode,
    )  # fmt: skip

    assert code == 0
    assert out.splitlines()[0].split() == [
        "rank", "score", "file", "page", "headings", "first", "line"
    ]  # fmt: skip
    found = [[cell.strip() for cell in row] for row in rows(out)]
    assert [row[0] for row in found] == [str(rank) for rank in range(1, len(found) + 1)]
    assert all(float(row[1]) > 0 for row in found)
    assert ["ops.md", "-", "Operations guide › Retries", "Retries"] in [row[2:] for row in found]


def test_text_search_ranks_the_chunk_with_every_word_first(
    ingest: Ingest,  # noqa: F811
    app_container: Container,
) -> None:
    processed(app_container, "ops.md", GUIDE)

    code, out = ingest(
        "search", "retried backoff", "--workspace", str(WORKSPACE), "--mode", "text"
    )  # fmt: skip

    ((rank, score, *where),) = [[cell.strip() for cell in row] for row in rows(out)]
    assert code == 0
    assert (rank, where) == ("1", ["ops.md", "-", "Operations guide › Retries", "Retries"])
    assert float(score) > 0


def test_search_says_when_nothing_matches(ingest: Ingest) -> None:  # noqa: F811
    code, out = ingest("search", "anything", "--workspace", str(WORKSPACE), "--mode", "text")

    assert code == 0
    assert "no chunk of workspace" in out
