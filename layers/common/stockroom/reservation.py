"""The order worker's decision: reserve a PENDING order's stock and confirm it, or
reject it as out of stock. Exactly one effect per order however often it is delivered."""

from enum import StrEnum

from stockroom.dal import orders as orders_table
from stockroom.dal import stock
from stockroom.models import OrderReason, OrderStatus, utc_now
from stockroom.observability import count, logger
from stockroom.retry import with_retries


class Decision(StrEnum):
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"
    # Already decided (a duplicate delivery) or cancelled first: nothing to do.
    SKIPPED = "SKIPPED"


class UnknownOrderError(LookupError):
    """A message names an order that does not exist: it can never succeed."""


def decide_order(order_id: str) -> Decision:
    """Confirms the order with its stock reserved in one transaction, or rejects it
    with the SKUs that lacked stock and reserves nothing. RetryLaterError when
    contention outlasts the retries; nothing is half-applied in any case."""
    order = orders_table.get_order(order_id)
    if order is None:
        raise UnknownOrderError(f"no order with id {order_id!r}")
    if order.status is not OrderStatus.PENDING:
        return _skipped(order_id, order.status)
    # One timestamp for every attempt: it is how a resent write recognises its own effect.
    now = utc_now()
    try:
        with_retries(lambda: stock.reserve(order, now), f"reserve order {order_id}")
    except stock.OrderStatusChangedError:
        return _skipped(order_id, "changed while reserving")
    except stock.InsufficientStockError as short:
        reason = OrderReason(code="OUT_OF_STOCK", skus=short.skus)
        rejected_at = utc_now()
        rejected = with_retries(
            lambda: orders_table.set_status(
                order_id, OrderStatus.PENDING, OrderStatus.REJECTED, rejected_at, reason
            ),
            f"reject order {order_id}",
        )
        if not rejected:
            return _skipped(order_id, "changed while rejecting")
        count("OrdersRejected")
        logger.info("order rejected", order_id=order_id, out_of_stock=short.skus)
        return Decision.REJECTED
    count("OrdersConfirmed")
    logger.info("order confirmed", order_id=order_id)
    return Decision.CONFIRMED


def _skipped(order_id: str, status: str) -> Decision:
    count("DuplicatesSkipped")
    logger.info("order already decided; message skipped", order_id=order_id, status=status)
    return Decision.SKIPPED
