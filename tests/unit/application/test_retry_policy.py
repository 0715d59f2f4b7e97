"""The retry policy: which errors retry, and how a queue's allowance follows the document's
attempts."""

from __future__ import annotations

import pytest

from application.errors import (
    DependencyUnavailable,
    DocumentTooLarge,
    EmbedderUnavailable,
    ForbiddenJob,
    InvalidJobArgument,
)
from application.retry_policy import RetryPolicy

POLICY = RetryPolicy(max_attempts=5, backoff=(10, 60))


@pytest.mark.parametrize(
    ("error", "retries"),
    [
        (DependencyUnavailable(), True),
        (EmbedderUnavailable(), True),
        (RuntimeError("a bug, or a crash"), True),
        (DocumentTooLarge(), False),
        (InvalidJobArgument(), False),
        (ForbiddenJob(), False),
    ],
)
def test_permanent_errors_never_retry_and_everything_else_does(
    error: Exception, retries: bool
) -> None:
    assert RetryPolicy.retries(error) is retries


def test_one_delay_per_retry_the_last_repeated() -> None:
    assert POLICY.retry_delays() == (10, 60, 60, 60)
    assert RetryPolicy(max_attempts=2, backoff=(10, 60)).retry_delays() == (10,)
    assert RetryPolicy(max_attempts=1, backoff=(10,)).retry_delays() == ()


@pytest.mark.parametrize("attempts", [1, 2, 3, 4])
def test_a_queue_picking_delays_by_retries_left_waits_the_backoff_of_the_attempt_that_failed(
    attempts: int,
) -> None:
    delays = POLICY.retry_delays()
    retries_left = POLICY.retries_left_after(attempts)

    picked = delays[len(delays) - retries_left]  # how RQ picks a job's next delay

    assert picked == POLICY.backoff[min(attempts, len(POLICY.backoff)) - 1]


def test_the_document_may_be_attempted_until_the_budget_is_spent() -> None:
    assert [POLICY.may_attempt_again(n) for n in range(7)] == [True] * 5 + [False] * 2
    assert [POLICY.retries_left_after(n) for n in (0, 4, 5, 9)] == [5, 1, 0, 0]


@pytest.mark.parametrize(
    ("max_attempts", "backoff"), [(0, (1,)), (3, ()), (3, (1, -1))]
)
def test_a_policy_that_could_not_work_is_refused(
    max_attempts: int, backoff: tuple[int, ...]
) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=max_attempts, backoff=backoff)
