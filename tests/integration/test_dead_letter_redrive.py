"""A message the worker keeps failing ends in the order DLQ after maxReceiveCount
receives, never dropped; `make redrive` moves it back and the worker then settles it."""

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

import order_worker_sqs
from devtools.queues import batch_event, delete_succeeded, queue_arn, receive_batch
from devtools.redrive import RedriveError, move_with_task, redrive
from devtools.template import resources
from stockroom.dal import order_queue
from stockroom.models import OrderPlacedMessage, OrderStatus
from support.catalog_data import add_product
from support.orders import (
    assert_stock_adds_up,
    cancelled_transaction,
    dynamodb_failures,
    place,
    status_of,
)


def max_receive_count() -> int:
    count: int = resources("AWS::SQS::Queue")["OrderQueue"]["Properties"]["RedrivePolicy"][
        "maxReceiveCount"
    ]
    return count


def deliver_once(sqs: Any, queue_url: str, lambda_context) -> int:
    """One poll as Lambda's event source mapping does it: receive a batch, invoke,
    delete what succeeded. Returns how many messages were received."""
    messages = receive_batch(sqs, queue_url, 10)
    if not messages:
        return 0
    event = batch_event(messages, queue_arn(sqs, queue_url), sqs.meta.region_name)
    result = order_worker_sqs.handler(event, lambda_context)
    for message in delete_succeeded(sqs, queue_url, messages, result):
        # As if its visibility timeout had passed.
        sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return len(messages)


def queue_depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_a_failing_order_reaches_the_dlq_and_redrive_settles_it(stack, lambda_context):
    sqs = boto3.client("sqs")
    add_product("SKU-A", on_hand=3)
    order = place("alice", {"SKU-A": 1})
    order_queue.send_orders_placed([OrderPlacedMessage(order_id=order.order_id)])

    with dynamodb_failures(lambda body: cancelled_transaction(body, "ThrottlingError")):
        receives = 0
        while deliver_once(sqs, stack["OrderQueue"], lambda_context):
            receives += 1

    assert receives == max_receive_count()
    assert status_of(order) is OrderStatus.PENDING
    assert queue_depth(sqs, stack["OrderQueue"]) == 0
    assert queue_depth(sqs, stack["OrderDeadLetterQueue"]) == 1

    assert redrive(stack["OrderDeadLetterQueue"], sqs, local=True) == 1

    assert queue_depth(sqs, stack["OrderDeadLetterQueue"]) == 0
    assert redriven_count() == 1
    assert deliver_once(sqs, stack["OrderQueue"], lambda_context) == 1
    assert status_of(order) is OrderStatus.CONFIRMED
    assert queue_depth(sqs, stack["OrderQueue"]) == 0
    assert_stock_adds_up("SKU-A")


def redriven_count() -> float:
    """MessagesRedriven as the dashboard reads it."""
    now = datetime.now(UTC)
    statistics = boto3.client("cloudwatch").get_metric_statistics(
        Namespace="Stockroom",
        MetricName="MessagesRedriven",
        Dimensions=[{"Name": "service", "Value": "stockroom"}],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    return float(sum(point["Sum"] for point in statistics))


def test_an_empty_dlq_records_no_redrive(stack):
    sqs = boto3.client("sqs")
    assert redrive(stack["OrderDeadLetterQueue"], sqs, local=True) == 0
    assert redriven_count() == 0


# moto 5.2.5 has no message move tasks, so this path is checked against botocore's
# Stubber: requests and responses are validated against the real SQS API model.
DLQ_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/OrderDeadLetterQueue"
DLQ_ARN = "arn:aws:sqs:eu-west-1:123456789012:OrderDeadLetterQueue"


def stubbed_move_task(statuses: list[dict[str, Any]]):
    sqs = boto3.client("sqs", region_name="eu-west-1")
    stubber = Stubber(sqs)
    stubber.add_response(
        "get_queue_attributes",
        {"Attributes": {"QueueArn": DLQ_ARN}},
        {"QueueUrl": DLQ_URL, "AttributeNames": ["QueueArn"]},
    )
    stubber.add_response(
        "start_message_move_task", {"TaskHandle": "task-1"}, {"SourceArn": DLQ_ARN}
    )
    for status in statuses:
        stubber.add_response(
            "list_message_move_tasks",
            {"Results": [{"SourceArn": DLQ_ARN, **status}]},
            {"SourceArn": DLQ_ARN, "MaxResults": 1},
        )
    return sqs, stubber


def test_against_aws_redrive_starts_a_move_task_and_follows_it_to_completion():
    sqs, stubber = stubbed_move_task(
        [
            {"Status": "RUNNING", "ApproximateNumberOfMessagesMoved": 3},
            {"Status": "COMPLETED", "ApproximateNumberOfMessagesMoved": 7},
        ]
    )
    with stubber:
        assert move_with_task(sqs, DLQ_URL, poll_seconds=0) == 7
    stubber.assert_no_pending_responses()


def test_a_failed_move_task_is_reported_with_its_reason():
    sqs, stubber = stubbed_move_task([{"Status": "FAILED", "FailureReason": "AccessDenied"}])
    with stubber, pytest.raises(RedriveError, match="AccessDenied"):
        move_with_task(sqs, DLQ_URL, poll_seconds=0)
