"""Stock movements: one DynamoDB transaction moves an order's units between `available`
and `reserved` on its products and changes the order's status, all or nothing; or, for
a group of orders (`reserve_group`), moves each SKU's units once for all of them and
confirms every one, all or nothing.

Each product update keeps `available + reserved == on_hand` by construction (both change
by the same quantity in one expression), and its condition keeps `available` from going
below zero. The order's condition on its current status makes every movement happen at
most once, however often a message is delivered or a request is repeated.

A transaction is sent with a ClientRequestToken, so DynamoDB answers botocore's resend of
it (after a lost answer) with success for ten minutes. Where the resend executes anyway
(an emulator, a token past its window), it fails on the order's status condition, and
the order as it stands shows whether our own transaction moved it: then it succeeded.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from stockroom import aws, retry
from stockroom.dal.orders import is_own_transition, status_update
from stockroom.models import Order, OrderLine, OrderReason, OrderStatus
from stockroom.settings import get_settings


class OrderStatusChangedError(Exception):
    """The order was no longer in the status the movement expected: someone else
    (a duplicate delivery, the worker, a cancel) decided it first."""


class InsufficientStockError(Exception):
    def __init__(self, skus: list[str]) -> None:
        super().__init__(f"not enough stock for {', '.join(skus)}")
        self.skus = skus


class StockCountersCorruptError(RuntimeError):
    """Releasing an order's units found fewer reserved than the order holds."""


def reserve(order: Order, now: str) -> None:
    """PENDING -> CONFIRMED, each line's quantity moved from available to reserved.
    Raises InsufficientStockError naming every short SKU, or OrderStatusChangedError."""
    _move_stock(order, OrderStatus.PENDING, OrderStatus.CONFIRMED, now, None, direction=-1)


# DynamoDB's limit on the items of one transaction.
MAX_TRANSACTION_ITEMS = 100


@dataclass(frozen=True)
class GroupOutcome:
    """What one group transaction did: confirmed every order, or none of them."""

    confirmed: list[str] = field(default_factory=list)  # its orders, all reserved
    changed: list[str] = field(default_factory=list)  # no longer PENDING: decided elsewhere
    short: list[str] = field(default_factory=list)  # SKUs whose counter no longer covered it
    transient: bool = False  # a conflict or throttling: the same group may succeed later


def group_items(orders: Sequence[Order]) -> int:
    """The transaction items a group of `orders` needs: a counter a SKU, an order each."""
    return len({line.sku for order in orders for line in order.items}) + len(orders)


def reserve_group(orders: Sequence[Order], now: str) -> GroupOutcome:
    """PENDING -> CONFIRMED for every order of the group in one transaction, each SKU's
    counter moved once by the units of all of them; all or nothing. At most
    MAX_TRANSACTION_ITEMS items (`group_items`)."""
    totals: dict[str, int] = {}
    for order in orders:
        for line in order.items:
            totals[line.sku] = totals.get(line.sku, 0) + line.quantity
    transaction: list[Any] = [
        {"Update": _counter_update(sku, quantity, direction=-1, now=now)}
        for sku, quantity in totals.items()
    ]
    transaction += [
        {"Update": status_update(o.order_id, OrderStatus.PENDING, OrderStatus.CONFIRMED, now, None)}
        for o in orders
    ]
    ids = [order.order_id for order in orders]
    try:
        aws.dynamodb().transact_write_items(
            TransactItems=transaction, ClientRequestToken=str(uuid.uuid4())
        )
    except ClientError as error:
        failure = retry.failure_of(error)
        if isinstance(failure, retry.TransientWriteError):
            return GroupOutcome(transient=True)
        if failure is not None:
            raise failure from error
        cancellation = error.response.get("CancellationReasons", [])
        code = aws.error_code(error)
        if code != "TransactionCanceledException" or len(cancellation) != len(transaction):
            raise
        counters, statuses = cancellation[: len(totals)], cancellation[len(totals) :]
        failed = [
            (order_id, reason)
            for order_id, reason in zip(ids, statuses, strict=True)
            if reason.get("Code") == "ConditionalCheckFailed"
        ]
        if any(
            is_own_transition(reason.get("Item"), OrderStatus.CONFIRMED, now)
            for _, reason in failed
        ):
            return GroupOutcome(confirmed=ids)  # our own transaction, resent: it took effect
        if failed:
            return GroupOutcome(changed=[order_id for order_id, _ in failed])
        short = [
            sku
            for sku, reason in zip(totals, counters, strict=True)
            if reason.get("Code") == "ConditionalCheckFailed"
        ]
        if short:
            return GroupOutcome(short=short)
        if retry.contended([str(reason.get("Code")) for reason in cancellation]):
            return GroupOutcome(transient=True)
        raise
    return GroupOutcome(confirmed=ids)


