"""Stock movements: one DynamoDB transaction moves an order's units between `available`
and `reserved` on its products and changes the order's status, all or nothing; or, for
a group of orders (`reserve_group`), moves each SKU's units once for all of them and
confirms every one, all or nothing.

A SKU with a per-customer limit also moves the customer's allowance of it
(dal/allowances.py) in the same transaction: taken on condition that it stays within the
limit when an order is confirmed, given back when the order is released. The order
records which SKUs it counted (`limited_skus`), so a release gives back exactly those,
whatever the limits have become since.

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
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from stockroom import aws, retry
from stockroom.dal import allowances
from stockroom.dal.orders import is_own_transition, status_update
from stockroom.models import Order, OrderLine, OrderReason, OrderStatus
from stockroom.settings import get_settings


class OrderStatusChangedError(Exception):
    """The order was no longer in the status the movement expected: someone else
    (a duplicate delivery, the worker, a cancel) decided it first."""

    def __init__(self) -> None:
        super().__init__("the order changed status before the transaction")  # pragma: no mutate


class InsufficientStockError(Exception):
    def __init__(self, skus: list[str]) -> None:
        super().__init__(f"not enough stock for {', '.join(skus)}")  # pragma: no mutate
        self.skus = skus


class LimitExceededError(Exception):
    """Confirming the order would take its customer's units of these SKUs past their
    per-customer limits."""

    def __init__(self, skus: list[str]) -> None:
        super().__init__(f"over the per-customer limit of {', '.join(skus)}")  # pragma: no mutate
        self.skus = skus


class StockCountersCorruptError(RuntimeError):
    """Releasing an order's units found fewer reserved (or counted in its customer's
    allowances) than the order holds."""


# The per-customer limits of SKUs, by SKU (max_per_customer); a SKU absent has none.
type Limits = Mapping[str, int]


def reserve(order: Order, now: str, limits: Limits, hold_expires_at: str | None = None) -> None:
    """PENDING -> CONFIRMED, each line's quantity moved from available to reserved (held
    until `hold_expires_at` if given) and, for a SKU with a limit, added to the
    customer's allowance within that limit. Raises LimitExceededError naming every SKU
    over its limit (whatever the stock), InsufficientStockError naming every short SKU,
    or OrderStatusChangedError."""
    over = [
        line.sku for line in order.items if line.sku in limits and line.quantity > limits[line.sku]
    ]
    if over:
        raise LimitExceededError(over)
    limited = [line for line in order.items if line.sku in limits]
    takes = [
        allowances.take((order.customer_id, line.sku), line.quantity, limits[line.sku])
        for line in limited
    ]
    _move_stock(
        order,
        OrderStatus.PENDING,
        OrderStatus.CONFIRMED,
        now,
        None,
        reserving=True,
        allowance_updates=takes,
        limited_skus=[line.sku for line in limited],
        hold_expires_at=hold_expires_at,
    )


# DynamoDB's limit on the items of one transaction.
MAX_TRANSACTION_ITEMS = 100


@dataclass(frozen=True)
class GroupOutcome:
    """What one group transaction did: confirmed every order, or none of them. Nothing
    confirmed, changed or transient: another transaction moved a counter or an allowance
    the group counted on, and the worker reads them again."""

    confirmed: list[str] = field(default_factory=list)  # its orders, all reserved
    changed: list[str] = field(default_factory=list)  # no longer PENDING: decided elsewhere
    transient: bool = False  # a conflict or throttling: the same group may succeed later


def group_items(orders: Sequence[Order], limited: Collection[str] = ()) -> int:
    """The transaction items a group of `orders` needs: a counter a SKU, an allowance a
    customer and SKU of `limited` (the SKUs with a limit), an order each."""
    lines = [(order.customer_id, line.sku) for order in orders for line in order.items]
    return (
        len({sku for _, sku in lines})
        + len({(customer, sku) for customer, sku in lines if sku in limited})
        + len(orders)
    )


def reserve_group(
    orders: Sequence[Order], now: str, limits: Limits, hold_expires_at: str | None = None
) -> GroupOutcome:
    """PENDING -> CONFIRMED for every order of the group in one transaction, each SKU's
    counter moved once by the units of all of them, and each customer's allowance of a
    SKU with a limit once by the units of their orders (the caller has checked that
    they fit the limit as last read); all or nothing. At most MAX_TRANSACTION_ITEMS
    items (`group_items`). Each order is held until `hold_expires_at`, if given."""
    totals: dict[str, int] = {}
    held: dict[allowances.Key, int] = {}
    for order in orders:
        for line in order.items:
            totals[line.sku] = totals.get(line.sku, 0) + line.quantity
            if line.sku in limits:
                key = (order.customer_id, line.sku)
                held[key] = held.get(key, 0) + line.quantity
    transaction: list[Any] = [
        {"Update": _counter_update(sku, quantity, reserving=True, now=now)}
        for sku, quantity in totals.items()
    ]
    transaction += [
        {"Update": allowances.take(key, quantity, limits[key[1]])} for key, quantity in held.items()
    ]
    transaction += [
        {
            "Update": status_update(
                o.order_id,
                OrderStatus.PENDING,
                OrderStatus.CONFIRMED,
                now,
                None,
                limited_skus=[line.sku for line in o.items if line.sku in limits],
                hold_expires_at=hold_expires_at,
            )
        }
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
        cancellation = error.response.get("CancellationReasons") or []
        code = aws.error_code(error)
        if code != "TransactionCanceledException" or len(cancellation) != len(transaction):
            raise
        moved = cancellation[: len(totals) + len(held)]  # the counters', the allowances'
        statuses = cancellation[len(totals) + len(held) :]
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
        if any(reason.get("Code") == "ConditionalCheckFailed" for reason in moved):
            return GroupOutcome()  # another transaction moved a counter or an allowance
        if retry.contended([str(reason.get("Code")) for reason in cancellation]):
            return GroupOutcome(transient=True)
        raise
    return GroupOutcome(confirmed=ids)


def _counter_update(sku: str, quantity: int, reserving: bool, now: str) -> Any:
    """Moves `quantity` units of `sku` from available to reserved (reserving) or back, on
    the condition that the side they leave holds them."""
    guarded, delta = ("available", -quantity) if reserving else ("reserved", quantity)
    return {
        "TableName": get_settings().require("products_table_name"),
        "Key": {"sku": {"S": sku}},
        "UpdateExpression": (
            "SET available = available + :delta, reserved = reserved - :delta, updated_at = :now"
        ),
        "ConditionExpression": f"{guarded} >= :quantity",
        "ExpressionAttributeValues": {
            ":delta": {"N": str(delta)},
            ":quantity": {"N": str(quantity)},
            ":now": {"S": now},
        },
    }


def release(
    order: Order,
    now: str,
    reason: OrderReason,
    target: OrderStatus = OrderStatus.CANCELLED,
) -> None:
    """CONFIRMED -> CANCELLED (or EXPIRED, a hold run out), each line's reserved quantity
    returned to available and, for each SKU the order counted against its customer's
    allowance, to the allowance: once, in one transaction with the status change."""
    limited = set(order.limited_skus or [])
    counted = [line for line in order.items if line.sku in limited]
    try:
        _move_stock(
            order,
            OrderStatus.CONFIRMED,
            target,
            now,
            reason,
            reserving=False,
            allowance_updates=[
                allowances.give_back((order.customer_id, line.sku), line.quantity)
                for line in counted
            ],
            limited_skus=[line.sku for line in counted],
        )
    except (InsufficientStockError, LimitExceededError) as error:
        raise StockCountersCorruptError(
            f"order {order.order_id} holds more units than are reserved or counted: {error}"
        ) from error


def _move_stock(
    order: Order,
    expected: OrderStatus,
    target: OrderStatus,
    now: str,
    reason: OrderReason | None,
    reserving: bool,
    allowance_updates: Sequence[Any],
    limited_skus: list[str],
    hold_expires_at: str | None = None,
) -> None:
    """Reserves (available -> reserved) or releases (reserved -> available) the order's units.
    `allowance_updates` move the customer's allowances of `limited_skus`, in that order;
    a reservation stores `limited_skus` on the order."""
    transaction: list[Any] = [
        {"Update": _counter_update(line.sku, line.quantity, reserving, now)} for line in order.items
    ]
    transaction += [{"Update": update} for update in allowance_updates]
    stored = limited_skus if reserving else None
    transaction.append(
        {
            "Update": status_update(
                order.order_id,
                expected,
                target,
                now,
                reason,
                limited_skus=stored,
                hold_expires_at=hold_expires_at,
            )
        },
    )
    try:
        aws.dynamodb().transact_write_items(
            TransactItems=transaction, ClientRequestToken=str(uuid.uuid4())
        )
    except ClientError as error:
        cause = _cancellation_cause(error, order.items, limited_skus, target, now)
        if cause is None:
            return  # our own transaction, resent after its answer was lost
        if cause is error:
            raise
        raise cause from error


def _cancellation_cause(
    error: ClientError,
    lines: Sequence[OrderLine],
    limited_skus: Sequence[str],
    target: OrderStatus,
    now: str,
) -> Exception | None:
    """What a failed transaction means for the caller; None when it had taken effect.
    A limit passed outranks a SKU short of stock."""
    failure = retry.failure_of(error)
    if failure is not None:
        return failure
    if aws.error_code(error) != "TransactionCanceledException":
        return error
    # One reason per transaction item, in order: the lines' products, the allowances,
    # then the order.
    cancellation = error.response.get("CancellationReasons") or []
    reasons = [str(reason.get("Code")) for reason in cancellation]
    if len(reasons) != len(lines) + len(limited_skus) + 1:
        return error
    line_reasons = reasons[: len(lines)]
    allowance_reasons = reasons[len(lines) : -1]
    order_reason = reasons[-1]
    if order_reason == "ConditionalCheckFailed":
        if is_own_transition(cancellation[-1].get("Item"), target, now):
            return None
        return OrderStatusChangedError()
    transient = retry.contended(reasons)
    if transient is not None:
        return transient
    over = _failed_conditions(limited_skus, allowance_reasons)
    if over:
        return LimitExceededError(over)
    short = _failed_conditions([line.sku for line in lines], line_reasons)
    return InsufficientStockError(short) if short else error


def _failed_conditions[K](keys: Iterable[K], codes: Iterable[str]) -> list[K]:
    """The keys whose transaction item (its cancellation reason code beside it) failed
    its condition."""
    return [key for key, code in zip(keys, codes, strict=True) if code == "ConditionalCheckFailed"]
