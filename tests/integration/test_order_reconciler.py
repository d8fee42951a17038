"""The outbox's safety net: PENDING orders whose stream record never became a message
are found through the Pending index, sent to the order queue again, and decided."""

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

import order_reconciler
import order_reconciler_schedule
import order_worker
import order_worker_sqs
from orders import cancel_order
from stockroom.dal import order_queue
from stockroom.dal import orders as orders_table
from stockroom.identity import Caller
from stockroom.models import OrderStatus
from stockroom.observability import metrics
from support.catalog_data import add_product
from support.orders import assert_stock_adds_up, place, status_of
from support.queue_refusals import queue_refusals
from support.worker import metric_totals

LATER = timedelta(hours=1)


def queued_messages(stack) -> list[dict[str, Any]]:
    """Every message on the order queue, taken off it."""
    sqs = boto3.client("sqs")
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=stack["OrderQueue"], MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(dict(message))
            sqs.delete_message(QueueUrl=stack["OrderQueue"], ReceiptHandle=message["ReceiptHandle"])


def test_stuck_orders_are_requeued_counted_and_then_decided(stack, lambda_context):
    # In-process there is no stream relay: every placed order is one the outbox "lost".
    add_product("SKU-A", on_hand=30)
    orders = [place(f"customer-{n}", {"SKU-A": 1}) for n in range(25)]

    requeued = order_reconciler.requeue_stuck_orders(datetime.now(UTC) + LATER, 600)

    assert sorted(requeued) == sorted(order.order_id for order in orders)
    messages = queued_messages(stack)
    assert sorted(message["Body"] for message in messages) == sorted(
        f'{{"order_id":"{order.order_id}"}}' for order in orders
    )
    event = {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:OrderQueue",
                "awsRegion": "eu-west-1",
            }
            for message in messages[:10]
        ]
    }
    assert order_worker_sqs.handler(event, lambda_context) == {"batchItemFailures": []}
    for message in messages[10:]:
        order_id = message["Body"].split('"')[3]
        assert order_worker.decide_order(order_id) is order_worker.Decision.CONFIRMED
    assert {status_of(order) for order in orders} == {OrderStatus.CONFIRMED}
    assert_stock_adds_up("SKU-A")
    # Decided orders leave the index: a second look finds nothing to do.
    assert order_reconciler.requeue_stuck_orders(datetime.now(UTC) + LATER, 600) == []


def test_orders_younger_than_the_bound_are_left_to_the_outbox(stack, lambda_context):
    add_product("SKU-A")
    place("alice", {"SKU-A": 1})

    assert order_reconciler_schedule.handler({}, lambda_context) == {"requeued": 0}
    assert queued_messages(stack) == []


def test_every_way_out_of_pending_leaves_the_index(stack):
    add_product("SKU-A", on_hand=1)
    confirmed = place("alice", {"SKU-A": 1})
    rejected = place("bob", {"SKU-A": 1})
    cancelled = place("carol", {"SKU-A": 1})
    pending = place("dave", {"SKU-A": 1})
    assert order_worker.decide_order(confirmed.order_id) is order_worker.Decision.CONFIRMED
    assert order_worker.decide_order(rejected.order_id) is order_worker.Decision.REJECTED
    cancel_order(Caller(customer_id="carol", scopes=frozenset()), cancelled.order_id)

    later = (datetime.now(UTC) + LATER).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert orders_table.pending_order_ids(later) == [pending.order_id]
    stored = boto3.client("dynamodb").get_item(
        TableName=stack["OrdersTable"], Key={"order_id": {"S": confirmed.order_id}}
    )["Item"]
    assert "pending_shard" not in stored


def test_pending_orders_spread_over_the_index_shards(stack):
    add_product("SKU-A", on_hand=100)
    orders = [place(f"c{n}", {"SKU-A": 1}) for n in range(64)]
    shards = {orders_table.pending_shard(order.order_id) for order in orders}
    assert len(shards) > orders_table.PENDING_SHARDS // 2


