"""Holds that expire unless paid: with HoldMinutes above 0 a confirmed order carries
hold_expires_at and sits in the sparse Holds index until it is paid, cancelled or
expired; the scheduled expiry returns an unpaid hold's units once. HoldMinutes 0 keeps
a confirmed order's units until it is cancelled."""

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

import hold_expiry
import hold_expiry_schedule
import order_worker
import order_worker_sqs
import orders_api
from orders import cancel_order
from stockroom import container
from stockroom.dal import orders as orders_table
from stockroom.dal import products as products_table
from stockroom.dal import stock
from stockroom.identity import Caller
from stockroom.models import Order, OrderStatus, utc_now
from support.catalog_data import add_product
from support.context import FakeLambdaContext
from support.events import HttpResult, http_event, load_event, parse_response
from support.orders import (
    allowance,
    assert_allowances_add_up,
    assert_stock_adds_up,
    message_for,
    place,
    sqs_event,
)


@pytest.fixture
def holds(stack, monkeypatch) -> None:
    monkeypatch.setenv("HOLD_MINUTES", "15")
    container.reset()


def stored(order_id: str) -> Order:
    order = orders_table.get_order(order_id)
    assert order is not None
    return order


def stock_of(sku: str) -> tuple[int, int]:
    product = products_table.get_product(sku)
    assert product is not None
    return product.available, product.reserved


def held_ids(stack) -> set[str]:
    """Every order in the Holds index, whatever its expiry."""
    items = boto3.client("dynamodb").scan(TableName=stack["OrdersTable"], IndexName="Holds")
    return {item["order_id"]["S"] for item in items["Items"]}


