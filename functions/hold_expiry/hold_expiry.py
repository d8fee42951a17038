"""Holds that run out: a CONFIRMED order still unpaid at its `hold_expires_at` becomes
EXPIRED (reason HOLD_EXPIRED) and its units go back to stock, through the same release
as a cancel (stock.release), so every effect of giving units back happens once.

Due holds are found through the sparse Holds index (only CONFIRMED orders under a hold
carry its keys), never by scanning the table. The index is eventually consistent, so
each order is read again before it is released; the release's condition on CONFIRMED
makes a payment, a cancel or another run that got there first win, and this one a no-op.
"""

import math
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from stockroom.dal import orders as orders_table
from stockroom.dal import stock
from stockroom.errors import RetryLaterError
from stockroom.models import Order, OrderReason, OrderStatus, timestamp_of, utc_now
from stockroom.observability import count, logger
from stockroom.retry import with_retries

# Releases side by side: each is a transaction of its own, and a sale's holds share a
# few hot SKU counters, so more would mostly conflict.
_CONCURRENCY = 4


def expire_due_holds(now: datetime, deadline: float = math.inf) -> list[str]:
    """Every CONFIRMED order whose hold expired by `now` made EXPIRED, its units returned;
    the ids of those this run expired (counted as HoldsExpired). Past `deadline` (of
    time.monotonic) no more are started: the next run finds the rest. An order that
    failed to expire is logged and left to the next run; RuntimeError after the others
    if any did, so the run counts as failed."""
    at = timestamp_of(now)
    due = orders_table.get_orders(orders_table.due_hold_ids(at))
    failed: list[str] = []

    def expire(order: Order) -> bool:
        if time.monotonic() > deadline:
            return False
        try:
            return _expire(order, at)
        except RetryLaterError:  # contended or throttled past the retries: no fault
            logger.info("hold contended; the next run expires it", order_id=order.order_id)
            return False
        except Exception:
            logger.exception("hold not expired; the next run tries again", order_id=order.order_id)
            failed.append(order.order_id)
            return False

    with ThreadPoolExecutor(_CONCURRENCY) as pool:
        outcomes = list(pool.map(expire, due.values()))
    expired = [order_id for order_id, done in zip(due, outcomes, strict=True) if done]
    count("HoldsExpired", len(expired))
    if expired:
        logger.info("holds expired", order_ids=expired)
    if failed:
        raise RuntimeError(f"{len(failed)} due holds not expired: {', '.join(failed)}")
    return expired


def _expire(order: Order, at: str) -> bool:
    """CONFIRMED -> EXPIRED with the order's units returned, if its hold is still due;
    False when it is not (paid or cancelled meanwhile, or not due yet)."""
    if (
        order.status is not OrderStatus.CONFIRMED
        or order.hold_expires_at is None
        or order.hold_expires_at > at
    ):
        return False
    reason = OrderReason(code="HOLD_EXPIRED")
    # Its own timestamp, one for every attempt: how a resent release recognises its own
    # effect, and no other run's (two runs may share `at`).
    expired_at = utc_now()
    try:
        with_retries(
            lambda: stock.release(order, expired_at, reason, target=OrderStatus.EXPIRED),
            f"expire order {order.order_id}",
        )
    except stock.OrderStatusChangedError:
        return False  # paid, cancelled or expired by another run first
    return True
