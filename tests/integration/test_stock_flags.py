"""The sold-out flags from the products table's stream: the records that change them
(stock crossing zero, whatever moved it: the worker, a cancel, an import), the set the
stock flags function keeps from them, and the orders API refusing at the door what the
set names."""

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

import order_worker_sqs
import orders
import stock_flags as flags_logic
import stock_flags_stream
from devtools.template import resources
from devtools.triggers import matches
from stockroom.dal import products as products_table
from stockroom.dal import stock_flags
from stockroom.errors import ConflictError
from stockroom.identity import Caller
from stockroom.models import CatalogEntry, Order, OrderStatus
from stockroom.settings import get_settings
from support.catalog_data import add_product
from support.orders import assert_stock_adds_up, message_for, place, sqs_event, status_of
from support.streams import stream_records


def flag_patterns() -> list[dict[str, Any]]:
    events = resources("AWS::Serverless::Function")["StockFlagsFunction"]["Properties"]["Events"]
    filters = events["StockCrossedZero"]["Properties"].get("FilterCriteria", {}).get("Filters")
    return [json.loads(item["Pattern"]) for item in filters or []]


class ProductsStream:
    """The products table's stream, delivered to the stock flags function as its event
    source would: only what its filter (if any) passes, each record once, in order."""

    def __init__(self) -> None:
        self.delivered = 0
        self.batch: list[dict[str, Any]] = []

    def deliver(self, lambda_context: Any) -> dict[str, int]:
        """The function's answer to the records new since the last delivery (none: no
        invocation, nothing flagged or cleared)."""
        records = stream_records(get_settings().require("products_table_name"))
        new, self.delivered = records[self.delivered :], len(records)
        patterns = flag_patterns()
        self.batch = [r for r in new if not patterns or any(matches(p, r) for p in patterns)]
        if not self.batch:
            return {"flagged": 0, "cleared": 0}
        result: dict[str, int] = stock_flags_stream.handler({"Records": self.batch}, lambda_context)
        return result


def sold_out() -> frozenset[str]:
    return stock_flags.sold_out_skus() or frozenset()


def decide(*placed: Order, lambda_context: Any) -> None:
    result = order_worker_sqs.handler(sqs_event(*map(message_for, placed)), lambda_context)
    assert result["batchItemFailures"] == []


def test_a_sell_out_flags_the_sku_and_the_api_refuses_it_at_the_door(stack, lambda_context):
    stream = ProductsStream()
    add_product("SKU-A", on_hand=2)
    add_product("SKU-B", on_hand=5)
    created = stream.deliver(lambda_context)  # created with stock: not a crossing
    assert (created["flagged"], created["cleared"]) == (0, 0)
    first, second = place("alice", {"SKU-A": 1}), place("bob", {"SKU-A": 1, "SKU-B": 1})
    decide(first, second, lambda_context=lambda_context)
    assert stream.deliver(lambda_context)["flagged"] == 1
    assert sold_out() == {"SKU-A"}

    orders.sold_out_flags.cache_clear()  # this container's next refresh
    with pytest.raises(ConflictError) as refused:
        place("carol", {"SKU-B": 1, "SKU-A": 1})
    assert refused.value.code == "SOLD_OUT"
    assert [problem.field for problem in refused.value.details] == ["items[1].sku"]
    assert len(stream_records(get_settings().require("orders_table_name"))) == 4  # none new
    assert status_of(place("dave", {"SKU-B": 1})) is OrderStatus.PENDING


def test_a_cancel_clears_the_flag_and_the_next_order_goes_through(stack, lambda_context):
    stream = ProductsStream()
    add_product("SKU-A", on_hand=1)
    bought = place("alice", {"SKU-A": 1})
    decide(bought, lambda_context=lambda_context)
    stream.deliver(lambda_context)
    assert sold_out() == {"SKU-A"}

    orders.cancel_order(Caller(customer_id="alice"), bought.order_id)
    stream.deliver(lambda_context)
    assert sold_out() == frozenset()
    orders.sold_out_flags.cache_clear()
    again = place("bob", {"SKU-A": 1})
    decide(again, lambda_context=lambda_context)
    assert status_of(again) is OrderStatus.CONFIRMED
    assert_stock_adds_up("SKU-A")


