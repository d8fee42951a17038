"""POST /orders/{order_id}/cancel: PENDING and CONFIRMED orders are cancelled and their
reserved units return to available; decided-against orders conflict; races add up."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import order_worker
import order_worker_sqs
import orders_api
from orders import cancel_order
from stockroom import aws as stockroom_aws
from stockroom.dal import orders as orders_table
from stockroom.dal import products as products_table
from stockroom.errors import ConflictError
from stockroom.identity import Caller
from stockroom.models import CatalogEntry, OrderStatus, utc_now
from support.catalog_data import add_product
from support.events import HttpResult, http_event, parse_response
from support.orders import (
    allowance,
    assert_allowances_add_up,
    assert_stock_adds_up,
    dynamodb_refusals,
    message_for,
    place,
    sqs_event,
    status_of,
)


def cancel(
    lambda_context, order_id: str, sub: str = "alice", scope: str = "orders", route: str = ""
) -> HttpResult:
    """POST /orders/{order_id}/cancel, or its /admin twin with route="/admin"."""
    event = http_event(
        "POST",
        f"{route}/orders/{{order_id}}/cancel",
        path_parameters={"order_id": order_id},
        sub=sub,
        scope=scope,
    )
    return parse_response(orders_api.handler(event, lambda_context))


def stock(sku: str) -> tuple[int, int, int]:
    product = products_table.get_product(sku)
    assert product is not None
    return product.on_hand, product.available, product.reserved


def test_cancelling_a_pending_order_moves_no_stock(stack, lambda_context):
    add_product("SKU-A", on_hand=5)
    order = place("alice", {"SKU-A": 2})

    result = cancel(lambda_context, order.order_id)

    assert result.status == 200
    assert result.body["status"] == "CANCELLED"
    assert result.body["reason"] == {"code": "CANCELLED_BY_CUSTOMER", "skus": None}
    assert status_of(order) is OrderStatus.CANCELLED
    assert stock("SKU-A") == (5, 5, 0)
    # The order's message, arriving afterwards, is a no-op.
    assert order_worker.decide_order(order.order_id) is order_worker.Decision.SKIPPED
    assert stock("SKU-A") == (5, 5, 0)
    assert_stock_adds_up("SKU-A")


def test_cancelling_a_confirmed_order_returns_its_reserved_units(stack, lambda_context):
    add_product("SKU-A", on_hand=5)
    add_product("SKU-B", on_hand=3)
    order = place("alice", {"SKU-A": 2, "SKU-B": 3})
    assert order_worker.decide_order(order.order_id) is order_worker.Decision.CONFIRMED
    assert (stock("SKU-A"), stock("SKU-B")) == ((5, 3, 2), (3, 0, 3))

    result = cancel(lambda_context, order.order_id)

    assert result.status == 200
    assert result.body["status"] == "CANCELLED"
    assert result.body["reason"] == {"code": "CANCELLED_BY_CUSTOMER", "skus": None}
    stored = orders_table.get_order(order.order_id)  # the reason written with the release
    assert stored is not None and stored.reason is not None
    assert (stored.reason.code, stored.reason.skus) == ("CANCELLED_BY_CUSTOMER", None)
    assert (stock("SKU-A"), stock("SKU-B")) == ((5, 5, 0), (3, 3, 0))
    assert_stock_adds_up("SKU-A", "SKU-B")


@pytest.mark.parametrize("settled", ["REJECTED", "CANCELLED"])
def test_cancelling_a_rejected_or_cancelled_order_conflicts(stack, lambda_context, settled):
    add_product("SKU-A", on_hand=1)
    order = place("alice", {"SKU-A": 2})
    if settled == "REJECTED":
        assert order_worker.decide_order(order.order_id) is order_worker.Decision.REJECTED
    else:
        assert cancel(lambda_context, order.order_id).status == 200

    result = cancel(lambda_context, order.order_id)

    assert result.status == 409
    assert result.error["code"] == "ORDER_NOT_CANCELLABLE"
    assert result.error_fields() == ["order_id"]
    assert status_of(order).value == settled
    assert stock("SKU-A") == (1, 1, 0)
    assert_stock_adds_up("SKU-A")


def test_only_the_owner_or_an_admin_can_cancel(stack, lambda_context):
    add_product("SKU-A", on_hand=5)
    order = place("alice", {"SKU-A": 1})

    assert cancel(lambda_context, order.order_id, sub="mallory").status == 404
    assert status_of(order) is OrderStatus.PENDING

    # A scope naming admin opens nothing on the customers' route: only the admin route,
    # which the authorizer admits with the admin scope alone.
    assert cancel(lambda_context, order.order_id, sub="support-7", scope="admin").status == 404
    result = cancel(lambda_context, order.order_id, sub="support-7", route="/admin")
    assert result.status == 200
    assert result.body["reason"]["code"] == "CANCELLED_BY_ADMIN"
    assert_stock_adds_up("SKU-A")


def test_a_cancel_gives_the_units_back_to_the_allowance_once(stack, lambda_context):
    add_product("LIMITED", on_hand=10, max_per_customer=3)
    add_product("FREE", on_hand=10)
    order = place("alice", {"LIMITED": 3, "FREE": 2})
    assert order_worker.decide_order(order.order_id) is order_worker.Decision.CONFIRMED
    assert allowance("alice", "LIMITED") == 3

    first, second = cancel(lambda_context, order.order_id), cancel(lambda_context, order.order_id)

    assert first.status == 200
    assert "limited_skus" not in first.body  # bookkeeping, never shown
    assert second.status == 409 and second.error["code"] == "ORDER_NOT_CANCELLABLE"
    assert allowance("alice", "LIMITED") == 0  # given back once, not twice
    assert_allowances_add_up()
    # The customer may take up to the limit again.
    again = place("alice", {"LIMITED": 3})
    assert order_worker.decide_order(again.order_id) is order_worker.Decision.CONFIRMED
    assert stock("LIMITED") == (10, 7, 3)
    assert_stock_adds_up("LIMITED", "FREE")
    assert_allowances_add_up()


def test_concurrent_cancels_give_the_allowance_back_once(stack):
    add_product("LIMITED", on_hand=10, max_per_customer=4)
    kept, cancelled = place("alice", {"LIMITED": 2}), place("alice", {"LIMITED": 2})
    for order in (kept, cancelled):
        assert order_worker.decide_order(order.order_id) is order_worker.Decision.CONFIRMED
    alice = Caller(customer_id="alice")
    start = threading.Barrier(4)

    def cancel_it() -> object:
        start.wait()
        try:
            return cancel_order(alice, cancelled.order_id).status
        except ConflictError as conflict:
            return conflict.code

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = [future.result() for future in [pool.submit(cancel_it) for _ in range(4)]]

    assert sorted(map(str, outcomes)) == ["CANCELLED"] + ["ORDER_NOT_CANCELLABLE"] * 3
    assert allowance("alice", "LIMITED") == 2
    assert_stock_adds_up("LIMITED")
    assert_allowances_add_up()


def test_a_cancel_gives_back_what_the_order_counted_whatever_the_limit_is_now(stack):
    add_product("WAS-LIMITED", on_hand=10, max_per_customer=3)
    add_product("NOW-LIMITED", on_hand=10)
    order = place("alice", {"WAS-LIMITED": 2, "NOW-LIMITED": 2})
    assert order_worker.decide_order(order.order_id) is order_worker.Decision.CONFIRMED
    set_limit("WAS-LIMITED", None)  # as an import would
    set_limit("NOW-LIMITED", 3)

    cancel_order(Caller(customer_id="alice"), order.order_id)

    assert (allowance("alice", "WAS-LIMITED"), allowance("alice", "NOW-LIMITED")) == (0, 0)
    assert stock("WAS-LIMITED") == stock("NOW-LIMITED") == (10, 10, 0)
    assert_stock_adds_up("WAS-LIMITED", "NOW-LIMITED")
    assert_allowances_add_up()


def set_limit(sku: str, limit: int | None) -> None:
    product = products_table.get_product(sku)
    assert product is not None
    entry = CatalogEntry.model_validate(
        product.model_dump(include=set(CatalogEntry.model_fields)) | {"max_per_customer": limit}
    )
    products_table.apply_catalog_entry(entry, utc_now())


def test_cancelling_an_unknown_order_is_404(stack, lambda_context):
    result = cancel(lambda_context, "no-such-order")
    assert result.status == 404
    assert result.error["code"] == "ORDER_NOT_FOUND"


def test_cancel_racing_the_worker_always_ends_cancelled_with_stock_returned(stack):
    """Each order is cancelled while the worker decides it (twice: a duplicate delivery).
    Whoever wins each step, no order stays CONFIRMED and every unit is available again:
    the cancel ends each order, unless the worker rejected it first (then it conflicts)."""
    add_product("SKU-A", on_hand=8)
    orders = [place("alice", {"SKU-A": 1}) for _ in range(12)]
    alice = Caller(customer_id="alice")
    start = threading.Barrier(len(orders) * 3)

    def decide(order_id: str) -> object:
        start.wait()
        return order_worker.decide_order(order_id)

    def cancel_it(order_id: str) -> object:
        start.wait()
        try:
            return cancel_order(alice, order_id).status
        except ConflictError as conflict:
            return conflict

    with ThreadPoolExecutor(max_workers=len(orders) * 3) as pool:
        futures = [
            pool.submit(task, order.order_id)
            for order in orders
            for task in (decide, decide, cancel_it)
        ]
        outcomes = [future.result() for future in futures]

    for order, cancel_outcome in zip(orders, outcomes[2::3], strict=True):
        if isinstance(cancel_outcome, ConflictError):
            assert cancel_outcome.code == "ORDER_NOT_CANCELLABLE"
            assert status_of(order) is OrderStatus.REJECTED
        else:
            assert cancel_outcome is OrderStatus.CANCELLED
            assert status_of(order) is OrderStatus.CANCELLED
    assert stock("SKU-A") == (8, 8, 0)
    assert_stock_adds_up("SKU-A")


def test_a_worker_batch_after_cancels_skips_the_cancelled_orders(stack, lambda_context):
    add_product("SKU-A", on_hand=2)
    kept, dropped = place("alice", {"SKU-A": 2}), place("alice", {"SKU-A": 2})
    assert cancel(lambda_context, dropped.order_id).status == 200

    response = order_worker_sqs.handler(
        sqs_event(message_for(dropped), message_for(kept)), lambda_context
    )

    assert response["batchItemFailures"] == []
    assert (status_of(kept), status_of(dropped)) == (OrderStatus.CONFIRMED, OrderStatus.CANCELLED)
    assert stock("SKU-A") == (2, 0, 2)
    assert_stock_adds_up("SKU-A")


def test_a_cancel_that_met_a_transaction_in_flight_is_sent_again(stack, lambda_context):
    """TransactionConflictException (a transaction held the order) is not botocore's to
    retry: the one retry layer above it sends the write again, after a jittered pause."""
    add_product("SKU-A", on_hand=5)
    order = place("alice", {"SKU-A": 2})

    def conflict_once(body):
        return None if refused else "TransactionConflictException"

    with dynamodb_refusals(conflict_once, "UpdateItem") as refused:
        result = cancel(lambda_context, order.order_id)

    assert result.status == 200, result.body
    assert len(refused) == 1
    assert status_of(order) is OrderStatus.CANCELLED
    assert stock("SKU-A") == (5, 5, 0)


def test_a_cancel_throttled_past_botocores_retries_is_a_503_sent_once_per_attempt(
    stack, lambda_context
):
    add_product("SKU-A", on_hand=5)
    order = place("alice", {"SKU-A": 2})

    with dynamodb_refusals(
        lambda _: "ProvisionedThroughputExceededException", "UpdateItem"
    ) as refused:
        result = cancel(lambda_context, order.order_id)

    assert result.status == 503
    assert result.error["code"] == "RETRY_LATER"
    assert len(refused) == stockroom_aws.BOTOCORE_ATTEMPTS
    assert status_of(order) is OrderStatus.PENDING
