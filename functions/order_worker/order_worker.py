"""The order worker's decision: reserve a PENDING order's stock and confirm it (held
until `hold_expires_at` when HoldMinutes is above 0), or reject it as out of stock or
over a per-customer limit. Exactly one effect per order however often it is delivered.
`decide_orders` decides a batch together, a transaction for many orders (group commit);
`decide_order` decides one order in a transaction of its own, for the orders grouping
did not settle."""

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from enum import StrEnum

from stockroom import retry
from stockroom.dal import allowances, stock
from stockroom.dal import orders as orders_table
from stockroom.dal import products as products_table
from stockroom.errors import RetryLaterError
from stockroom.models import Order, OrderReason, OrderStatus, Product, timestamp_of, utc_now
from stockroom.observability import count, logger, measure
from stockroom.retry import with_retries
from stockroom.settings import get_settings

# Reason codes of a REJECTED order.
OUT_OF_STOCK = "OUT_OF_STOCK"
LIMIT_EXCEEDED = "LIMIT_EXCEEDED"


class Decision(StrEnum):
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"
    # Already decided (a duplicate delivery) or cancelled first: nothing to do.
    SKIPPED = "SKIPPED"


class UnknownOrderError(LookupError):
    """A message names an order that does not exist: it can never succeed."""


def decide_order(order_id: str) -> Decision:
    """Confirms the order with its stock reserved (and its customer's allowances taken,
    for SKUs with a limit) in one transaction, or rejects it with the SKUs over their
    limit or, within every limit, those that lacked stock, and reserves nothing.
    RetryLaterError when contention outlasts the retries; nothing is half-applied in
    any case."""
    order = orders_table.get_order(order_id)
    if order is None:
        raise UnknownOrderError(f"no order with id {order_id!r}")
    if order.status is not OrderStatus.PENDING:
        return _skipped(order_id, order.status)
    # One timestamp for every attempt: it is how a resent write recognises its own effect.
    now = utc_now()
    skus = [line.sku for line in order.items]
    limits = _limits(products_table.get_products(skus, consistent=True).values())
    try:
        with_retries(
            lambda: stock.reserve(order, now, limits, hold_expiry(now)),
            f"reserve order {order_id}",
        )
    except stock.OrderStatusChangedError:
        return _skipped(order_id, "changed while reserving")
    except stock.LimitExceededError as over:
        return _reject(order_id, OrderReason(code=LIMIT_EXCEEDED, skus=over.skus))
    except stock.InsufficientStockError as short:
        return _reject(order_id, OrderReason(code=OUT_OF_STOCK, skus=short.skus))
    count("OrdersConfirmed")
    logger.info("order confirmed", order_id=order_id)
    return Decision.CONFIRMED


def hold_expiry(confirmed_at: str) -> str | None:
    """When an order confirmed at `confirmed_at` stops holding its units unless paid:
    HoldMinutes later, or None with HoldMinutes 0 (held until cancelled)."""
    minutes = get_settings().hold_minutes
    if not minutes:
        return None
    return timestamp_of(datetime.fromisoformat(confirmed_at) + timedelta(minutes=minutes))


def _limits(products: Iterable[Product]) -> stock.Limits:
    """The per-customer limits of `products`, by SKU, for those that have one."""
    return {p.sku: p.max_per_customer for p in products if p.max_per_customer is not None}


def _reject(order_id: str, reason: OrderReason, rejected_at: str | None = None) -> Decision:
    """PENDING -> REJECTED with the reason and its SKUs; nothing was reserved.
    `rejected_at` is that of an earlier attempt, if any: it is how this write recognises
    that attempt's effect."""
    at = rejected_at or utc_now()
    rejected = with_retries(
        lambda: orders_table.set_status(
            order_id, OrderStatus.PENDING, OrderStatus.REJECTED, at, reason
        ),
        f"reject order {order_id}",
    )
    if not rejected:
        return _skipped(order_id, "changed while rejecting")
    return _rejected_as(order_id, reason)


