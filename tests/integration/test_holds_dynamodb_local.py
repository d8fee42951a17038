"""Payments, expiries and cancels racing over the same held orders, with real threads
against DynamoDB Local (which serves requests side by side): each order ends with one
of them, units come back exactly once for an order that did not end PAID, and a payment
that lost is recorded once as due a refund, however often it was delivered."""

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import hold_expiry
import order_worker
import payment_webhook
from orders import cancel_order
from stockroom.dal import orders as orders_table
from stockroom.dal import products as products_table
from stockroom.errors import ConflictError
from stockroom.identity import Caller
from stockroom.models import (
    OrderStatus,
    PaymentEvent,
    PaymentOutcome,
    RefundReason,
)
from support.catalog_data import add_product
from support.orders import stored_pending_order

ORDERS = 60
PAYERS = 4
EXPIRERS = 2  # two scheduled runs overlapping


def test_payments_expiries_and_cancels_racing_settle_each_order_once(held_tables):
    add_product("HOT", on_hand=ORDERS, price=100)
    orders = [stored_pending_order(f"c{n}", "HOT") for n in range(ORDERS)]
    ids = [order.order_id for order in orders]
    outcomes = order_worker.decide_orders(ids)
    assert set(outcomes.values()) == {order_worker.Decision.CONFIRMED}
    payments = {
        order_id: PaymentEvent(
            id=f"evt_{n}",
            type="payment.succeeded",
            order_id=order_id,
            amount_cents=100,
            currency="EUR",
        )
        for n, order_id in enumerate(ids)
    }
    due_by = datetime.now(UTC) + timedelta(minutes=2)  # every hold has run out by then
    start = threading.Barrier(PAYERS + EXPIRERS + 1)

    # Each payment delivered twice, by two payers in different orders: payers 0 and 1
    # split one shuffle of the orders, payers 2 and 3 another.
    shuffles = [random.Random(seed).sample(ids, ORDERS) for seed in (1, 2)]
    shares = [part for order in shuffles for part in (order[::2], order[1::2])]

    def pay(share: list[str]) -> list[tuple[str, PaymentOutcome]]:
        start.wait()
        return [(i, payment_webhook.receive_payment(payments[i]).outcome) for i in share]

    def expire() -> list[str]:
        start.wait()
        return hold_expiry.expire_due_holds(due_by)

    def cancel() -> list[str]:
        start.wait()
        cancelled = []
        for order in random.Random(5).sample(orders, 10):
            try:
                cancel_order(Caller(customer_id=order.customer_id), order.order_id)
            except ConflictError:
                continue  # paid or expired first
            cancelled.append(order.order_id)
        return cancelled

    with ThreadPoolExecutor(PAYERS + EXPIRERS + 1) as pool:
        paid = [pool.submit(pay, share) for share in shares]
        expired = [pool.submit(expire) for _ in range(EXPIRERS)]
        cancelled_future = pool.submit(cancel)
        receipts = [receipt for future in paid for receipt in future.result()]
        expiries = [order_id for future in expired for order_id in future.result()]
        cancelled = cancelled_future.result()

    stored = orders_table.get_orders(ids)
    statuses = Counter(stored[i].status for i in ids)
    assert set(statuses) <= {OrderStatus.PAID, OrderStatus.EXPIRED, OrderStatus.CANCELLED}
    # Expired once each: no run expired an order another run (or a payment, or a
    # cancel) had settled.
    assert len(expiries) == len(set(expiries))
    assert set(expiries) == {i for i in ids if stored[i].status is OrderStatus.EXPIRED}
    assert set(cancelled) == {i for i in ids if stored[i].status is OrderStatus.CANCELLED}
    paid_ids = {i for i in ids if stored[i].status is OrderStatus.PAID}
    assert len(receipts) == 2 * ORDERS
    # One delivery of each paying event paid its order; its twin found it recorded.
    assert Counter(i for i, o in receipts if o is PaymentOutcome.PAID) == Counter(paid_ids)
    for order_id in ids:
        order = stored[order_id]
        if order.status is OrderStatus.PAID:
            assert order.payment_id == payments[order_id].id
            assert order.refunds_due == []
        else:  # its payment lost the race: recorded once, however often delivered
            reason = {
                OrderStatus.EXPIRED: RefundReason.ORDER_EXPIRED,
                OrderStatus.CANCELLED: RefundReason.ORDER_CANCELLED,
            }[order.status]
            assert [(r.payment_id, r.reason) for r in order.refunds_due] == [
                (payments[order_id].id, reason)
            ]
        assert order.hold_expires_at is None  # out of the Holds index
    product = products_table.get_product("HOT")
    assert product is not None
    # Units came back exactly once for each order that did not end PAID.
    assert product.reserved == len(paid_ids)
    assert product.available == ORDERS - len(paid_ids)
    assert product.available + product.reserved == product.on_hand == ORDERS
