"""Process-wide logging: JSON or text lines, job context on every record, secrets masked.

`configure_logging` installs one handler on the root logger. `job_context(...)` binds fields
(job id, document id, workspace id) to the current context; every record emitted inside the
block carries them, in both formats. Messages and tracebacks pass through `redact`, bounded
first (`BoundedRecordFilter`, then the formatters): a job's description, id or error built from
hostile input can be megabytes, and RQ logs some of them on its own.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from infrastructure.redaction import redact, redacted_excerpt

LogFormat = Literal["json", "text"]

_context: ContextVar[Mapping[str, str] | None] = ContextVar("job_log_context", default=None)
_HANDLER_MARK = "_ingestion_worker_handler"
#: Characters kept of a log message, of each of its string arguments, and of each end of a
#: traceback.
MESSAGE_LIMIT = 8_000
ARGUMENT_LIMIT = 4_000
TRACEBACK_END_LIMIT = 4_000


@contextmanager
def job_context(**fields: object) -> Iterator[None]:
    """Bind `fields` (e.g. job_id=..., document_id=...) to every log record emitted inside."""
    bound = {key: str(value) for key, value in fields.items() if value is not None}
    token = _context.set({**current_job_context(), **bound})
    try:
        yield
    finally:
        _context.reset(token)


def current_job_context() -> Mapping[str, str]:
    """The fields bound by the innermost active `job_context`."""
    return _context.get() or {}


class JobContextFilter(logging.Filter):
    """Copies the current job context onto each record as `record.context` and attributes."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = dict(current_job_context())
        record.context = context
        for key, value in context.items():
            setattr(record, key, value)
        return True


class BoundedRecordFilter(logging.Filter):
    """Cuts a record's string arguments, and a message template too long to keep, to a bound
    before anything formats them, and a traceback another handler formatted. A cut text keeps
    its start and its end (where a traceback names the exception)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_bounded_argument(argument) for argument in record.args)
        if isinstance(record.msg, str) and len(record.msg) > MESSAGE_LIMIT:
            record.msg, record.args = _bounded(record.getMessage(), MESSAGE_LIMIT), None
        if record.exc_text:
            record.exc_text = _traceback(record.exc_text)
        return True


def _bounded_argument(argument: object) -> object:
    if isinstance(argument, str) and len(argument) > ARGUMENT_LIMIT:
        return _bounded(argument, ARGUMENT_LIMIT)
    if isinstance(argument, bytes) and len(argument) > ARGUMENT_LIMIT:
        return argument[:ARGUMENT_LIMIT] + b"..."
    return argument


def _bounded(text: str, limit: int) -> str:
    """`text`, or its first and last `limit // 2` characters with what lies between left out."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} …({len(text) - 2 * half} characters left out)… {text[-half:]}"


def _message(record: logging.LogRecord) -> str:
    """The record's message, bounded and redacted."""
    return redact(_bounded(record.getMessage(), MESSAGE_LIMIT))


def _traceback(text: str) -> str:
    """A formatted traceback, or its start and its end, redacted."""
    if len(text) <= 2 * TRACEBACK_END_LIMIT:
        return redact(text)
    head = redacted_excerpt(text, TRACEBACK_END_LIMIT)
    tail = redacted_excerpt(text, TRACEBACK_END_LIMIT, from_end=True)
    return f"{head}\n({len(text) - 2 * TRACEBACK_END_LIMIT} characters left out)\n{tail}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, job context, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
        }
        line.update(getattr(record, "context", {}))
        if record.exc_info:
            line["exception"] = _traceback(self.formatException(record.exc_info))
        if record.stack_info:
            line["stack"] = _traceback(self.formatStack(record.stack_info))
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger message key=value...`, then the traceback if any; bounded, redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802  # logging's name
        record.message = _message(record)
        context = getattr(record, "context", {})
        suffix = "".join(f" {key}={value}" for key, value in context.items())
        return redact(super().formatMessage(record) + suffix)

    def formatException(self, ei: Any) -> str:  # noqa: N802  # logging's name
        return _traceback(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802  # logging's name
        return _traceback(super().formatStack(stack_info))


def configure_logging(
    format: LogFormat = "text", level: str | int = "INFO", *, stream: TextIO | None = None
) -> logging.Handler:
    """Route all logging to one `stream` handler (stderr by default) in `format` at `level`.

    Calling it again replaces the handler it installed before; other handlers are left alone.
    """
    if format not in ("json", "text"):
        raise ValueError(f"log format must be 'json' or 'text', not {format!r}")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if format == "json" else TextFormatter())
    handler.addFilter(BoundedRecordFilter())
    handler.addFilter(JobContextFilter())
    setattr(handler, _HANDLER_MARK, True)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