def _counter_update(sku: str, quantity: int, direction: int, now: str) -> Any:
    """Moves `quantity` units of `sku` from available to reserved (direction -1) or back
    (+1), on the condition that the side they leave holds them."""
    guarded = "available" if direction < 0 else "reserved"
    return {
        "TableName": get_settings().require("products_table_name"),
        "Key": {"sku": {"S": sku}},
        "UpdateExpression": (
            "SET available = available + :delta, reserved = reserved - :delta, updated_at = :now"
        ),
        "ConditionExpression": f"{guarded} >= :quantity",
        "ExpressionAttributeValues": {
            ":delta": {"N": str(direction * quantity)},
            ":quantity": {"N": str(quantity)},
            ":now": {"S": now},
        },
    }


def release(order: Order, now: str, reason: OrderReason) -> None:
    """CONFIRMED -> CANCELLED, each line's reserved quantity returned to available."""
    try:
        _move_stock(order, OrderStatus.CONFIRMED, OrderStatus.CANCELLED, now, reason, direction=1)
    except InsufficientStockError as error:
        raise StockCountersCorruptError(
            f"order {order.order_id} holds more units than are reserved: {error}"
        ) from error


def _move_stock(
    order: Order,
    expected: OrderStatus,
    target: OrderStatus,
    now: str,
    reason: OrderReason | None,
    direction: int,
) -> None:
    """direction -1 reserves (available -> reserved); +1 releases (reserved -> available)."""
    transaction: list[Any] = [
        {"Update": _counter_update(line.sku, line.quantity, direction, now)} for line in order.items
    ]
    transaction.append(
        {"Update": status_update(order.order_id, expected, target, now, reason)},
    )
    try:
        aws.dynamodb().transact_write_items(
            TransactItems=transaction, ClientRequestToken=str(uuid.uuid4())
        )
    except ClientError as error:
        cause = _cancellation_cause(error, order.items, target, now)
        if cause is None:
            return  # our own transaction, resent after its answer was lost
        if cause is error:
            raise
        raise cause from error


def _cancellation_cause(
    error: ClientError, lines: Sequence[OrderLine], target: OrderStatus, now: str
) -> Exception | None:
    """What a failed transaction means for the caller; None when it had taken effect."""
    failure = retry.failure_of(error)
    if failure is not None:
        return failure
    if aws.error_code(error) != "TransactionCanceledException":
        return error
    # One reason per transaction item, in order: the lines' products, then the order.
    cancellation = error.response.get("CancellationReasons", [])
    reasons = [reason.get("Code", "None") for reason in cancellation]
    if len(reasons) != len(lines) + 1:
        return error
    *line_reasons, order_reason = reasons
    if order_reason == "ConditionalCheckFailed":
        if is_own_transition(cancellation[-1].get("Item"), target, now):
            return None
        return OrderStatusChangedError("the order changed status before the transaction")
    transient = retry.contended(reasons)
    if transient is not None:
        return transient
    short = [
        line.sku
        for line, reason in zip(lines, line_reasons, strict=True)
        if reason == "ConditionalCheckFailed"
    ]
    return InsufficientStockError(short) if short else error
