"""SendMessageBatch answered in part, as SQS does when it refuses some entries: the
entries chosen are taken out of the request before it is sent (moto never sees them)
and named in the answer's `Failed` list with SQS's own error shape; the others reach the
queue. On the code's own client, so the request is the one the code built."""

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from stockroom import aws as stockroom_aws


@dataclass
class Refusals:
    requests: list[list[dict[str, Any]]] = field(default_factory=list)  # entries as built
    refused: list[str] = field(default_factory=list)  # message bodies refused


@contextmanager
def queue_refusals(refuse: Callable[[dict[str, Any]], bool]) -> Iterator[Refusals]:
    """Each SendMessageBatch entry whose body (parsed) `refuse` picks is refused. Yields
    every request's entries and the bodies refused."""
    events = stockroom_aws.sqs().meta.events
    state = Refusals()
    withheld: list[dict[str, Any]] = []

    def withhold(params: dict[str, Any], **_: Any) -> None:
        entries = params["Entries"]
        state.requests.append([dict(entry) for entry in entries])
        withheld[:] = [entry for entry in entries if refuse(json.loads(entry["MessageBody"]))]
        params["Entries"] = [entry for entry in entries if entry not in withheld]
        assert params["Entries"], "SQS refuses an empty batch: leave one entry of each"
        state.refused += [entry["MessageBody"] for entry in withheld]

    def answer(parsed: dict[str, Any], **_: Any) -> None:
        parsed.setdefault("Failed", []).extend(
            {"Id": entry["Id"], "SenderFault": False, "Code": "InternalError"} for entry in withheld
        )

    events.register_first("provide-client-params.sqs.SendMessageBatch", withhold)
    events.register_first("after-call.sqs.SendMessageBatch", answer)
    try:
        yield state
    finally:
        events.unregister("provide-client-params.sqs.SendMessageBatch", withhold)
        events.unregister("after-call.sqs.SendMessageBatch", answer)
