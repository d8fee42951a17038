"""Every conditional write is safe to send twice: a write that took effect and lost its
answer is resent by botocore, and the resend is recognised as our own success, never
answered as a failure nor applied twice."""

from typing import Any

import boto3
import pytest

import order_worker
import orders_api
from orders import cancel_order
from stockroom.errors import ConflictError
from stockroom.identity import Caller
from stockroom.models import Order, OrderStatus
from support.catalog_data import add_product
from support.events import http_event, parse_response
from support.imports import csv_bytes, invoke, row, stock, upload
from support.lost_answers import answers_lost
from support.orders import assert_stock_adds_up, place, status_of


def stored_orders(stack) -> list[dict[str, Any]]:
    return boto3.client("dynamodb").scan(TableName=stack["OrdersTable"])["Items"]


def post_order(lambda_context, key: str | None = None):
    headers = {"Idempotency-Key": key} if key else None
    event = http_event(
        "POST", "/orders", body={"items": [{"sku": "SKU-A", "quantity": 2}]}, headers=headers
    )
    return parse_response(orders_api.handler(event, lambda_context))


def test_an_order_put_whose_answer_was_lost_is_placed_once(stack, lambda_context):
    add_product("SKU-A")

    with answers_lost("PutItem") as lost:
        result = post_order(lambda_context)

    assert lost.lost == 1
    assert result.status == 202, result.body
    [item] = stored_orders(stack)
    assert item["order_id"]["S"] == result.body["order_id"]


@pytest.mark.parametrize("answers", [1, 2], ids=["idempotency record", "record and order"])
def test_an_idempotent_placement_whose_answers_were_lost_is_one_order(
    stack, lambda_context, answers
):
    add_product("SKU-A")

    # The first PutItem is the idempotency record's, the second the order's.
    with answers_lost("PutItem", times=answers) as lost:
        first = post_order(lambda_context, key="key-1")
    again = post_order(lambda_context, key="key-1")

    assert lost.lost == answers
    assert first.status == 202, first.body
    assert again.status == 202, again.body
    assert again.body["order_id"] == first.body["order_id"]
    assert len(stored_orders(stack)) == 1


def test_a_concurrent_request_with_the_same_key_still_conflicts(stack, lambda_context):
    """The other side of the rule: a record that is not our own resent put stays a
    conflict (here: an in-progress record another request left moments ago)."""
    add_product("SKU-A")
    table = stack["IdempotencyTable"]
    with answers_lost("PutItem", times=1) as lost:
        first = post_order(lambda_context, key="key-2")
    assert (lost.lost, first.status) == (1, 202)
    records = boto3.client("dynamodb").scan(TableName=table)["Items"]
    [record] = records
    # The record as a request still in progress elsewhere would have left it.
    boto3.client("dynamodb").update_item(
        TableName=table,
        Key={"id": record["id"]},
        UpdateExpression="SET #status = :inprogress, in_progress_expiration = :later",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":inprogress": {"S": "INPROGRESS"},
            ":later": {"N": "99999999999999"},
        },
    )

    again = post_order(lambda_context, key="key-2")

    assert again.status == 409
    assert again.body["error"]["code"] == "IDEMPOTENCY_KEY_IN_PROGRESS"


def decided_losing_one_answer(operation: str, on_hand: int) -> tuple[Order, order_worker.Decision]:
    """An order of two SKU-A, `on_hand` in stock, and the worker's decision on it, taken
    while the answer to its first `operation` request is lost (and the request resent)."""
    add_product("SKU-A", on_hand=on_hand)
    order = place("alice", {"SKU-A": 2})
    with answers_lost(operation) as lost:
        decision = order_worker.decide_order(order.order_id)
    assert lost.lost == 1
    return order, decision


def test_a_reservation_whose_answer_was_lost_confirms_once(stack):
    order, decision = decided_losing_one_answer("TransactWriteItems", on_hand=5)

    assert decision is order_worker.Decision.CONFIRMED  # not "already decided"
    assert status_of(order) is OrderStatus.CONFIRMED
    assert stock("SKU-A") == (5, 2, 3)  # on hand, reserved, available
    assert_stock_adds_up("SKU-A")


def test_a_rejection_whose_answer_was_lost_is_a_rejection(stack):
    order, decision = decided_losing_one_answer("UpdateItem", on_hand=1)

    assert decision is order_worker.Decision.REJECTED
    assert status_of(order) is OrderStatus.REJECTED
    assert_stock_adds_up("SKU-A")


def cancel(lambda_context, order_id: str):
    event = http_event(
        "POST", "/orders/{order_id}/cancel", path_parameters={"order_id": order_id}, sub="alice"
    )
    return parse_response(orders_api.handler(event, lambda_context))


def test_cancelling_a_pending_order_whose_answer_was_lost_succeeds(stack, lambda_context):
    add_product("SKU-A", on_hand=5)
    order = place("alice", {"SKU-A": 2})

    with answers_lost("UpdateItem") as lost:
        result = cancel(lambda_context, order.order_id)

    assert lost.lost == 1
    assert result.status == 200, result.body
    assert result.body["status"] == "CANCELLED"
    assert stock("SKU-A") == (5, 0, 5)


def test_cancelling_a_confirmed_order_whose_answer_was_lost_returns_its_units_once(
    stack, lambda_context
):
    add_product("SKU-A", on_hand=5)
    order = place("alice", {"SKU-A": 2})
    assert order_worker.decide_order(order.order_id) is order_worker.Decision.CONFIRMED

    with answers_lost("TransactWriteItems") as lost:
        result = cancel(lambda_context, order.order_id)

    assert lost.lost == 1
    assert result.status == 200, result.body
    assert status_of(order) is OrderStatus.CANCELLED
    assert stock("SKU-A") == (5, 0, 5)
    assert_stock_adds_up("SKU-A")


def test_a_cancel_that_lost_the_race_is_still_refused(stack):
    """Only our own write counts as success: an order another writer decided in between
    is not taken for ours."""
    add_product("SKU-A", on_hand=5)
    order = place("alice", {"SKU-A": 2})
    caller = Caller(customer_id="alice", scopes=frozenset())
    cancel_order(caller, order.order_id)

    with pytest.raises(ConflictError):
        cancel_order(caller, order.order_id)


def test_an_import_update_whose_answer_was_lost_counts_once(stack):
    add_product("SKU-A", on_hand=5)
    confirmed = place("alice", {"SKU-A": 2})
    assert order_worker.decide_order(confirmed.order_id) is order_worker.Decision.CONFIRMED

    with answers_lost("UpdateItem") as lost:
        outcome = invoke(upload("imports/acme/restock.csv", csv_bytes([row("SKU-A", on_hand=9)])))

    assert lost.lost == 1
    assert outcome == [{"key": "imports/acme/restock.csv", "outcome": "SUCCEEDED"}]
    assert stock("SKU-A") == (9, 2, 7)
    assert_stock_adds_up("SKU-A")
