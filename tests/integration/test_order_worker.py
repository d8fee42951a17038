"""The order worker decides each placed order exactly once: CONFIRMED with its stock
reserved, or REJECTED as out of stock with nothing reserved; failures come back."""

import io
import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

import order_worker
import order_worker_sqs
from order_worker import Decision
from orders import cancel_order
from stockroom import aws as stockroom_aws
from stockroom.dal import orders as orders_table
from stockroom.dal import products as products_table
from stockroom.errors import RetryLaterError
from stockroom.identity import Caller
from stockroom.models import Order, OrderStatus
from stockroom.observability import logger, metrics
from support.catalog_data import add_product
from support.events import load_event
from support.orders import (
    assert_stock_adds_up,
    cancelled_transaction,
    dynamodb_failures,
    dynamodb_refusals,
    message_for,
    place,
    sqs_event,
    status_of,
)
from support.worker import (
    DECISION_METRICS,
    LogLines,
    conflicts_once,
    first_sent,
    metric_totals,
    mixed_batch,
    reported,
)


def failed_ids(event, lambda_context) -> list[str]:
    return reported(order_worker_sqs.handler, event, lambda_context)


def record_ids(event) -> list[str]:
    return [record["messageId"] for record in event["Records"]]


def test_an_order_with_stock_is_confirmed_and_its_units_reserved(stack, lambda_context):
    add_product("SKU-A", on_hand=5)
    add_product("SKU-B", on_hand=2)
    order = place("alice", {"SKU-A": 3, "SKU-B": 2})

    assert failed_ids(sqs_event(message_for(order)), lambda_context) == []

    assert status_of(order) is OrderStatus.CONFIRMED
    a, b = products_table.get_product("SKU-A"), products_table.get_product("SKU-B")
    assert (a.available, a.reserved, b.available, b.reserved) == (2, 3, 0, 2)  # type: ignore[union-attr]
    assert_stock_adds_up("SKU-A", "SKU-B")


def test_an_order_short_of_one_sku_is_rejected_naming_it_and_reserves_nothing(
    stack, lambda_context
):
    add_product("SKU-A", on_hand=5)
    add_product("SKU-B", on_hand=1)
    add_product("SKU-C", on_hand=0)
    order = place("alice", {"SKU-A": 3, "SKU-B": 2, "SKU-C": 1})

    assert failed_ids(sqs_event(message_for(order)), lambda_context) == []

    stored = orders_table.get_order(order.order_id)
    assert stored is not None
    assert stored.status is OrderStatus.REJECTED
    assert stored.reason is not None
    assert (stored.reason.code, sorted(stored.reason.skus or [])) == (
        "OUT_OF_STOCK",
        ["SKU-B", "SKU-C"],
    )
    for sku, on_hand in (("SKU-A", 5), ("SKU-B", 1), ("SKU-C", 0)):
        product = products_table.get_product(sku)
        assert product is not None
        assert (product.available, product.reserved) == (on_hand, 0)
    assert_stock_adds_up("SKU-A", "SKU-B", "SKU-C")


def test_the_same_message_delivered_twice_reserves_once(stack, lambda_context):
    add_product("SKU-A", on_hand=5)
    order = place("alice", {"SKU-A": 2})
    event = sqs_event(message_for(order))

    assert failed_ids(event, lambda_context) == []
    assert failed_ids(event, lambda_context) == []

    assert order_worker.decide_order(order.order_id) is Decision.SKIPPED
    product = products_table.get_product("SKU-A")
    assert product is not None and product.reserved == 2
    assert_stock_adds_up("SKU-A")


def test_two_messages_for_one_order_in_one_batch_reserve_once(stack, lambda_context):
    add_product("SKU-A", on_hand=5)
    order = place("alice", {"SKU-A": 2})

    # The batch's orders are decided together: the first record decides, the rest skip.
    assert failed_ids(sqs_event(*[message_for(order)] * 4), lambda_context) == []

    product = products_table.get_product("SKU-A")
    assert product is not None and (product.available, product.reserved) == (3, 2)
    assert_stock_adds_up("SKU-A")


def test_a_mixed_batch_reports_exactly_the_records_that_failed(stack, lambda_context):
    batch = mixed_batch()

    with dynamodb_failures(batch.always_conflict) as injected:
        assert failed_ids(batch.event, lambda_context) == batch.failing_ids()

    # The contended order was tried in five grouped rounds, then five times alone, then
    # reported.
    assert len(injected) == 5 + 5
    batch.assert_decided()


