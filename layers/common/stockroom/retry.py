"""Retrying writes that lost a race or were throttled, with jittered exponential backoff.

botocore already retries throttled and failed calls; what it cannot retry is a transaction
cancelled because another one touched the same item at the same moment. Full jitter keeps
the racers from colliding again in step.
"""

import random
import time
from collections.abc import Callable

from stockroom.errors import RetryLaterError
from stockroom.observability import count, logger

ATTEMPTS = 5
_BASE_DELAY_SECONDS = 0.05
_MAX_DELAY_SECONDS = 1.0


# AWS error codes, and DynamoDB transaction cancellation reasons, that mean "the same
# request may succeed if sent again".
TRANSIENT_ERROR_CODES = frozenset(
    {
        "TransactionConflict",
        "ThrottlingError",
        "ThrottlingException",
        "ProvisionedThroughputExceeded",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
        "InternalServerError",
    }
)


class TransientWriteError(Exception):
    """A write that may succeed if sent again: a transaction conflict or throttling."""


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
            time.sleep(random.uniform(0, min(_MAX_DELAY_SECONDS, _BASE_DELAY_SECONDS * 2**attempt)))
    raise AssertionError("unreachable")  # the loop returns or raises
