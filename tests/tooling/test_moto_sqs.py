"""devtools.moto_sqs changes how fast moto's SQS answers, never what it answers: the same
calls, with and without it, give the same transcript."""

import json
import subprocess
import sys
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from devtools import moto_sqs
from devtools.template import ROOT


def _call(transcript: list[Any], what: str, call: Any) -> Any:
    try:
        answer = call()
    except ClientError as error:
        transcript.append((what, "error", error.response["Error"]["Code"]))
        return None
    return answer


def _bodies(messages: Any) -> list[str]:
    return [message["Body"] for message in messages]


def _scenario() -> list[Any]:
    """Sends, receives, deletes (twice, unknown, after a move to the DLQ), batches,
    redrive, FIFO deduplication and the counts after each step."""
    transcript: list[Any] = []
    with mock_aws():
        sqs = boto3.client("sqs", region_name="eu-west-1")
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
        queue = sqs.create_queue(QueueName="orders", Attributes={"RedrivePolicy": redrive})[
            "QueueUrl"
        ]

        def counts(url: str) -> None:
            names: Any = [
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ]
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)
            transcript.append(("counts", url.rsplit("/", 1)[1], attributes["Attributes"]))

        for n in range(3):
            sqs.send_message(QueueUrl=queue, MessageBody=f"single-{n}")
        sqs.send_message(QueueUrl=queue, MessageBody="delayed", DelaySeconds=60)
        batch = sqs.send_message_batch(
            QueueUrl=queue,
            Entries=[{"Id": f"e{n}", "MessageBody": f"batch-{n}"} for n in range(10)],
        )
        transcript.append(("batch sent", sorted(entry["Id"] for entry in batch["Successful"])))
        counts(queue)

        held = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=4, VisibilityTimeout=60)
        transcript.append(("received", _bodies(held["Messages"])))
        counts(queue)
        first = held["Messages"][0]["ReceiptHandle"]
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=first)
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=first)  # again: no error
        _call(
            transcript,
            "unknown handle",
            lambda: sqs.delete_message(QueueUrl=queue, ReceiptHandle="not-a-handle"),
        )
        entries: Any = [
            {"Id": f"d{n}", "ReceiptHandle": message["ReceiptHandle"]}
            for n, message in enumerate(held["Messages"][1:3])
        ] + [{"Id": "bogus", "ReceiptHandle": "not-a-handle"}]
        answer = sqs.delete_message_batch(QueueUrl=queue, Entries=entries)
        transcript.append(
            (
                "batch deleted",
                sorted(entry["Id"] for entry in answer["Successful"]),
                sorted((entry["Id"], entry["Code"]) for entry in answer.get("Failed", [])),
            )
        )
        counts(queue)

        # Received twice and left visible: the third receive moves them to the DLQ.
        stale: list[str] = []
        for _ in range(3):
            got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0)
            transcript.append(("received again", _bodies(got.get("Messages", []))))
            stale += [message["ReceiptHandle"] for message in got.get("Messages", [])]
        counts(queue)
        counts(dlq)
        moved = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=60)
        transcript.append(("in the DLQ", sorted(_bodies(moved.get("Messages", [])))))
        _call(
            transcript,
            "handle of a moved message",
            lambda: sqs.delete_message(QueueUrl=queue, ReceiptHandle=stale[0]),
        )
        counts(queue)

        fifo = sqs.create_queue(
            QueueName="orders.fifo",
            Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
        )["QueueUrl"]
        for body in ("a", "a", "b"):
            sqs.send_message(QueueUrl=fifo, MessageBody=body, MessageGroupId="g")
        _call(
            transcript,
            "FIFO without a group",
            lambda: sqs.send_message(QueueUrl=fifo, MessageBody="c"),
        )
        got = sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10, VisibilityTimeout=60)
        transcript.append(("FIFO received", _bodies(got["Messages"])))
        counts(fifo)
    return transcript


@pytest.fixture(scope="module")
def transcripts() -> dict[str, list[Any]]:
    found = {}
    for name, patched in (("moto", moto_sqs.as_moto_wrote_it()), ("faster", moto_sqs.faster())):
        with patched:
            found[name] = _scenario()
    return found


def test_the_scenario_exercises_what_was_replaced(transcripts):
    moto = transcripts["moto"]
    assert ("unknown handle", "error", "ReceiptHandleIsInvalid") in moto
    assert ("handle of a moved message", "error", "ReceiptHandleIsInvalid") in moto
    assert ("FIFO received", ["a", "b"]) in moto
    assert any(step[0] == "in the DLQ" and step[1] for step in moto)


def test_every_answer_is_the_same_with_and_without_it(transcripts):
    assert transcripts["faster"] == transcripts["moto"]


def test_it_is_undone_when_the_block_ends():
    from moto.sqs import models

    before = models.Queue.delete_message
    with moto_sqs.faster():
        assert models.Queue.delete_message is moto_sqs._delete_message
    assert models.Queue.delete_message is before


def test_installed_it_stays_for_the_process():
    probe = (
        "import gc\n"
        "from moto.sqs import models\n"
        "from devtools import moto_sqs\n"
        "moto_sqs.install()\n"
        "gc.collect()\n"
        "print(models.Queue.delete_message is moto_sqs._delete_message)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert completed.stdout.strip() == "True"
