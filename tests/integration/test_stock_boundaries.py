"""Every stock comparison at its edge: a quantity one below, equal to and one above what
the counter (or the allowance) holds, for the worker grouped and alone, and for a
cancel's release. A `<` written for `<=`, or `>` for `>=`, fails here."""

import boto3
import pytest

import order_worker
from order_worker import Decision
from orders import cancel_order
from stockroom.dal import products as products_table
from stockroom.dal import stock
from stockroom.identity import Caller
from stockroom.models import OrderStatus
from stockroom.settings import get_settings
from support.catalog_data import add_product
from support.orders import assert_allowances_add_up, assert_stock_adds_up, place, status_of

EDGES = [(4, Decision.CONFIRMED), (5, Decision.CONFIRMED), (6, Decision.REJECTED)]


def decide(order_id: str, grouped: bool) -> Decision:
    if grouped:
        outcome = order_worker.decide_orders([order_id])[order_id]
        assert isinstance(outcome, Decision), outcome
        return outcome
    return order_worker.decide_order(order_id)


@pytest.mark.parametrize("grouped", [True, False], ids=["grouped", "alone"])
@pytest.mark.parametrize(("quantity", "decision"), EDGES)
def test_an_order_line_fits_exactly_when_its_quantity_is_at_most_what_is_available(
    stack, grouped, quantity, decision
):
    add_product("SKU-A", on_hand=5)
    order = place("alice", {"SKU-A": quantity})

    assert decide(order.order_id, grouped) is decision

    product = products_table.get_product("SKU-A")
    assert product is not None
    taken = quantity if decision is Decision.CONFIRMED else 0
    assert (product.available, product.reserved) == (5 - taken, taken)
    assert_stock_adds_up("SKU-A")


@pytest.mark.parametrize("grouped", [True, False], ids=["grouped", "alone"])
@pytest.mark.parametrize(
    ("quantity", "decision"), [(1, Decision.CONFIRMED), (2, Decision.REJECTED)]
)
def test_a_customers_units_fit_exactly_when_they_reach_the_limit(
    stack, grouped, quantity, decision
):
    # The customer holds 2 of a limit of 3: 1 more reaches the limit, 2 more pass it.
    add_product("SKU-L", on_hand=10, max_per_customer=3)
    held = place("alice", {"SKU-L": 2})
    assert order_worker.decide_order(held.order_id) is Decision.CONFIRMED
    order = place("alice", {"SKU-L": quantity})

    assert decide(order.order_id, grouped) is decision

    assert_stock_adds_up("SKU-L")
    assert_allowances_add_up()


@pytest.mark.parametrize(("reserved", "releases"), [(2, False), (3, True), (4, True)])
def test_a_cancel_releases_exactly_when_the_counter_holds_the_orders_units(
    stack, reserved, releases
):
    # The release's condition (reserved >= the order's units), with the counter set one
    # below, equal to and one above what the order holds.
    add_product("SKU-A", on_hand=10)
    order = place("alice", {"SKU-A": 3})
    assert order_worker.decide_order(order.order_id) is Decision.CONFIRMED
    boto3.client("dynamodb").update_item(
        TableName=get_settings().require("products_table_name"),
        Key={"sku": {"S": "SKU-A"}},
        UpdateExpression="SET reserved = :r, available = :a",
        ExpressionAttributeValues={":r": {"N": str(reserved)}, ":a": {"N": str(10 - reserved)}},
    )
    alice = Caller(customer_id="alice", scopes=frozenset())

    if releases:
        cancel_order(alice, order.order_id)
        assert status_of(order) is OrderStatus.CANCELLED
        expected = (10 - reserved + 3, reserved - 3)
    else:
        corrupt = (
            f"order {order.order_id} holds more units than are reserved or counted: "
            "not enough stock for SKU-A"
        )
        with pytest.raises(stock.StockCountersCorruptError, match=f"^{corrupt}$"):
            cancel_order(alice, order.order_id)
        assert status_of(order) is OrderStatus.CONFIRMED
        expected = (10 - reserved, reserved)
    product = products_table.get_product("SKU-A")
    assert product is not None
    assert (product.available, product.reserved) == expected