def later(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def cancel(order_id: str, lambda_context) -> HttpResult:
    event = http_event(
        "POST", "/orders/{order_id}/cancel", path_parameters={"order_id": order_id}, sub="alice"
    )
    return parse_response(orders_api.handler(event, lambda_context))


def confirm_in_a_batch(*orders: Order) -> None:
    event = sqs_event(*(message_for(order) for order in orders))
    assert order_worker_sqs.handler(event, FakeLambdaContext()) == {"batchItemFailures": []}


def _hold_length(order: Order) -> timedelta:
    assert order.hold_expires_at is not None
    confirmed_at = datetime.fromisoformat(order.updated_at)
    return datetime.fromisoformat(order.hold_expires_at) - confirmed_at


# -------------------------------------------------------------- HoldMinutes 0
def test_without_holds_a_confirmed_order_keeps_its_units_until_cancelled(stack, lambda_context):
    add_product("SKU-A", on_hand=5)
    grouped, alone = place("alice", {"SKU-A": 2}), place("alice", {"SKU-A": 1})
    confirm_in_a_batch(grouped)
    assert order_worker.decide_order(alone.order_id) is order_worker.Decision.CONFIRMED

    assert hold_expiry.expire_due_holds(later(60 * 24 * 365)) == []

    for order in (grouped, alone):
        assert stored(order.order_id).status is OrderStatus.CONFIRMED
        assert stored(order.order_id).hold_expires_at is None
        assert (
            "hold_expires_at"
            not in parse_response(
                orders_api.handler(
                    http_event(
                        "GET",
                        "/orders/{order_id}",
                        path_parameters={"order_id": order.order_id},
                        sub="alice",
                    ),
                    lambda_context,
                )
            ).body
        )
    assert held_ids(stack) == set()
    assert stock_of("SKU-A") == (2, 3)
    assert cancel(grouped.order_id, lambda_context).body["status"] == "CANCELLED"
    assert stock_of("SKU-A") == (4, 1)


# ---------------------------------------------------------------- HoldMinutes 15
def test_a_confirmed_order_is_held_for_hold_minutes_grouped_or_alone(stack, holds):
    add_product("SKU-A", on_hand=5)
    grouped, alone = place("alice", {"SKU-A": 2}), place("bob", {"SKU-A": 1})

    confirm_in_a_batch(grouped)
    assert order_worker.decide_order(alone.order_id) is order_worker.Decision.CONFIRMED

    for order in (grouped, alone):
        assert _hold_length(stored(order.order_id)) == timedelta(minutes=15)
    assert held_ids(stack) == {grouped.order_id, alone.order_id}


def test_an_unpaid_hold_expires_once_its_units_returned_once(stack, holds):
    add_product("SKU-A", on_hand=5)
    add_product("SKU-B", on_hand=3)
    order = place("alice", {"SKU-A": 2, "SKU-B": 3})
    confirm_in_a_batch(order)
    assert (stock_of("SKU-A"), stock_of("SKU-B")) == ((3, 2), (0, 3))

    assert hold_expiry.expire_due_holds(later(14)) == []  # not due yet
    assert stored(order.order_id).status is OrderStatus.CONFIRMED

    assert hold_expiry.expire_due_holds(later(16)) == [order.order_id]
    assert hold_expiry.expire_due_holds(later(17)) == []  # nothing to do twice

    expired = stored(order.order_id)
    assert expired.status is OrderStatus.EXPIRED
    assert expired.reason is not None and expired.reason.code == "HOLD_EXPIRED"
    assert expired.hold_expires_at is None
    assert held_ids(stack) == set()
    assert (stock_of("SKU-A"), stock_of("SKU-B")) == ((5, 0), (3, 0))
    assert_stock_adds_up("SKU-A", "SKU-B")


def test_an_expired_hold_gives_the_allowance_back_once(stack, holds, monkeypatch):
    """Expiry releases through stock.release, the cancel's transaction: the customer's
    allowance of a SKU with a per-customer limit comes back with the units, once, even
    when two overlapping runs both read the hold as due."""
    add_product("LIMITED", on_hand=10, max_per_customer=3)
    add_product("FREE", on_hand=10)
    order = place("alice", {"LIMITED": 3, "FREE": 2})
    confirm_in_a_batch(order)
    assert allowance("alice", "LIMITED") == 3
    read = orders_table.get_orders
    overlapping: list[list[str]] = []

    def another_run_expires_it_after_the_read(order_ids: list[str]) -> dict[str, Order]:
        found = read(order_ids)
        monkeypatch.setattr(orders_table, "get_orders", read)
        overlapping.append(hold_expiry.expire_due_holds(later(16)))
        return found

    monkeypatch.setattr(orders_table, "get_orders", another_run_expires_it_after_the_read)

    assert hold_expiry.expire_due_holds(later(16)) == []  # the other run got there first
    assert overlapping == [[order.order_id]]
    assert stored(order.order_id).status is OrderStatus.EXPIRED
    assert allowance("alice", "LIMITED") == 0  # given back once, not twice
    assert (stock_of("LIMITED"), stock_of("FREE")) == ((10, 0), (10, 0))
    assert_stock_adds_up("LIMITED", "FREE")
    assert_allowances_add_up()
    # The customer may take up to the limit again.
    again = place("alice", {"LIMITED": 3})
    assert order_worker.decide_order(again.order_id) is order_worker.Decision.CONFIRMED
    assert allowance("alice", "LIMITED") == 3
    assert_allowances_add_up()


def _pay(order: Order) -> None:
    assert orders_table.mark_paid(order.order_id, "evt_1", utc_now())


def _cancel(order: Order) -> None:
    cancel_order(Caller(customer_id="alice"), order.order_id)


@pytest.mark.parametrize(
    ("meanwhile", "status", "stock"),
    [
        (_pay, OrderStatus.PAID, (3, 2)),
        (_cancel, OrderStatus.CANCELLED, (5, 0)),  # returned once, by the cancel
    ],
)
def test_an_order_read_as_due_but_settled_meanwhile_is_left_as_settled(
    stack, holds, monkeypatch, meanwhile, status, stock
):
    """The index is eventually consistent: what it lists is read again, and the
    release's condition settles a payment or a cancel that lands after that read."""
    add_product("SKU-A", on_hand=5)
    order = place("alice", {"SKU-A": 2})
    confirm_in_a_batch(order)
    read = orders_table.get_orders

    def settled_just_after_the_read(order_ids: list[str]) -> dict[str, Order]:
        found = read(order_ids)
        meanwhile(order)
        return found

    monkeypatch.setattr(orders_table, "get_orders", settled_just_after_the_read)

    assert hold_expiry.expire_due_holds(later(16)) == []
    assert stored(order.order_id).status is status
    assert stock_of("SKU-A") == stock


def test_cancelling_a_held_order_works_as_before_and_ends_its_hold(stack, holds, lambda_context):
    add_product("SKU-A", on_hand=5)
    order = place("alice", {"SKU-A": 2})
    confirm_in_a_batch(order)

    result = cancel(order.order_id, lambda_context)

    assert result.status == 200
    assert result.body["status"] == "CANCELLED"
    assert "hold_expires_at" not in result.body
    assert held_ids(stack) == set()
    assert hold_expiry.expire_due_holds(later(16)) == []
    assert stock_of("SKU-A") == (5, 0)


@pytest.mark.parametrize("settled", ["PAID", "EXPIRED"])
def test_a_paid_or_expired_order_cannot_be_cancelled(stack, holds, lambda_context, settled):
    add_product("SKU-A", on_hand=5)
    order = place("alice", {"SKU-A": 2})
    confirm_in_a_batch(order)
    if settled == "PAID":
        assert orders_table.mark_paid(order.order_id, "evt_1", utc_now())
    else:
        assert hold_expiry.expire_due_holds(later(16)) == [order.order_id]
    before = stock_of("SKU-A")

    result = cancel(order.order_id, lambda_context)

    assert result.status == 409
    assert result.error["code"] == "ORDER_NOT_CANCELLABLE"
    if settled == "PAID":
        assert "no refund flow" in result.error["message"]
    assert stored(order.order_id).status == settled
    assert stock_of("SKU-A") == before


def test_the_scheduled_function_expires_holds_that_ran_out(stack, holds):
    """What the schedule (every minute; locally every 5 s) runs: a hold that ran out by
    the time of the run is expired by it."""
    add_product("SKU-A", on_hand=5)
    order = place("alice", {"SKU-A": 2})
    ran_out = utc_now()
    with_hold = orders_table.get_order(order.order_id)
    assert with_hold is not None
    stock.reserve(with_hold, ran_out, {}, hold_expires_at=ran_out)  # held until this instant
    timeout = FakeLambdaContext(timeout_seconds=55)  # the template's Timeout

    assert hold_expiry_schedule.handler(load_event("hold_expiry_scheduled"), timeout) == {
        "expired": 1
    }

    assert stored(order.order_id).status is OrderStatus.EXPIRED
    assert stock_of("SKU-A") == (5, 0)


def test_a_run_past_its_deadline_leaves_the_rest_to_the_next(stack, holds):
    add_product("SKU-A", on_hand=5)
    order = place("alice", {"SKU-A": 2})
    confirm_in_a_batch(order)

    assert hold_expiry.expire_due_holds(later(16), deadline=0) == []
    assert stored(order.order_id).status is OrderStatus.CONFIRMED
    assert hold_expiry.expire_due_holds(later(16)) == [order.order_id]


def test_a_failed_expiry_fails_the_run_after_the_others(stack, holds, monkeypatch):
    add_product("SKU-A", on_hand=5)
    first, second = place("alice", {"SKU-A": 1}), place("bob", {"SKU-A": 1})
    confirm_in_a_batch(first, second)
    release = stock.release

    def broken_for_first(order: Order, *args: Any, **kwargs: Any) -> None:
        if order.order_id == first.order_id:
            raise RuntimeError("injected")
        release(order, *args, **kwargs)

    monkeypatch.setattr(stock, "release", broken_for_first)

    with pytest.raises(RuntimeError, match=first.order_id):
        hold_expiry.expire_due_holds(later(16))
    assert stored(second.order_id).status is OrderStatus.EXPIRED
    assert stored(first.order_id).status is OrderStatus.CONFIRMED
