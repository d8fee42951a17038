"""Group commit with real concurrency, against DynamoDB Local (AWS's emulator, which
serves requests side by side): workers racing over overlapping batches of one hot SKU
(every order delivered twice), customers cancelling, a merchant restocking. Whatever the
interleaving, nothing is oversold, every unit adds up and each order has one effect."""

import random
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import order_worker
from devtools import dynamodb_local
from devtools.local_stack import free_port
from devtools.provision import provision
from orders import cancel_order
from stockroom import container
from stockroom.dal import orders as orders_table
from stockroom.dal import products as products_table
from stockroom.errors import ConflictError
from stockroom.identity import Caller
from stockroom.models import CatalogEntry, Order, OrderLine, OrderStatus, utc_now
from support.catalog_data import add_product

ORDERS = 240
UNITS = 60
WORKERS = 6


@pytest.fixture
def tables(tmp_path, monkeypatch) -> Iterator[None]:
    """The template's tables in a DynamoDB Local of their own, the layer pointed at it."""
    server = dynamodb_local.start(free_port(), tmp_path / "dynamodb-local.log")
    try:
        server.wait_until_serving()
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", server.endpoint)
        stack = provision(types={"AWS::DynamoDB::Table"})
        monkeypatch.setenv("PRODUCTS_TABLE_NAME", stack.refs["ProductsTable"])
        monkeypatch.setenv("ORDERS_TABLE_NAME", stack.refs["OrdersTable"])
        container.reset()
        yield
    finally:
        container.reset()
        server.stop()


def _pending_order(customer: str, sku: str) -> Order:
    now = utc_now()
    order = Order(
        order_id=str(uuid.uuid4()),
        customer_id=customer,
        status=OrderStatus.PENDING,
        items=[OrderLine(sku=sku, quantity=1, unit_price_cents=100)],
        total_cents=100,
        currency="EUR",
        created_at=now,
        updated_at=now,
    )
    orders_table.create_order(order)
    return order


def test_racing_grouped_batches_cancels_and_restocks_never_oversell(tables):
    add_product("HOT", on_hand=UNITS)
    orders = [_pending_order(f"c{n % 40}", "HOT") for n in range(ORDERS)]
    ids = [order.order_id for order in orders]
    # Every order in two batches, delivered to different workers at once.
    shuffled = random.Random(7).sample(ids, len(ids))
    batches = [ids[i : i + 40] for i in range(0, ORDERS, 40)]
    batches += [shuffled[i : i + 40] for i in range(0, ORDERS, 40)]
    cancelled: list[str] = []
    start = threading.Barrier(WORKERS + 2)

    def cancel() -> None:
        start.wait()
        for order in random.Random(3).sample(orders, 30):
            try:
                cancel_order(Caller(customer_id=order.customer_id), order.order_id)
            except ConflictError:
                continue  # rejected (or cancelled) first: nothing to return
            cancelled.append(order.order_id)

    def restock() -> None:
        start.wait()
        for on_hand in (UNITS + 10, UNITS + 20):
            entry = CatalogEntry(
                sku="HOT", name="Hot", unit_price_cents=100, currency="EUR", on_hand=on_hand
            )
            products_table.apply_catalog_entry(entry, utc_now())

    def worker(assigned: list[list[str]]) -> list[tuple[list[str], dict[str, Any]]]:
        start.wait()
        return [(batch, order_worker.decide_orders(batch)) for batch in assigned]

    with ThreadPoolExecutor(WORKERS + 2) as pool:
        side = [pool.submit(cancel), pool.submit(restock)]
        decided = [pool.submit(worker, batches[n::WORKERS]) for n in range(WORKERS)]
        outcomes = [outcome for future in decided for outcome in future.result()]
        for future in side:
            future.result()

    errors = [o for _, batch in outcomes for o in batch.values() if isinstance(o, Exception)]
    assert errors == []
    for batch, result in outcomes:  # every order of every batch decided or skipped
        assert set(result) == set(batch)
    stored = orders_table.get_orders(ids)
    statuses = [stored[i].status for i in ids]
    assert OrderStatus.PENDING not in statuses
    confirmed = sum(1 for status in statuses if status is OrderStatus.CONFIRMED)
    product = products_table.get_product("HOT")
    assert product is not None
    assert product.available >= 0
    assert product.available + product.reserved == product.on_hand == UNITS + 20
    assert product.reserved == confirmed  # every CONFIRMED order's unit, and no other
    # Each order confirmed once: a second confirmation would have moved the counter
    # twice, which `reserved == confirmed` rules out.
    assert sum(r[i] is order_worker.Decision.CONFIRMED for _, r in outcomes for i in r) == (
        confirmed + sum(1 for i in cancelled if _was_confirmed(i, outcomes))
    )
    # Units came back for every cancel of a confirmed order: none is CONFIRMED now.
    assert all(stored[i].status is OrderStatus.CANCELLED for i in cancelled)


def _was_confirmed(order_id: str, outcomes: list[tuple[list[str], dict[str, Any]]]) -> bool:
    return any(r.get(order_id) is order_worker.Decision.CONFIRMED for _, r in outcomes)
