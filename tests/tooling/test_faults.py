"""The local stack's faults (devtools/faults.py): a refused share of a SendMessageBatch
request is left out of what is sent and named in the answer as SQS names a refusal; a
lost answer is a read timeout after the request was sent."""

import json
from typing import Any

import pytest
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.endpoint import Endpoint
from botocore.exceptions import ReadTimeoutError

from devtools import faults


def batch(count: int) -> AWSRequest:
    entries = [{"Id": str(n), "MessageBody": f'{{"order_id":"o-{n}"}}'} for n in range(count)]
    body = json.dumps({"QueueUrl": "q", "Entries": entries}).encode()
    request = AWSRequest("POST", "http://sqs.local/", data=body)
    request.headers["X-Amz-Target"] = "AmazonSQS.SendMessageBatch"
    return request


def answered(body: dict[str, Any]) -> Any:
    """SQS's answer to a batch taken whole; an empty JSON object to anything else."""
    response: Any = AWSResponse("http://aws.local/", 200, HTTPHeaders(), None)
    ids = [entry["Id"] for entry in body.get("Entries", [])]
    response._content = json.dumps({"Successful": [{"Id": i} for i in ids]} if ids else {}).encode()
    return response


def send(request: AWSRequest) -> Any:
    """The request through Endpoint._send, as botocore sends it."""
    return getattr(Endpoint, "_send")(None, request.prepare())  # noqa: B009  # private


@pytest.fixture
def endpoint(monkeypatch):
    """Endpoint._send answered here, each request's body kept; restored afterwards."""
    sent: list[dict[str, Any]] = []

    def deliver(_endpoint, request):
        sent.append(json.loads(request.body))
        return answered(sent[-1])

    monkeypatch.setattr(Endpoint, "_send", deliver)
    return sent


def test_refused_entries_are_withheld_and_named_as_failed(endpoint):
    draws = iter([0.9, 0.1, 0.9, 0.1])  # the second and fourth entries refused
    faults.install("refused-sends=0.5", chance=lambda: next(draws))

    response = send(batch(4))

    assert [entry["Id"] for entry in endpoint[0]["Entries"]] == ["0", "2"]
    answer = json.loads(response.content)
    assert [item["Id"] for item in answer["Successful"]] == ["0", "2"]
    assert [(item["Id"], item["SenderFault"]) for item in answer["Failed"]] == [
        ("1", False),
        ("3", False),
    ]


def test_a_batch_refused_whole_is_never_sent(endpoint):
    faults.install("refused-sends=0.5", chance=lambda: 0.0)

    answer = json.loads(send(batch(3)).content)

    assert endpoint == []
    assert answer == {
        "Successful": [],
        "Failed": [{"Id": str(n), "SenderFault": False, "Code": "InternalError"} for n in range(3)],
    }


def test_a_lost_answer_is_a_timeout_after_the_write_was_sent(endpoint):
    faults.install("lost-answers=0.5", chance=lambda: 0.0)
    request = AWSRequest("POST", "http://dynamodb.local/", data=b'{"TableName": "t"}')
    request.headers["X-Amz-Target"] = "DynamoDB_20120810.UpdateItem"
    reads = AWSRequest("POST", "http://dynamodb.local/", data=b'{"TableName": "t"}')
    reads.headers["X-Amz-Target"] = "DynamoDB_20120810.GetItem"

    with pytest.raises(ReadTimeoutError):
        send(request)
    send(reads)  # reads are answered

    assert len(endpoint) == 2


@pytest.mark.parametrize("spec", ["refused-sends=1", "lost=0.1", "lost-answers=-0.1"])
def test_a_spec_it_cannot_follow_is_refused(spec):
    with pytest.raises(ValueError, match="STOCKROOM_FAULTS"):
        faults.parse(spec)