def test_an_import_flags_a_product_without_stock_and_clears_it_on_restock(stack, lambda_context):
    stream = ProductsStream()
    entry = CatalogEntry(sku="SKU-N", name="New", unit_price_cents=100, currency="EUR", on_hand=0)
    products_table.apply_catalog_entry(entry, "2026-12-01T00:00:00.000000Z")
    stream.deliver(lambda_context)
    assert sold_out() == {"SKU-N"}
    restocked = entry.model_copy(update={"on_hand": 7})
    products_table.apply_catalog_entry(restocked, "2026-12-01T00:01:00.000000Z")
    stream.deliver(lambda_context)
    assert sold_out() == frozenset()


def test_only_changes_to_or_from_zero_change_the_flags(stack, lambda_context, monkeypatch):
    updates: list[str] = []
    update = stock_flags._update

    def recorded(expression: str, skus: set[str], now: str) -> None:
        updates.append(expression)
        update(expression, skus, now)

    monkeypatch.setattr(stock_flags, "_update", recorded)
    stream = ProductsStream()
    add_product("SKU-A", on_hand=3)
    decide(place("alice", {"SKU-A": 1}), lambda_context=lambda_context)  # 3 -> 2
    assert stream.deliver(lambda_context) == {"flagged": 0, "cleared": 0, "written": 0}
    assert updates == []
    decide(place("bob", {"SKU-A": 2}), lambda_context=lambda_context)  # 2 -> 0
    assert stream.deliver(lambda_context)["flagged"] == 1
    assert [expression.split()[0] for expression in updates] == ["ADD"]


def test_a_batch_applied_again_or_changing_a_sku_twice_ends_in_its_last_state(
    stack, lambda_context
):
    stream = ProductsStream()
    add_product("SKU-A", on_hand=1)
    add_product("SKU-B", on_hand=1)
    bought = place("alice", {"SKU-A": 1})
    decide(bought, place("bob", {"SKU-B": 1}), lambda_context=lambda_context)
    orders.cancel_order(Caller(customer_id="alice"), bought.order_id)  # SKU-A back
    stream.deliver(lambda_context)  # SKU-A out and back, SKU-B out: one batch
    assert sum(map(stock_flags_stream.crosses_zero, stream.batch)) == 3
    assert sold_out() == {"SKU-B"}
    for _ in range(2):  # a retried batch sets the same state
        stock_flags_stream.handler({"Records": stream.batch}, lambda_context)
    assert sold_out() == {"SKU-B"}


def test_a_removed_product_is_no_longer_flagged(stack, lambda_context):
    stream = ProductsStream()
    add_product("SKU-A", on_hand=0)
    stream.deliver(lambda_context)
    assert sold_out() == {"SKU-A"}
    boto3.client("dynamodb").delete_item(
        TableName=get_settings().require("products_table_name"), Key={"sku": {"S": "SKU-A"}}
    )
    stream.deliver(lambda_context)
    assert sold_out() == frozenset()


def test_a_full_set_leaves_new_skus_unflagged_but_still_clears(stack, lambda_context, monkeypatch):
    """DynamoDB refuses an update past its item size (about 6,000 SKUs of 64
    characters). moto 5.2.5 stores such an item and then refuses it, even to GetItem, so
    the refusal is DynamoDB's own error here, raised in moto's place."""
    add_product("SKU-A", on_hand=0)
    ProductsStream().deliver(lambda_context)
    update = stock_flags._update

    def full(expression: str, skus: set[str], now: str) -> None:
        if expression.startswith("ADD"):
            response: Any = {
                "Error": {
                    "Code": "ValidationException",
                    "Message": "Item size to update has exceeded the maximum allowed size",
                }
            }
            raise ClientError(response, "UpdateItem")
        update(expression, skus, now)

    monkeypatch.setattr(stock_flags, "_update", full)
    assert flags_logic.apply_changes([("SKU-NEW", 0), ("SKU-A", 4)]) == (0, 1)
    assert sold_out() == frozenset()