@pytest.mark.parametrize("reason", ["TransactionConflict", "ThrottlingError"])
def test_a_transient_cancellation_is_retried_and_then_succeeds(stack, reason, capsys):
    add_product("SKU-A", on_hand=5)
    order = place("alice", {"SKU-A": 2})
    remaining = [2]
    metrics.clear_metrics()  # what earlier steps counted outside a handler
    capsys.readouterr()

    def twice(body):
        if remaining[0]:
            remaining[0] -= 1
            return cancelled_transaction(body, reason)
        return None

    with dynamodb_failures(twice) as injected:
        assert order_worker.decide_order(order.order_id) is Decision.CONFIRMED
    metrics.flush_metrics()

    assert len(injected) == 2
    assert metric_totals(capsys.readouterr().out, "ConflictsRetried") == {"ConflictsRetried": 2}
    assert_stock_adds_up("SKU-A")


@pytest.mark.parametrize("reason", ["TransactionConflict", "ThrottlingError"])
def test_persistent_contention_is_reported_for_later_and_nothing_is_half_applied(
    stack, lambda_context, reason
):
    add_product("SKU-A", on_hand=5)
    add_product("SKU-B", on_hand=5)
    order = place("alice", {"SKU-A": 2, "SKU-B": 1})
    event = sqs_event(message_for(order))

    with dynamodb_failures(lambda body: cancelled_transaction(body, reason)):
        with pytest.raises(RetryLaterError, match=f"^reserve order {order.order_id}: still"):
            order_worker.decide_order(order.order_id)
        assert failed_ids(event, lambda_context) == record_ids(event)

    assert status_of(order) is OrderStatus.PENDING
    for sku in ("SKU-A", "SKU-B"):
        product = products_table.get_product(sku)
        assert product is not None and (product.available, product.reserved) == (5, 0)
    # When the contention is gone, the redelivered message settles the order.
    assert failed_ids(event, lambda_context) == []
    assert status_of(order) is OrderStatus.CONFIRMED
    assert_stock_adds_up("SKU-A", "SKU-B")


def test_persistent_contention_on_a_rejection_is_reported_for_later(stack):
    add_product("SKU-A", on_hand=0)
    order = place("alice", {"SKU-A": 1})

    contended = dynamodb_refusals(lambda _: "TransactionConflictException", "UpdateItem")
    still = f"^reject order {order.order_id}: still contended"
    with contended, pytest.raises(RetryLaterError, match=still):
        order_worker.decide_order(order.order_id)

    assert status_of(order) is OrderStatus.PENDING
    assert order_worker.decide_order(order.order_id) is Decision.REJECTED


def test_an_order_decided_alone_is_rejected_naming_the_skus_short_of_stock(stack):
    add_product("SKU-A", on_hand=5)
    add_product("SKU-B", on_hand=1)
    add_product("SKU-C", on_hand=0)
    order = place("alice", {"SKU-A": 3, "SKU-B": 2, "SKU-C": 1})

    assert order_worker.decide_order(order.order_id) is Decision.REJECTED

    stored = orders_table.get_order(order.order_id)
    assert stored is not None and stored.reason is not None
    assert (stored.reason.code, stored.reason.skus) == ("OUT_OF_STOCK", ["SKU-B", "SKU-C"])
    assert_stock_adds_up("SKU-A", "SKU-B", "SKU-C")


def test_the_log_names_each_order_skipped_or_rejected_and_why(stack, monkeypatch):
    add_product("SKU-A", on_hand=1)
    done = place("alice", {"SKU-A": 1})
    assert order_worker.decide_order(done.order_id) is Decision.CONFIRMED
    alone = place("bob", {"SKU-A": 1})
    grouped = [place(customer, {"SKU-A": 1}) for customer in ("carol", "dave")]
    log = LogLines(monkeypatch)

    assert order_worker.decide_order(done.order_id) is Decision.SKIPPED
    assert order_worker.decide_order(alone.order_id) is Decision.REJECTED
    # Rejected together, in one transaction.
    assert order_worker.decide_orders([done.order_id, *(o.order_id for o in grouped)]) == {
        done.order_id: Decision.SKIPPED,
        **{o.order_id: Decision.REJECTED for o in grouped},
    }

    skipped = {"order_id": done.order_id, "status": OrderStatus.CONFIRMED}
    assert log.about("order already decided; message skipped") == [skipped, skipped]
    assert log.about("order rejected") == [
        {"order_id": order.order_id, "reason": "OUT_OF_STOCK", "skus": ["SKU-A"]}
        for order in (alone, *grouped)
    ]