def _rejected_as(order_id: str, reason: OrderReason) -> Decision:
    count("OrdersRejected")
    logger.info("order rejected", order_id=order_id, reason=reason.code, skus=reason.skus)
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

    The orders are read in one request, the counters of their SKUs in another, and the
    customers' allowances of SKUs with a limit in a third. In queue order, an order
    that would take its customer past a limit is to be rejected with those SKUs
    (LIMIT_EXCEEDED, whatever the stock); otherwise one that fits what is left of every
    SKU is allotted its units, and one that does not is to be rejected with the SKUs
    that lacked them (OUT_OF_STOCK): an order is never rejected for a SKU while a later
    one is confirmed with as many units of it. The allotted orders are confirmed in
    groups of one transaction each (a counter a SKU and an allowance a customer's
    limited SKU for the whole group, a status update an order, up to 100 items). When a
    group is cancelled (an order decided elsewhere, a counter or an allowance moved by
    another batch, a conflict), the rest is read and allotted again; after a few
    rounds, what is left is decided one order at a time."""
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
        allotted, rejections, limits = _allot(undecided)
        try:
            again = _confirm_in_groups(allotted, limits, now, outcomes)
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


def _allot(
    queue: Sequence[Order],
) -> tuple[list[Order], dict[str, OrderReason], stock.Limits]:
    """The orders that fit the counters and allowances as they stand, in queue order;
    why each other one is to be rejected; and the limits read."""
    skus = list(dict.fromkeys(line.sku for order in queue for line in order.items))
    products = products_table.get_products(skus, consistent=True)
    left = {sku: p.available for sku, p in products.items()}
    limits = _limits(products.values())
    held = allowances.held(
        (order.customer_id, line.sku)
        for order in queue
        for line in order.items
        if line.sku in limits
    )
    allotted: list[Order] = []
    rejections: dict[str, OrderReason] = {}
    for order in queue:
        customer = order.customer_id
        over = [
            line.sku
            for line in order.items
            if line.sku in limits and held[customer, line.sku] + line.quantity > limits[line.sku]
        ]
        if over:
            rejections[order.order_id] = OrderReason(code=LIMIT_EXCEEDED, skus=over)
            continue
        short = [line.sku for line in order.items if left.get(line.sku, 0) < line.quantity]
        if short:
            rejections[order.order_id] = OrderReason(code=OUT_OF_STOCK, skus=short)
            continue
        for line in order.items:
            left[line.sku] -= line.quantity
            if line.sku in limits:
                held[customer, line.sku] += line.quantity
        allotted.append(order)
    return allotted, rejections, limits


def _groups(orders: Sequence[Order], limits: stock.Limits) -> list[list[Order]]:
    """Consecutive orders packed into transactions of at most MAX_TRANSACTION_ITEMS."""
    groups: list[list[Order]] = []
    for order in orders:
        if (
            groups
            and stock.group_items([*groups[-1], order], limits) <= stock.MAX_TRANSACTION_ITEMS
        ):
            groups[-1].append(order)
        else:
            groups.append([order])
    return groups


def _confirm_in_groups(
    allotted: Sequence[Order], limits: stock.Limits, now: str, outcomes: dict[str, Outcome]
) -> set[str]:
    """Confirms the groups in queue order, until one is cancelled; the ids to allot again
    (that group's undecided orders and every later group's)."""
    groups = _groups(allotted, limits)
    for position, group in enumerate(groups):
        measure("WorkerGroupSize", len(group))
        result = stock.reserve_group(group, now, limits, hold_expiry(now))
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


def _reject_all(rejections: dict[str, OrderReason], outcomes: dict[str, Outcome]) -> None:
    """REJECTED for each order with its reason: a transaction for up to 100 of them (a
    request for many: the worker's CPU in a sale went to a request a rejected order);
    those a transaction did not move, one by one, side by side (independent items). A
    transaction throttled past botocore's retries leaves its orders PENDING, each with
    that RetryLaterError: their messages come back later."""
    rejected_at = utc_now()
    left = dict(rejections)
    pending = list(rejections.items())
    for start in range(0, len(pending), stock.MAX_TRANSACTION_ITEMS):
        chunk = dict(pending[start : start + stock.MAX_TRANSACTION_ITEMS])
        if len(chunk) < 2:
            break
        try:
            moved = orders_table.set_statuses(
                chunk, OrderStatus.PENDING, OrderStatus.REJECTED, rejected_at
            )
        except RetryLaterError as error:  # one by one would meet the same throttling
            for order_id in chunk:
                outcomes[order_id] = error
                del left[order_id]
            continue
        except Exception:  # decided one by one below, each error its own
            logger.exception("rejecting orders together failed; rejecting one by one")
            moved = False
        if moved:
            for order_id, reason in chunk.items():
                outcomes[order_id] = _rejected_as(order_id, reason)
                del left[order_id]
    if not left:
        return
    with ThreadPoolExecutor(min(_REJECT_CONCURRENCY, len(left))) as pool:
        decided = pool.map(lambda item: _rejected(item[0], item[1], rejected_at), left.items())
        for order_id, outcome in zip(left, decided, strict=True):
            outcomes[order_id] = outcome


def _rejected(order_id: str, reason: OrderReason, rejected_at: str) -> Outcome:
    try:
        return _reject(order_id, reason, rejected_at)
    except Exception as error:  # reported for this order alone: its message comes back
        return error


def _decided_alone(order_id: str) -> Outcome:
    try:
        return decide_order(order_id)
    except Exception as error:
        return error
