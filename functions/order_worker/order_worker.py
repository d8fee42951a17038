"""The order worker's decision: reserve a PENDING order's stock and confirm it, or
reject it as out of stock. Exactly one effect per order however often it is delivered.
`decide_orders` decides a batch together, a transaction for many orders (group commit);
`decide_order` decides one order in a transaction of its own, for the orders grouping
did not settle."""

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum

from stockroom import retry
from stockroom.dal import orders as orders_table
from stockroom.dal import products as products_table
from stockroom.dal import stock
from stockroom.errors import RetryLaterError
from stockroom.models import Order, OrderReason, OrderStatus, utc_now
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
        return _reject(order_id, short.skus)
    count("OrdersConfirmed")
    logger.info("order confirmed", order_id=order_id)
    return Decision.CONFIRMED


def _reject(order_id: str, skus: list[str]) -> Decision:
    """PENDING -> REJECTED, naming the SKUs that lacked stock; nothing was reserved."""
    reason = OrderReason(code="OUT_OF_STOCK", skus=skus)
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
    logger.info("order rejected", order_id=order_id, out_of_stock=skus)
    return Decision.REJECTED


def _skipped(order_id: str, status: str) -> Decision:
    count("DuplicatesSkipped")
    logger.info("order already decided; message skipped", order_id=order_id, status=status)
    return Decision.SKIPPED


# ------------------------------------------------------------------- group commit
# Rounds of re-reading the counters and regrouping what is left, before the orders still
# undecided are decided one by one.
_GROUP_ROUNDS = 5
_REJECT_CONCURRENCY = 8

type Outcome = Decision | Exception


def decide_orders(order_ids: Sequence[str]) -> dict[str, Outcome]:
    """Decides a batch of orders together, by order id: each one CONFIRMED, REJECTED or
    SKIPPED as `decide_order` would, or the exception deciding it raised. An order
    named twice is decided once.

    The orders are read in one request and the counters of their SKUs in another. In
    queue order, an order that fits what is left of every SKU is allotted its units, one
    that does not is to be rejected with the SKUs that lacked them: an order is never
    rejected for a SKU while a later one is confirmed with as many units of it. The
    allotted orders are confirmed in groups of one transaction each (a counter a SKU
    for the whole group, a status update an order, up to 100 items). When a group is
    cancelled (an order decided elsewhere, a counter moved by another batch, a conflict),
    the rest is read and allotted again; after a few rounds, what is left is decided
    one order at a time."""
    outcomes: dict[str, Outcome] = {}
    unique = list(dict.fromkeys(order_ids))
    found = orders_table.get_orders(unique)
    queue: list[Order] = []
    for order_id in unique:
        order = found.get(order_id)
        if order is None:
            outcomes[order_id] = UnknownOrderError(f"no order with id {order_id!r}")
        elif order.status is not OrderStatus.PENDING:
            outcomes[order_id] = _skipped(order_id, order.status)
        else:
            queue.append(order)
    now = utc_now()  # one timestamp for every attempt, as in decide_order
    undecided = queue
    for round_number in range(_GROUP_ROUNDS):
        if round_number:
            retry.pause(round_number)  # racers apart
        allotted, rejections = _allot(undecided)
        try:
            again = _confirm_in_groups(allotted, now, outcomes)
        except RetryLaterError as error:  # throttled past botocore's retries: later, all
            for order in undecided:
                outcomes.setdefault(order.order_id, error)
            return outcomes
        if not again:
            _reject_all(rejections, outcomes)
            return outcomes
        # Orders to reject are allotted again with the rest: the counters may have moved
        # either way since they were read.
        undecided = [o for o in undecided if o.order_id in again or o.order_id in rejections]
    for order in undecided:  # grouping did not settle them: one transaction each
        outcomes[order.order_id] = _decided_alone(order.order_id)
    return outcomes


def _allot(queue: Sequence[Order]) -> tuple[list[Order], dict[str, list[str]]]:
    """The orders that fit the counters as they stand, in queue order, and the SKUs
    each other one lacked."""
    skus = list(dict.fromkeys(line.sku for order in queue for line in order.items))
    left = {
        sku: p.available for sku, p in products_table.get_products(skus, consistent=True).items()
    }
    allotted: list[Order] = []
    lacking: dict[str, list[str]] = {}
    for order in queue:
        short = [line.sku for line in order.items if left.get(line.sku, 0) < line.quantity]
        if short:
            lacking[order.order_id] = short
            continue
        for line in order.items:
            left[line.sku] -= line.quantity
        allotted.append(order)
    return allotted, lacking


def _groups(orders: Sequence[Order]) -> list[list[Order]]:
    """Consecutive orders packed into transactions of at most MAX_TRANSACTION_ITEMS."""
    groups: list[list[Order]] = []
    for order in orders:
        if groups and stock.group_items([*groups[-1], order]) <= stock.MAX_TRANSACTION_ITEMS:
            groups[-1].append(order)
        else:
            groups.append([order])
    return groups


def _confirm_in_groups(
    allotted: Sequence[Order], now: str, outcomes: dict[str, Outcome]
) -> set[str]:
    """Confirms the groups in queue order, until one is cancelled; the ids to allot again
    (that group's undecided orders and every later group's)."""
    groups = _groups(allotted)
    for position, group in enumerate(groups):
        result = stock.reserve_group(group, now)
        for order_id in result.confirmed:
            outcomes[order_id] = Decision.CONFIRMED
            count("OrdersConfirmed")
            logger.info("order confirmed", order_id=order_id)
        for order_id in result.changed:
            outcomes[order_id] = _skipped(order_id, "changed while reserving")
        if result.confirmed:
            continue
        if result.transient:
            count("ConflictsRetried")
        later = [order for rest in groups[position:] for order in rest]
        return {order.order_id for order in later if order.order_id not in outcomes}
    return set()


def _reject_all(rejections: dict[str, list[str]], outcomes: dict[str, Outcome]) -> None:
    """REJECTED for each order with the SKUs it lacked, side by side (independent items)."""
    if not rejections:
        return
    with ThreadPoolExecutor(min(_REJECT_CONCURRENCY, len(rejections))) as pool:
        decided = pool.map(lambda item: _rejected(*item), rejections.items())
        for order_id, outcome in zip(rejections, decided, strict=True):
            outcomes[order_id] = outcome


def _rejected(order_id: str, skus: list[str]) -> Outcome:
    try:
        return _reject(order_id, skus)
    except Exception as error:  # reported for this order alone: its message comes back
        return error


def _decided_alone(order_id: str) -> Outcome:
    try:
        return decide_order(order_id)
    except Exception as error:
        return error
