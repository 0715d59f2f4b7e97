"""The text and fields a failed job shows outside clients: a code, a bounded redacted message."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rq.exceptions import DeserializationError
from rq.timeouts import JobTimeoutException

from application.errors import (
    InternalError,
    InvalidJobArgument,
    JobTimedOut,
    RetriesExhausted,
    UndecodableJob,
)
from infrastructure.queue.job_failures import (
    MESSAGE_LIMIT,
    TRACEBACK_END_LIMIT,
    JobFailure,
    failure_of,
)
from infrastructure.redaction import forget_secrets, register_secret


@pytest.fixture(autouse=True)
def _no_secrets_left() -> Iterator[None]:
    yield
    forget_secrets()


def test_our_errors_keep_their_code_and_message() -> None:
    error = InvalidJobArgument("document_id: 'x' is not a UUID")
    assert failure_of(error) is error
    failure = JobFailure.of(error)
    assert failure.exc_info("Traceback ...") == (
        "invalid_argument: document_id: 'x' is not a UUID\nTraceback ..."
    )


@pytest.mark.parametrize(
    ("exception", "kind", "code"),
    [
        (DeserializationError("Expecting value"), UndecodableJob, "undecodable_job"),
        (
            JobTimeoutException("Task exceeded maximum timeout value (1 seconds)"),
            JobTimedOut,
            "timeout",
        ),
        (KeyError("boom"), InternalError, "internal_error"),
    ],
)
def test_other_exceptions_get_a_declared_code(
    exception: BaseException, kind: type, code: str
) -> None:
    error = failure_of(exception)
    assert isinstance(error, kind) and error.code == code


def test_an_unexpected_exception_is_named_in_the_message() -> None:
    assert failure_of(KeyError("boom")).message == "KeyError: 'boom'"


def test_a_huge_message_is_cut_to_one_bounded_line() -> None:
    failure = JobFailure.of(RetriesExhausted("line one\nline two " + "x" * 5_000_000))
    assert failure.message.startswith("line one line two xxx")
    assert failure.message.endswith("…") and len(failure.message) <= MESSAGE_LIMIT + 1
    assert "\n" not in failure.exc_info()


def test_a_huge_traceback_keeps_its_ends() -> None:
    traceback = "Traceback (most recent call last):\n" + "y" * 3_000_000 + "\nKeyError: 'end'"
    text = JobFailure("internal_error", "boom").exc_info(traceback)
    assert len(text) < 3 * TRACEBACK_END_LIMIT
    assert "Traceback (most recent call last)" in text and text.endswith("KeyError: 'end'")
    assert "characters left out" in text


def test_secrets_are_masked_in_the_message_and_the_traceback() -> None:
    register_secret("s3cr3t-key-value")
    failure = JobFailure.of(
        InternalError("connect redis://:hunter2@cache failed, s3cr3t-key-value")
    )
    text = failure.exc_info('raise Error("s3cr3t-key-value")')
    assert "hunter2" not in text and "s3cr3t-key-value" not in text
    assert "redis://:***@cache" in failure.message


def test_a_secret_across_the_cut_is_still_masked() -> None:
    register_secret("TOPSECRETVALUE")
    message = "a" * (MESSAGE_LIMIT - 5) + "TOPSECRETVALUE" + "b" * 100
    assert "TOPSE" not in JobFailure.of(InternalError(message)).message
