"""Group commit with real concurrency, against DynamoDB Local (AWS's emulator, which
serves requests side by side): workers racing over overlapping batches of one hot SKU
(every order delivered twice), customers cancelling, a merchant restocking; and one
customer's orders racing for a per-customer limit. Whatever the interleaving, nothing is
oversold, no limit is passed, every unit adds up and each order has one effect."""

import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest

import order_worker
from orders import cancel_order
from stockroom.dal import orders as orders_table
from stockroom.dal import products as products_table
from stockroom.errors import ConflictError
from stockroom.identity import Caller
from stockroom.models import CatalogEntry, OrderStatus, utc_now
from support.catalog_data import add_product
from support.dynamodb_local import template_tables
from support.orders import allowance, assert_allowances_add_up, place, stored_pending_order

ORDERS = 240
UNITS = 60
WORKERS = 6


@pytest.fixture
def tables(tmp_path, monkeypatch) -> Iterator[None]:
    """The template's tables in a DynamoDB Local of their own, the layer pointed at it."""
    with template_tables(tmp_path, monkeypatch):
        yield


def test_racing_grouped_batches_cancels_and_restocks_never_oversell(tables):
    add_product("HOT", on_hand=UNITS)
    orders = [stored_pending_order(f"c{n % 40}", "HOT") for n in range(ORDERS)]
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


LIMIT_ROUNDS = 8


def test_one_customers_orders_racing_for_a_limit_confirm_exactly_one(tables):
    """Two orders of 2 placed at the same moment by one customer under a limit of 3,
    decided at once by worker batches (each order in two, in either order) and by the
    one-order path: exactly one CONFIRMED, the other REJECTED LIMIT_EXCEEDED naming the
    SKU. Several rounds, for several interleavings."""
    for round_number in range(LIMIT_ROUNDS):
        sku = f"LIMITED-{round_number}"
        add_product(sku, on_hand=10, max_per_customer=3)
        a, b = _at_once([partial(place, "alice", {sku: 2})] * 2)
        results = _at_once(
            [
                partial(order_worker.decide_orders, [a.order_id]),
                partial(order_worker.decide_orders, [b.order_id, a.order_id]),
                partial(order_worker.decide_orders, [a.order_id, b.order_id]),
                partial(order_worker.decide_order, b.order_id),
            ]
        )

        outcomes = [o for r in results for o in (r.values() if isinstance(r, dict) else [r])]
        assert not [o for o in outcomes if isinstance(o, Exception)]
        stored = orders_table.get_orders([a.order_id, b.order_id])
        assert sorted(o.status.value for o in stored.values()) == ["CONFIRMED", "REJECTED"]
        (rejected,) = [o for o in stored.values() if o.status is OrderStatus.REJECTED]
        assert rejected.reason is not None
        assert (rejected.reason.code, rejected.reason.skus) == ("LIMIT_EXCEEDED", [sku])
        assert allowance("alice", sku) == 2
        product = products_table.get_product(sku)
        assert product is not None and (product.available, product.reserved) == (8, 2)
    assert_allowances_add_up()


def _at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Each call's result, the calls started together in threads of their own."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))
