"""SQS as Lambda's event source mapping sees it: receiving a batch, shaping it as a
Lambda SQS event, and deleting what the function did not report as failed."""

from typing import Any

_SYSTEM_ATTRIBUTES = [
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
]


def receive_batch(sqs: Any, queue_url: str, batch_size: int) -> list[dict[str, Any]]:
    """Up to `batch_size` messages (SQS gives at most 10 per call), without waiting."""
    messages: list[dict[str, Any]] = []
    while len(messages) < batch_size:
        received = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, batch_size - len(messages)),
            MessageSystemAttributeNames=_SYSTEM_ATTRIBUTES,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            break
        messages.extend(received)
    return messages


def lambda_sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """A ReceiveMessage message in the shape of one element of a Lambda SQS event."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: {key[0].lower() + key[1:]: value for key, value in attribute.items()}
            for name, attribute in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def queue_arn(sqs: Any, queue_url: str) -> str:
    arn: str = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    return arn


def batch_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {"Records": [lambda_sqs_record(message, queue_arn, region) for message in messages]}


def delete_succeeded(
    sqs: Any,
    queue_url: str,
    messages: list[dict[str, Any]],
    result: Any,
    reports_failures: bool = True,
) -> list[dict[str, Any]]:
    """Deletes the messages a successful invocation did not report as batch item
    failures (all of them without ReportBatchItemFailures); returns the failed ones,
    which come back after their visibility timeout."""
    failed: set[str] = set()
    if reports_failures:
        failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
    done = [message for message in messages if message["MessageId"] not in failed]
    for start in range(0, len(done), 10):  # as Lambda's event source mapping: 10 a call
        entries = [
            {"Id": str(n), "ReceiptHandle": message["ReceiptHandle"]}
            for n, message in enumerate(done[start : start + 10])
        ]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
    return [message for message in messages if message["MessageId"] in failed]