def test_an_order_cancelled_while_decided_alone_is_skipped_and_says_when(stack, monkeypatch):
    add_product("SKU-A", on_hand=1)
    fits, short = place("alice", {"SKU-A": 1}), place("bob", {"SKU-A": 2})
    log = LogLines(monkeypatch)

    def cancel(order: Order) -> Callable[[], object]:
        return lambda: cancel_order(Caller(customer_id=order.customer_id), order.order_id)

    # Each cancelled between the worker's reads and its write: a reservation, a rejection.
    with first_sent("TransactWriteItems", cancel(fits)):
        assert order_worker.decide_order(fits.order_id) is Decision.SKIPPED
    with first_sent("UpdateItem", cancel(short)):
        assert order_worker.decide_order(short.order_id) is Decision.SKIPPED

    assert log.about("order already decided; message skipped") == [
        {"order_id": fits.order_id, "status": "changed while reserving"},
        {"order_id": short.order_id, "status": "changed while rejecting"},
    ]
    assert {status_of(fits), status_of(short)} == {OrderStatus.CANCELLED}
    product = products_table.get_product("SKU-A")
    assert product is not None and product.reserved == 0
    assert_stock_adds_up("SKU-A")


def test_an_order_confirmed_alone_is_counted(stack, capsys):
    add_product("SKU-A", on_hand=5)
    order = place("alice", {"SKU-A": 2})
    metrics.clear_metrics()  # what earlier steps counted outside a handler
    capsys.readouterr()

    assert order_worker.decide_order(order.order_id) is Decision.CONFIRMED
    metrics.flush_metrics()

    assert metric_totals(capsys.readouterr().out, *DECISION_METRICS) == dict.fromkeys(
        DECISION_METRICS, 0
    ) | {"OrdersConfirmed": 1}


def test_an_order_alone_throttled_past_botocores_retries_is_left_for_later(stack):
    add_product("SKU-A", on_hand=5)
    order = place("alice", {"SKU-A": 2})

    throttled = dynamodb_refusals(lambda _: "ThrottlingException", "TransactWriteItems")
    with throttled as sent, pytest.raises(RetryLaterError):
        order_worker.decide_order(order.order_id)

    assert len(sent) == stockroom_aws.BOTOCORE_ATTEMPTS  # and not sent again by ours
    assert status_of(order) is OrderStatus.PENDING
    assert products_table.get_product("SKU-A").reserved == 0  # type: ignore[union-attr]


def test_a_transaction_cancelled_for_no_reason_the_worker_knows_fails_with_its_error(stack):
    # Not a failed condition, not contention: the error itself, for the message to be
    # retried and then kept in the DLQ, never taken for a stock shortage.
    add_product("SKU-A", on_hand=5)
    order = place("alice", {"SKU-A": 2})

    refused = dynamodb_failures(lambda body: cancelled_transaction(body, "ValidationError"))
    with refused, pytest.raises(ClientError, match="ValidationError"):
        order_worker.decide_order(order.order_id)

    assert status_of(order) is OrderStatus.PENDING


def test_sam_generated_sqs_event_is_accepted_and_its_bad_record_reported(stack, lambda_context):
    event = load_event("sqs_receive_message_generated")  # `sam local generate-event sqs ...`
    assert failed_ids(event, lambda_context) == record_ids(event)


def test_the_worker_emits_its_decisions_as_metrics(stack, lambda_context, capsys):
    add_product("SKU-A", on_hand=2)
    decided = place("alice", {"SKU-A": 1})
    confirmed = place("bob", {"SKU-A": 1})
    rejected = place("carol", {"SKU-A": 1})
    failed_ids(sqs_event(message_for(decided)), lambda_context)
    capsys.readouterr()

    # A delivery of an order already decided, one that fits after its group's transaction
    # met a conflict, one that the stock left no longer fits.
    with dynamodb_failures(conflicts_once(confirmed)):
        event = sqs_event(message_for(decided), message_for(confirmed), message_for(rejected))
        assert failed_ids(event, lambda_context) == []

    totals = metric_totals(capsys.readouterr().out, *DECISION_METRICS)
    assert totals == {
        "OrdersConfirmed": 1,
        "OrdersRejected": 1,
        "DuplicatesSkipped": 1,
        "ConflictsRetried": 1,
    }
    assert (status_of(confirmed), status_of(rejected)) == (
        OrderStatus.CONFIRMED,
        OrderStatus.REJECTED,
    )
    assert_stock_adds_up("SKU-A")


def test_concurrent_workers_never_oversell_the_last_units(stack):
    """Twenty containers decide twenty one-unit orders for seven units at the same time."""
    add_product("SKU-LAST", on_hand=7)
    orders = [place(f"customer-{n}", {"SKU-LAST": 1}) for n in range(20)]
    start = threading.Barrier(len(orders))

    def decide(order_id: str) -> Decision:
        start.wait()
        return order_worker.decide_order(order_id)

    with ThreadPoolExecutor(max_workers=len(orders)) as pool:
        decisions = list(pool.map(decide, [order.order_id for order in orders]))

    assert decisions.count(Decision.CONFIRMED) == 7
    assert decisions.count(Decision.REJECTED) == 13
    product = products_table.get_product("SKU-LAST")
    assert product is not None and (product.available, product.reserved) == (0, 7)
    assert_stock_adds_up("SKU-LAST")


