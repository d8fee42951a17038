"""A placed order reaches the order queue through the orders table's stream.

The API writes the order once; the stream holds it whether or not anything runs after
that write, and the relay forwards it, reporting what it could not send so the stream
retries exactly those records.
"""

import json
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

import order_relay_stream
import orders_api
from devtools.template import resources
from stockroom import container
from support.catalog_data import add_product
from support.events import http_event, load_event, parse_response
from support.queue_refusals import queue_refusals
from support.streams import matching_filter, stream_records
from support.worker import metric_totals


def relay_filter_event_names() -> list[str]:
    """The eventName values the template's stream filter lets through to the relay."""
    event = resources("AWS::Serverless::Function")["OrderRelayFunction"]["Properties"]["Events"]
    pattern = json.loads(
        event["OrderPlaced"]["Properties"]["FilterCriteria"]["Filters"][0]["Pattern"]
    )
    names: list[str] = pattern["eventName"]
    return names


def place_order(lambda_context, sku: str = "SKU-001") -> str:
    event = http_event("POST", "/orders", body={"items": [{"sku": sku, "quantity": 1}]})
    result = parse_response(orders_api.handler(event, lambda_context))
    assert result.status == 202
    order_id: str = result.body["order_id"]
    return order_id


def queued_order_ids(queue_url: str) -> list[str]:
    sqs = boto3.client("sqs")
    ids: list[str] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        if not messages:
            return ids
        for message in messages:
            ids.append(json.loads(message["Body"])["order_id"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def relay(event: dict[str, Any], lambda_context) -> list[str]:
    """Runs the relay; returns the sequence numbers it reported as failed."""
    response = order_relay_stream.handler(event, lambda_context)
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


@pytest.fixture
def catalog(stack):
    add_product("SKU-001")


def test_placed_orders_reach_the_queue_as_order_id_messages(stack, catalog, lambda_context):
    placed = [place_order(lambda_context) for _ in range(3)]

    batch = matching_filter(stream_records(stack["OrdersTable"]), relay_filter_event_names())
    failures = relay(batch, lambda_context)

    assert failures == []
    assert sorted(queued_order_ids(stack["OrderQueue"])) == sorted(placed)


def test_an_order_whose_process_died_after_the_write_is_still_delivered(
    stack, catalog, lambda_context
):
    # The API process "dies" right after answering: nothing else runs in it. The order
    # is only in the table, and so already in the table's stream.
    order_id = place_order(lambda_context)
    assert queued_order_ids(stack["OrderQueue"]) == []

    # Later, in another container, the stream invokes the relay.
    container.reset()
    batch = matching_filter(stream_records(stack["OrdersTable"]), relay_filter_event_names())
    assert relay(batch, lambda_context) == []
    assert queued_order_ids(stack["OrderQueue"]) == [order_id]


def test_records_the_relay_cannot_send_are_reported_and_delivered_on_retry(
    stack, catalog, lambda_context, monkeypatch
):
    placed = [place_order(lambda_context) for _ in range(3)]
    batch = matching_filter(stream_records(stack["OrdersTable"]), relay_filter_event_names())

    # The queue is unreachable for this invocation: with every record failed the
    # invocation itself fails, so Lambda retries (and bisects) the batch from the stream.
    monkeypatch.setenv("ORDER_QUEUE_URL", stack["OrderQueue"] + "-missing")
    container.reset()
    with pytest.raises(BatchProcessingError, match="All records failed"):
        relay(batch, lambda_context)
    assert queued_order_ids(stack["OrderQueue"]) == []

    # Lambda retries the batch from the stream once the queue is back.
    monkeypatch.setenv("ORDER_QUEUE_URL", stack["OrderQueue"])
    container.reset()
    assert relay(batch, lambda_context) == []
    assert sorted(queued_order_ids(stack["OrderQueue"])) == sorted(placed)


def test_a_record_without_an_order_id_is_reported_not_dropped(stack, catalog, lambda_context):
    good = load_event("order_placed_stream")["Records"][0]
    bad = json.loads(json.dumps(good))
    bad["dynamodb"]["NewImage"].pop("order_id")
    bad["dynamodb"]["SequenceNumber"] = "222200000000000000000001"

    failures = relay({"Records": [good, bad]}, lambda_context)

    assert failures == ["222200000000000000000001"]
    assert queued_order_ids(stack["OrderQueue"]) == [good["dynamodb"]["NewImage"]["order_id"]["S"]]


def test_only_inserts_pass_the_relay_filter(stack, catalog, lambda_context):
    order_id = place_order(lambda_context)
    dynamodb = boto3.client("dynamodb")
    dynamodb.update_item(
        TableName=stack["OrdersTable"],
        Key={"order_id": {"S": order_id}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "CONFIRMED"}},
    )
    records = stream_records(stack["OrdersTable"])
    assert [record["eventName"] for record in records] == ["INSERT", "MODIFY"]
    assert len(matching_filter(records, relay_filter_event_names())["Records"]) == 1


def outbox_records(count: int) -> list[dict[str, Any]]:
    """`count` INSERT records of placed orders, as the stream delivers them, each with its
    own order id and sequence number."""
    sample = load_event("order_placed_stream")["Records"][0]
    records = []
    for position in range(count):
        record = json.loads(json.dumps(sample))
        record["dynamodb"]["NewImage"]["order_id"]["S"] = f"order-{position:02}"
        record["dynamodb"]["SequenceNumber"] = f"3333{position:020}"
        records.append(record)
    return records


def test_refusals_in_later_batches_fail_exactly_their_own_records(
    stack, lambda_context, capsys, caplog
):
    # 27 records: two that are not placed orders early (no order id, a number for one),
    # so a record's position in the stream batch and its message's index differ from
    # then on; then three SendMessageBatch requests of the other 25. The queue refuses
    # the first, a middle and the last entry of the second request and the last of the
    # third.
    records = outbox_records(27)
    records[3]["dynamodb"]["NewImage"].pop("order_id")
    records[7]["dynamodb"]["NewImage"]["order_id"] = {"N": "7"}
    valid = [position for position in range(27) if position not in (3, 7)]
    second, third = valid[10:20], valid[20:]
    refused = {f"order-{p:02}" for p in (second[0], second[5], second[-1], third[-1])}
    capsys.readouterr()

    with queue_refusals(lambda body: body["order_id"] in refused) as refusals:
        failures = relay({"Records": records}, lambda_context)

    assert [len(entries) for entries in refusals.requests] == [10, 10, 5]
    assert [refusals.requests[1][i]["MessageBody"] for i in (0, 5, 9)] == [
        f'{{"order_id":"order-{p:02}"}}' for p in (second[0], second[5], second[-1])
    ]
    sequence = {p: records[p]["dynamodb"]["SequenceNumber"] for p in range(27)}
    failed = {int(name[-2:]) for name in refused} | {3, 7}
    assert sorted(failures) == sorted(sequence[p] for p in failed)
    sent = {f"order-{p:02}" for p in valid} - refused
    assert sorted(queued_order_ids(stack["OrderQueue"])) == sorted(sent)
    output = capsys.readouterr().out
    assert metric_totals(output, "OrdersRelayed") == {"OrdersRelayed": len(sent)}
    errors = [str(getattr(record, "error", "")) for record in caplog.records]
    assert sorted(error for error in errors if "refused" in error) == sorted(
        f"the order queue refused the message for order {order_id}" for order_id in refused
    )
    assert sum(error.startswith("stream record has no order_id: keys [") for error in errors) == 2

    # Lambda retries the failed records alone; the queue takes them now.
    retried = [r for r in records if r["dynamodb"]["SequenceNumber"] in failures]
    assert sorted(relay({"Records": retried}, lambda_context)) == sorted([sequence[3], sequence[7]])
    assert sorted(queued_order_ids(stack["OrderQueue"])) == sorted(refused)
