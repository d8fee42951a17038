"""The per-order worker the benchmarks measure group commit against
(bench/per_order_worker.py): each record decided alone, one transaction an order, with the
product's promises, so that the comparison is of like with like."""

import json
from typing import Any

import pytest

from bench import per_order_worker
from stockroom import aws as stockroom_aws
from stockroom.models import OrderStatus
from support.catalog_data import add_product
from support.orders import (
    assert_stock_adds_up,
    cancelled_transaction,
    dynamodb_failures,
    message_for,
    names_order,
    place,
    sqs_event,
    status_of,
)


def failed_ids(event, lambda_context) -> list[str]:
    response = per_order_worker.handler(event, lambda_context)
    return sorted(failure["itemIdentifier"] for failure in response["batchItemFailures"])


@pytest.fixture
def transactions(stack):
    """The TransactWriteItems requests sent, each as its list of items."""
    sent: list[list[dict[str, Any]]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(params["TransactItems"])

    events = stockroom_aws.dynamodb().meta.events
    events.register("provide-client-params.dynamodb.TransactWriteItems", record)
    yield sent
    events.unregister("provide-client-params.dynamodb.TransactWriteItems", record)


def test_each_order_takes_a_transaction_of_its_own(transactions, lambda_context):
    add_product("HOT", on_hand=5)
    orders = [place(f"c{n}", {"HOT": 1}) for n in range(4)]

    assert failed_ids(sqs_event(*map(message_for, orders)), lambda_context) == []

    assert len(transactions) == 4
    assert {status_of(o) for o in orders} == {OrderStatus.CONFIRMED}
    assert_stock_adds_up("HOT")


def test_a_mixed_batch_reports_exactly_the_records_that_failed(stack, lambda_context):
    add_product("SKU-A", on_hand=10)
    add_product("SKU-SCARCE", on_hand=1)
    good = place("alice", {"SKU-A": 1})
    short = place("bob", {"SKU-SCARCE": 2})
    contended = place("carol", {"SKU-A": 1})
    event = sqs_event(
        message_for(good),
        message_for(short),
        "this is not JSON",
        {"order": "missing the order_id field"},
        message_for("no-such-order"),
        message_for(contended),
    )
    ids = [record["messageId"] for record in event["Records"]]

    def always_conflict(body):
        if names_order(body, contended):
            return cancelled_transaction(body, "TransactionConflict")
        return None

    with dynamodb_failures(always_conflict) as injected:
        failed = failed_ids(event, lambda_context)

    assert failed == sorted(ids[2:])  # malformed, invalid, unknown, contended
    assert len(injected) == 5  # the contended order was tried five times, then reported
    assert status_of(good) is OrderStatus.CONFIRMED
    assert status_of(short) is OrderStatus.REJECTED
    assert status_of(contended) is OrderStatus.PENDING
    assert_stock_adds_up("SKU-A", "SKU-SCARCE")


def test_its_decisions_are_emitted_as_metrics(stack, lambda_context, capsys):
    add_product("SKU-A", on_hand=1)
    confirmed = place("alice", {"SKU-A": 1})
    rejected = place("bob", {"SKU-A": 1})
    failed_ids(sqs_event(message_for(confirmed)), lambda_context)
    capsys.readouterr()
    remaining = [1]

    def once(body):
        if remaining[0] and names_order(body, rejected):
            remaining[0] -= 1
            return cancelled_transaction(body, "TransactionConflict")
        return None

    with dynamodb_failures(once):
        failed_ids(sqs_event(message_for(confirmed), message_for(rejected)), lambda_context)

    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    totals = {
        name: sum(sum(v) if isinstance(v, list) else v for v in [b.get(name, 0) for b in emitted])
        for name in ("OrdersConfirmed", "OrdersRejected", "DuplicatesSkipped", "ConflictsRetried")
    }
    assert totals == {
        "OrdersConfirmed": 0,
        "OrdersRejected": 1,
        "DuplicatesSkipped": 1,
        "ConflictsRetried": 1,
    }
    assert_stock_adds_up("SKU-A")