def test_concurrent_multi_line_orders_keep_every_sku_consistent(stack):
    for sku in ("SKU-X", "SKU-Y", "SKU-Z"):
        add_product(sku, on_hand=6)
    shapes = [{"SKU-X": 2, "SKU-Y": 1}, {"SKU-Y": 2, "SKU-Z": 1}, {"SKU-Z": 2, "SKU-X": 1}]
    orders = [place(f"customer-{n}", shapes[n % 3]) for n in range(15)]
    start = threading.Barrier(len(orders))

    def decide(order_id: str) -> list[Decision]:
        start.wait()
        # Each order twice at once: a duplicate delivery racing the original.
        with ThreadPoolExecutor(max_workers=2) as pair:
            return sorted(pair.map(order_worker.decide_order, [order_id, order_id]))

    with ThreadPoolExecutor(max_workers=len(orders)) as pool:
        pairs = list(pool.map(decide, [order.order_id for order in orders]))

    # Exactly one delivery of each order had an effect; the other was skipped.
    assert all(second is Decision.SKIPPED is not first for first, second in pairs), pairs
    decisions = [first for first, _ in pairs]
    assert Decision.CONFIRMED in decisions and Decision.REJECTED in decisions
    assert_stock_adds_up("SKU-X", "SKU-Y", "SKU-Z")


def test_a_batch_of_orders_for_scarce_stock_settles_within_the_stock(stack, lambda_context):
    add_product("SKU-LAST", on_hand=4)
    orders = [place(f"customer-{n}", {"SKU-LAST": 1}) for n in range(10)]

    assert failed_ids(sqs_event(*map(message_for, orders)), lambda_context) == []

    statuses = [status_of(order) for order in orders]
    assert statuses.count(OrderStatus.CONFIRMED) == 4
    assert statuses.count(OrderStatus.REJECTED) == 6
    assert_stock_adds_up("SKU-LAST")


def test_each_records_log_lines_carry_its_message_id_as_correlation_id(stack, lambda_context):
    event = sqs_event("this is not JSON", message_for("no-such-order"))
    # Powertools' handler keeps the stdout it found at import: give it a buffer instead.
    buffer = io.StringIO()
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(buffer)
    try:
        failed_ids(event, lambda_context)
    finally:
        handler.setStream(previous)

    logged = [json.loads(line) for line in buffer.getvalue().splitlines()]
    failures = [line for line in logged if line["message"].startswith("order message failed")]
    assert sorted(line["correlation_id"] for line in failures) == sorted(record_ids(event))
    (unknown,) = [line for line in failures if "order_id" in line]
    assert unknown["order_id"] == "no-such-order"


def test_a_batch_of_every_outcome_reports_the_failed_records_whatever_their_place(
    stack, lambda_context
):
    # Failures first, last and between successes: a confirmed order (its message twice),
    # an order decided before, a rejection whose write is throttled past botocore's
    # retries, and a record that is not a message.
    add_product("SKU-A", on_hand=10)
    add_product("SKU-SCARCE", on_hand=0)
    confirmed = place("alice", {"SKU-A": 2})
    decided = place("bob", {"SKU-A": 1})
    assert order_worker.decide_order(decided.order_id) is Decision.CONFIRMED
    refused = place("carol", {"SKU-SCARCE": 1})
    event = sqs_event(
        message_for(refused),
        message_for(confirmed),
        "not a message",
        message_for(decided),
        message_for(confirmed),
        message_for(refused),
    )
    ids = record_ids(event)

    with dynamodb_refusals(
        lambda body: "ThrottlingException" if refused.order_id in json.dumps(body) else None,
        "UpdateItem",
    ):
        outcomes = order_worker_sqs.decide_batch(event["Records"])
        assert failed_ids(event, lambda_context) == sorted([ids[0], ids[2]])

    assert isinstance(outcomes[ids[0]][1], RetryLaterError)
    assert isinstance(outcomes[ids[2]][1], ValidationError)
    assert [outcomes[i][1] for i in (ids[1], ids[3], ids[4], ids[5])] == [
        Decision.CONFIRMED,
        Decision.SKIPPED,
        Decision.SKIPPED,
        Decision.SKIPPED,
    ]
    assert status_of(refused) is OrderStatus.PENDING
    assert_stock_adds_up("SKU-A", "SKU-SCARCE")
