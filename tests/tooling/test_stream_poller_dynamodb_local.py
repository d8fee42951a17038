"""The local stack's stream poller against DynamoDB Local's stream, with real
concurrency: whatever the interleaving of writes and cancelled transactions, every
record reaches the function, once and in order per item."""

import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devtools.template import event_sources
from devtools.triggers import StreamPoller
from support.dynamodb_local import StreamArnStack, create_table, serving
from support.streams import put_order_item

WRITERS = 16
ORDERS_PER_WRITER = 40


@pytest.fixture
def orders_stream(tmp_path, monkeypatch) -> Iterator[tuple[Any, str, str]]:
    """DynamoDB Local with the template's orders table; yields (client, table, stream ARN)."""
    with serving(tmp_path, monkeypatch):
        client = boto3.client("dynamodb")
        created = create_table(client, "OrdersTable", stream_view_type="NEW_IMAGE")
        yield client, created["TableName"], created["LatestStreamArn"]


def test_every_record_reaches_the_function_under_concurrent_writes_and_cancellations(
    orders_stream,
):
    client, table, arn = orders_stream
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    delivered: list[str] = []
    lock = threading.Lock()

    def relay(function: str, trigger: str, event: dict[str, Any]) -> Any:
        with lock:
            delivered.extend(r["dynamodb"]["NewImage"]["order_id"]["S"] for r in event["Records"])
        return {"batchItemFailures": []}

    ((function, properties),) = [
        source for source in event_sources("DynamoDB") if source[0] == "OrderRelayFunction"
    ]
    poller = StreamPoller(StreamArnStack(arn), relay, function, properties)  # type: ignore[arg-type]
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
    thread.start()

    def writer(index: int) -> list[str]:
        placed = []
        for n in range(ORDERS_PER_WRITER):
            order_id = f"order-{index}-{n}"
            put_order_item(
                client,
                table,
                order_id=order_id,
                customer_id=f"c{index}",
                created_at="2026-12-01T00:00:00.000000Z",
                status="PENDING",
            )
            placed.append(order_id)
            if n % 3 == 0:  # a transaction that is cancelled, as a lost race is
                # By code: botocore builds a client's exception classes lazily, and
                # threads racing to build them can end up with different classes.
                with pytest.raises(ClientError, match="TransactionCanceledException"):
                    client.transact_write_items(
                        TransactItems=[
                            {
                                "Update": {
                                    "TableName": table,
                                    "Key": {"order_id": {"S": order_id}},
                                    "UpdateExpression": "SET #s = :s",
                                    "ConditionExpression": "#s = :other",
                                    "ExpressionAttributeNames": {"#s": "status"},
                                    "ExpressionAttributeValues": {
                                        ":s": {"S": "CONFIRMED"},
                                        ":other": {"S": "REJECTED"},
                                    },
                                }
                            }
                        ]
                    )
        return placed

    try:
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            placed = [order for orders in pool.map(writer, range(WRITERS)) for order in orders]
        deadline = time.monotonic() + 30
        while len(delivered) < len(placed) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(5)

    assert len(placed) == WRITERS * ORDERS_PER_WRITER
    assert sorted(delivered) == sorted(placed)  # each one, once
    for index in range(WRITERS):  # one writer's orders in the order it wrote them
        mine = [order for order in delivered if order.startswith(f"order-{index}-")]
        assert mine == [f"order-{index}-{n}" for n in range(ORDERS_PER_WRITER)]
