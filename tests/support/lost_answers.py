"""Writes that take effect and whose answer never arrives, as under a loaded network: the
request reaches the AWS endpoint, then the client sees a read timeout, and botocore's own
retry sends the same request again."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ReadTimeoutError
from botocore.hooks import first_non_none_response

from stockroom import aws as stockroom_aws


@dataclass
class LostAnswers:
    remaining: int
    lost: int = 0


@contextmanager
def answers_lost(operation: str, times: int = 1, client: Any = None) -> Iterator[LostAnswers]:
    """The next `times` calls of `operation` (e.g. "PutItem") on the DynamoDB client are
    delivered, and their answers dropped. Yields the count of answers dropped."""
    client = client or stockroom_aws.dynamodb()
    events = client.meta.events
    event_name = f"before-send.dynamodb.{operation}"
    state = LostAnswers(remaining=times)

    def deliver_then_time_out(request: Any, **_: Any) -> None:
        if state.remaining <= 0:
            return  # answered as usual
        state.remaining -= 1
        # Deliver through whatever else answers this event (moto's in-process stub), or
        # over HTTP to the endpoint, then lose the answer.
        events.unregister(event_name, deliver_then_time_out)
        try:
            if first_non_none_response(events.emit(event_name, request=request)) is None:
                client._endpoint.http_session.send(request)
        finally:
            events.register(event_name, deliver_then_time_out)
        state.lost += 1
        raise ReadTimeoutError(endpoint_url=request.url)

    events.register(event_name, deliver_then_time_out)
    try:
        yield state
    finally:
        events.unregister(event_name, deliver_then_time_out)
