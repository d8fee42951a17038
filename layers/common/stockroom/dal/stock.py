"""Stock movements: one DynamoDB transaction moves an order's units between `available`
and `reserved` on its products and changes the order's status, all or nothing.

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
from typing import Any

from botocore.exceptions import ClientError

from stockroom import aws
from stockroom.dal.orders import is_own_transition, status_update
from stockroom.models import Order, OrderLine, OrderReason, OrderStatus
from stockroom.retry import TRANSIENT_ERROR_CODES, TransientWriteError
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
    settings = get_settings()
    products_table = settings.require("products_table_name")
    guarded = "available" if direction < 0 else "reserved"
    transaction: list[Any] = [
        {
            "Update": {
                "TableName": products_table,
                "Key": {"sku": {"S": line.sku}},
                "UpdateExpression": (
                    "SET available = available + :delta, reserved = reserved - :delta, "
                    "updated_at = :now"
                ),
                "ConditionExpression": f"{guarded} >= :quantity",
                "ExpressionAttributeValues": {
                    ":delta": {"N": str(direction * line.quantity)},
                    ":quantity": {"N": str(line.quantity)},
                    ":now": {"S": now},
                },
            }
        }
        for line in order.items
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
    code = aws.error_code(error)
    if code in TRANSIENT_ERROR_CODES:
        return TransientWriteError(code)
    if code != "TransactionCanceledException":
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
    transient = [reason for reason in reasons if reason in TRANSIENT_ERROR_CODES]
    if transient:
        return TransientWriteError(", ".join(sorted(set(transient))))
    short = [
        line.sku
        for line, reason in zip(lines, line_reasons, strict=True)
        if reason == "ConditionalCheckFailed"
    ]
    return InsufficientStockError(short) if short else error