def test_an_order_sent_again_waits_a_full_bound_before_the_next_time(stack):
    """An order that is only slow (behind a long queue) gets one more message per bound,
    not one per run."""
    add_product("SKU-A")
    order = place("alice", {"SKU-A": 1})
    first = datetime.now(UTC) + LATER

    assert order_reconciler.requeue_stuck_orders(first, 600) == [order.order_id]
    assert order_reconciler.requeue_stuck_orders(first + timedelta(seconds=599), 600) == []
    assert order_reconciler.requeue_stuck_orders(first + timedelta(seconds=601), 600) == [
        order.order_id
    ]
    assert len(queued_messages(stack)) == 2


def test_orders_the_queue_refused_are_found_again_by_the_next_run(stack):
    # The clock restarts only after the send: an order whose message the queue refused
    # must still look stuck to the next run, whichever batch it was in.
    add_product("SKU-A", on_hand=30)
    orders = [place(f"customer-{n}", {"SKU-A": 1}) for n in range(12)]
    refused = {orders[3].order_id, orders[11].order_id}
    now = datetime.now(UTC) + LATER

    with (
        queue_refusals(lambda body: body["order_id"] in refused),
        pytest.raises(order_queue.QueueSendError, match="refused 2 message"),
    ):
        order_reconciler.requeue_stuck_orders(now, 600)
    assert len(queued_messages(stack)) == 10

    again = order_reconciler.requeue_stuck_orders(now, 600)
    assert sorted(again) == sorted(order.order_id for order in orders)
    assert len(queued_messages(stack)) == 12


def test_a_run_that_dies_after_sending_leaves_its_orders_for_the_next_run(stack, monkeypatch):
    add_product("SKU-A")
    orders = [place(f"customer-{n}", {"SKU-A": 1}) for n in range(3)]
    now = datetime.now(UTC) + LATER
    restart = orders_table.mark_requeued
    restarted: list[str] = []

    def dies_after_the_first(order_id: str, at: str) -> None:
        if restarted:
            raise SystemExit("the run stops here")
        restarted.append(order_id)
        restart(order_id, at)

    monkeypatch.setattr(orders_table, "mark_requeued", dies_after_the_first)
    with pytest.raises(SystemExit):
        order_reconciler.requeue_stuck_orders(now, 600)
    assert len(queued_messages(stack)) == 3
    monkeypatch.setattr(orders_table, "mark_requeued", restart)

    # Sent again, never not at all: the two orders whose clocks never restarted.
    again = order_reconciler.requeue_stuck_orders(now, 600)
    assert sorted(again) == sorted(o.order_id for o in orders if o.order_id not in restarted)
    assert len(queued_messages(stack)) == 2


@pytest.fixture
def tokyo(monkeypatch):
    """The host's time zone nine hours off UTC, as a developer's laptop may be."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_orders_sent_again_are_counted_and_their_clocks_kept_in_utc(stack, capsys, tokyo):
    add_product("SKU-A")
    orders = [place(f"customer-{n}", {"SKU-A": 1}) for n in range(3)]
    now = datetime(2026, 12, 5, 23, 30, tzinfo=UTC) + LATER * 24 * 365
    metrics.clear_metrics()  # what earlier calls counted, outside any handler
    capsys.readouterr()

    assert len(order_reconciler.requeue_stuck_orders(now, 600)) == 3
    metrics.flush_metrics()

    totals = metric_totals(capsys.readouterr().out, "StuckOrdersRequeued")
    assert totals == {"StuckOrdersRequeued": 3}
    for order in orders:
        stored = boto3.client("dynamodb").get_item(
            TableName=stack["OrdersTable"], Key={"order_id": {"S": order.order_id}}
        )["Item"]
        assert stored["pending_since"]["S"] == "2027-12-05T23:30:00.000000Z"
