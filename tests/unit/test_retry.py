"""The retry layer above botocore (stockroom/retry.py): which error codes are sent again
here, which are handed back to the caller for later, how often a contended write is
sent, and how long it waits in between."""

import random
import time

import pytest
from botocore.exceptions import ClientError

from stockroom import retry
from stockroom.errors import RetryLaterError


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "refused"}}, "UpdateItem")


def test_a_write_that_met_a_transaction_is_sent_again_here():
    failure = retry.failure_of(client_error("TransactionConflictException"))
    assert isinstance(failure, retry.TransientWriteError)
    assert str(failure) == "TransactionConflictException"


@pytest.mark.parametrize(
    "code",
    [
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
        "InternalServerError",
        "ServiceUnavailable",
    ],
)
def test_what_botocore_already_retried_is_for_the_caller_to_retry_later(code):
    failure = retry.failure_of(client_error(code))
    assert isinstance(failure, RetryLaterError)
    assert code in str(failure)


@pytest.mark.parametrize("code", ["ConditionalCheckFailedException", "ValidationException", ""])
def test_any_other_refusal_is_left_to_the_caller_to_read(code):
    assert retry.failure_of(client_error(code)) is None


@pytest.mark.parametrize(
    "reason", ["TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"]
)
def test_a_transaction_cancelled_by_contention_may_be_sent_again(reason):
    found = retry.contended(["None", reason, "ConditionalCheckFailed"])
    assert isinstance(found, retry.TransientWriteError)
    assert str(found) == reason


def test_a_contended_cancellation_names_each_reason_once_in_order():
    reasons = ["ThrottlingError", "TransactionConflict", "None", "ThrottlingError"]
    assert str(retry.contended(reasons)) == "ThrottlingError, TransactionConflict"


def test_a_cancellation_on_conditions_alone_is_not_sent_again():
    assert retry.contended(["None", "ConditionalCheckFailed", "ValidationError"]) is None


@pytest.fixture
def pauses(monkeypatch):
    """The attempts retry.pause was called with, instead of sleeping."""
    called: list[int] = []
    monkeypatch.setattr(retry, "pause", called.append)
    return called


def contended_then(results: list[object]):
    """A write that raises TransientWriteError for each None in `results`, otherwise
    returns the item; and the list of its calls."""
    calls: list[int] = []

    def write():
        calls.append(len(calls))
        result = results[len(calls) - 1]
        if result is None:
            raise retry.TransientWriteError("TransactionConflict")
        return result

    return write, calls


def test_a_contended_write_is_sent_again_until_it_succeeds(pauses):
    write, calls = contended_then([None, None, "written"])
    assert retry.with_retries(write, "a write") == "written"
    assert len(calls) == 3
    assert pauses == [0, 1]  # a longer pause before each attempt


def test_a_write_contended_at_every_attempt_is_for_the_caller_to_retry_later(pauses):
    write, calls = contended_then([None] * retry.ATTEMPTS + ["never sent"])
    with pytest.raises(RetryLaterError, match=r"^a write: still contended after 5 attempts$"):
        retry.with_retries(write, "a write")
    assert retry.ATTEMPTS == 5
    assert len(calls) == retry.ATTEMPTS
    assert pauses == [0, 1, 2, 3]  # none after the last


def test_a_write_succeeding_at_the_last_attempt_is_returned(pauses):
    write, calls = contended_then([None] * (retry.ATTEMPTS - 1) + ["written"])
    assert retry.with_retries(write, "a write") == "written"
    assert len(calls) == retry.ATTEMPTS


def test_other_errors_are_not_sent_again(pauses):
    calls: list[int] = []

    def write():
        calls.append(1)
        raise RetryLaterError("throttled")

    with pytest.raises(RetryLaterError, match="throttled"):
        retry.with_retries(write, "a write")
    assert len(calls) == 1 and pauses == []


@pytest.mark.parametrize(
    ("attempt", "longest"), [(0, 0.05), (1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]
)
def test_the_pause_is_drawn_from_zero_to_a_doubling_bound_of_at_most_a_second(
    monkeypatch, attempt, longest
):
    drawn: list[tuple[float, float]] = []
    slept: list[float] = []

    def uniform(a: float, b: float) -> float:
        drawn.append((a, b))
        return b / 3

    monkeypatch.setattr(random, "uniform", uniform)
    monkeypatch.setattr(time, "sleep", slept.append)
    retry.pause(attempt)
    assert len(drawn) == 1 and drawn[0][0] == 0
    assert drawn[0][1] == pytest.approx(longest)
    assert slept == [pytest.approx(longest / 3)]
