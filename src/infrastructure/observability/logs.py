"""Process-wide logging: JSON or text lines, job context on every record, secrets masked.

`configure_logging` installs one handler on the root logger. `job_context(...)` binds fields
(job id, document id, workspace id) to the current context; every record emitted inside the
block carries them, in both formats. Messages and tracebacks pass through `redact`.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal, TextIO

from infrastructure.redaction import redact

LogFormat = Literal["json", "text"]

_context: ContextVar[Mapping[str, str] | None] = ContextVar("job_log_context", default=None)
_HANDLER_MARK = "_ingestion_worker_handler"


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


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, job context, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        line.update(getattr(record, "context", {}))
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            line["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger message key=value...`, redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        context = getattr(record, "context", {})
        suffix = "".join(f" {key}={value}" for key, value in context.items())
        return redact(super().format(record) + suffix)


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
    handler.addFilter(JobContextFilter())
    setattr(handler, _HANDLER_MARK, True)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
