"""The one retry layer above botocore: writes that lost a race, sent again with full
jitter, a bounded number of times, each retry counted.

Each kind of failure has one retrier:
- throttling, 5xx answers and transport errors: botocore's standard mode (stockroom.aws,
  4 attempts with jittered backoff). What reaches our code has outlasted those, so it is
  not sent again here: `failure_of` makes it a RetryLaterError at once, and the caller (a
  queue's redelivery, Lambda's retry, a client's 503) comes back later.
- contention botocore cannot see: a single write that met a transaction in flight
  (TransactionConflictException), and a cancelled transaction whose reasons say a
  conflict or a throttled item (botocore only sees TransactionCanceledException, which
  it never retries). Those are TransientWriteError, and `with_retries` sends the write
  again. Conditional-check races are the callers' to resolve (they read and decide).
"""

import random
import time
from collections.abc import Callable

from botocore.exceptions import ClientError

from stockroom import aws
from stockroom.errors import RetryLaterError
from stockroom.observability import count, logger

ATTEMPTS = 5
_BASE_DELAY_SECONDS = 0.05
_MAX_DELAY_SECONDS = 1.0

# Error codes botocore's standard mode retried before giving up (its throttling codes and
# the 5xx answers DynamoDB names).
RETRIED_BY_BOTOCORE = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
# A single-item write refused because a transaction held the item.
CONTENDED_CODES = frozenset({"TransactionConflictException"})
# The cancellation reasons of a transaction that may succeed if sent again.
CONTENDED_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)


class TransientWriteError(Exception):
    """A write that may succeed if sent again: it met a concurrent transaction."""


def failure_of(error: ClientError) -> Exception | None:
    """What a failed call's error code means here: TransientWriteError (send it again),
    RetryLaterError (botocore's retries are spent), or None (the caller's to read)."""
    code = aws.error_code(error)
    if code in CONTENDED_CODES:
        return TransientWriteError(code)
    if code in RETRIED_BY_BOTOCORE:
        return RetryLaterError(f"{code} outlasted botocore's retries")
    return None


def contended(reasons: list[str]) -> TransientWriteError | None:
    """TransientWriteError when a cancelled transaction's reasons say to send it again."""
    found = sorted(set(reasons) & CONTENDED_REASONS)
    return TransientWriteError(", ".join(found)) if found else None


def with_retries[T](write: Callable[[], T], what: str) -> T:
    """`write()`, sent again after a TransientWriteError up to ATTEMPTS times in all;
    then RetryLaterError, so the caller (a queue, a client) comes back later."""
    for attempt in range(ATTEMPTS):
        try:
            return write()
        except TransientWriteError as error:
            if attempt == ATTEMPTS - 1:
                raise RetryLaterError(
                    f"{what}: still contended after {ATTEMPTS} attempts"
                ) from error
            count("ConflictsRetried")
            logger.info(
                "retrying a contended write", what=what, attempt=attempt + 1, error=str(error)
            )
            pause(attempt)
    raise AssertionError("unreachable")  # the loop returns or raises  # pragma: no mutate


def pause(attempt: int) -> None:
    """Full jitter: a random wait up to 50 ms x 2^attempt (at most 1 s), so racers that
    collided do not collide again in step."""
    time.sleep(random.uniform(0, min(_MAX_DELAY_SECONDS, _BASE_DELAY_SECONDS * 2**attempt)))
