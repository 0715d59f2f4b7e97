from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from infrastructure.observability import configure_logging, job_context

LOGGER = logging.getLogger("tests.observability")


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    level = root.level
    buffer = io.StringIO()
    yield buffer
    for handler in [h for h in root.handlers if getattr(h, "stream", None) is buffer]:
        root.removeHandler(handler)
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_job_context_only_inside_the_block(stream: io.StringIO) -> None:
    configure_logging("json", "INFO", stream=stream)

    with job_context(job_id="job-1", document_id="doc-1", workspace_id="ws-1"):
        LOGGER.info("processing %s", "report.pdf")
    LOGGER.info("idle")

    inside, outside = _lines(stream)
    assert inside["message"] == "processing report.pdf"
    assert inside["level"] == "INFO" and inside["logger"] == "tests.observability"
    assert (inside["job_id"], inside["document_id"], inside["workspace_id"]) == (
        "job-1",
        "doc-1",
        "ws-1",
    )
    assert "job_id" not in outside


def test_nested_contexts_add_fields_and_restore_on_exit(stream: io.StringIO) -> None:
    configure_logging("json", "INFO", stream=stream)

    with job_context(job_id="job-1"):
        with job_context(document_id="doc-1"):
            LOGGER.info("inner")
        LOGGER.info("outer")

    inner, outer = _lines(stream)
    assert (inner["job_id"], inner["document_id"]) == ("job-1", "doc-1")
    assert outer["job_id"] == "job-1" and "document_id" not in outer


def test_json_redacts_messages_and_exceptions(stream: io.StringIO) -> None:
    configure_logging("json", "INFO", stream=stream)

    try:
        raise ConnectionError("cannot reach postgresql://ingest:pa55word@db/rag")
    except ConnectionError:
        LOGGER.exception("connect to redis://:hunter2@cache failed")

    (line,) = _lines(stream)
    assert "pa55word" not in stream.getvalue() and "hunter2" not in stream.getvalue()
    assert line["message"] == "connect to redis://:***@cache failed"
    assert "postgresql://ingest:***@db/rag" in str(line["exception"])


def test_text_format_appends_context_and_redacts(stream: io.StringIO) -> None:
    configure_logging("text", "DEBUG", stream=stream)

    with job_context(job_id="job-7"):
        LOGGER.debug("dsn postgresql://u:topsecret@h/db")

    text = stream.getvalue()
    assert "DEBUG tests.observability dsn postgresql://u:***@h/db job_id=job-7" in text
    assert "topsecret" not in text


def test_level_filters_and_reconfiguring_replaces_the_handler(stream: io.StringIO) -> None:
    configure_logging("json", "INFO", stream=stream)
    configure_logging("json", "WARNING", stream=stream)

    LOGGER.info("dropped")
    LOGGER.warning("kept")

    assert [line["message"] for line in _lines(stream)] == ["kept"]


def test_rejects_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="json"):
        configure_logging("yaml", "INFO")  # type: ignore[arg-type]


@pytest.mark.parametrize("format", ["json", "text"])
def test_a_huge_message_or_argument_is_cut_before_it_is_formatted(
    stream: io.StringIO, format: str
) -> None:
    configure_logging(format, "INFO", stream=stream)  # type: ignore[arg-type]

    LOGGER.info("queue: %s (%s)", "d" * 150_000, "job-1")
    LOGGER.info("x" * 150_000)
    try:
        raise ValueError("v" * 150_000)
    except ValueError:
        LOGGER.exception("failed")

    lines = stream.getvalue().splitlines()
    assert len(lines) >= 3
    assert all(len(line) < 20_000 for line in lines), [len(line) for line in lines]
    assert "(job-1)" in lines[0]
