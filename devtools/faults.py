"""Faults the local stack's functions meet on their way to AWS, when STOCKROOM_FAULTS
asks for them (`make run FAULTS=...`): the failures the product claims to survive.

    STOCKROOM_FAULTS="refused-sends=0.2,lost-answers=0.1"

- refused-sends: that share of SendMessageBatch entries is refused by the queue (left
  out of the request, named in the answer's `Failed` list as SQS names a refusal);
- lost-answers: that share of DynamoDB writes takes effect and its answer is lost (a
  read timeout), so botocore sends it again.

Installed in each function's execution environment (devtools/runtime.py) under every
client it makes: the functions' code is unchanged, and the stack's own pollers and the
tests' clients see no fault. Loaded by path, as runtime.py keeps devtools off the
function's path.
"""

import json
import random
import sys
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.endpoint import Endpoint
from botocore.exceptions import ReadTimeoutError

VARIABLE = "STOCKROOM_FAULTS"
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})


def parse(spec: str) -> dict[str, float]:
    """`refused-sends=0.2,lost-answers=0.1` as shares by fault, each in [0, 1)."""
    shares: dict[str, float] = {}
    for part in filter(None, (piece.strip() for piece in spec.split(","))):
        name, _, value = part.partition("=")
        if name not in ("refused-sends", "lost-answers") or not 0 <= float(value) < 1:
            raise ValueError(f"{VARIABLE}: {part!r} is not refused-sends=<0..1> or lost-answers=")
        shares[name] = float(value)
    return shares


def install(spec: str, chance: Any = random.random) -> None:
    """Every request this process sends goes through the faults `spec` asks for."""
    shares = parse(spec)
    refused, lost = shares.get("refused-sends", 0.0), shares.get("lost-answers", 0.0)
    send = getattr(Endpoint, "_send")  # noqa: B009  # private, untyped in the stubs

    def faulty(endpoint: Any, request: Any) -> Any:
        target = request.headers.get("X-Amz-Target", b"")  # JSON: "Service.Operation"
        text = target.decode() if isinstance(target, bytes) else target
        operation = text.rsplit(".", 1)[-1]
        if operation == "SendMessageBatch" and refused:
            return _refusing(send, endpoint, request, lambda: chance() < refused)
        response = send(endpoint, request)
        if operation in WRITES and chance() < lost:
            _said(f"the answer to {operation} lost after it took effect")
            raise ReadTimeoutError(endpoint_url=request.url)
        return response

    setattr(Endpoint, "_send", faulty)  # noqa: B010


def _refusing(send: Any, endpoint: Any, request: Any, refuse: Any) -> Any:
    """The batch with the entries `refuse` picks withheld, answered as SQS answers a
    batch it took in part."""
    body = json.loads(request.body)
    withheld = [entry for entry in body["Entries"] if refuse()]
    body["Entries"] = [entry for entry in body["Entries"] if entry not in withheld]
    failed = [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in withheld]
    if withheld:
        _said(f"{len(withheld)} of {len(withheld) + len(body['Entries'])} messages refused")
    if body["Entries"]:
        request.body = json.dumps(body).encode()
        request.headers["Content-Length"] = str(len(request.body))
        response = send(endpoint, request)
        if response.status_code != 200:
            return response
        answer = json.loads(response.content)
    else:  # SQS refuses an empty batch: nothing to send
        response = AWSResponse(request.url, 200, HTTPHeaders(), None)
        answer = {"Successful": []}
    answer["Failed"] = answer.get("Failed", []) + failed
    response._content = json.dumps(answer).encode()
    return response


def _said(fault: str) -> None:
    """One line in the stack's log for each fault made (function output goes to stderr)."""
    print(f"[fault] {fault}", file=sys.stderr, flush=True)
