"""A sale's traffic all at once against DynamoDB Local (which serves requests side by
side), with real threads: customers placing orders on three SKUs with per-customer
limits (now and then a line over a limit, or two orders at once that only fit one at a
time), two workers deciding them in batches or one by one (some orders delivered to
both), payers (some events delivered twice, some of a wrong amount), cancellers, two
hold expiry runs at once with a clock a minute ahead (holds run out mid-traffic) and a
merchant restocking. Whatever the interleaving: the stock adds up with the units of
CONFIRMED and PAID orders, no customer holds more than a limit and each allowance counts
what their orders hold, every order is settled by one of them, and each payment event has
one effect: a payment that lost its race or was of the wrong amount is due a refund, once,
and never pays or revives its order."""

import queue
import random
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

import hold_expiry
import order_worker
import payment_webhook
from orders import cancel_order
from stockroom.dal import products as products_table
from stockroom.errors import ConflictError, InvalidRequestError
from stockroom.identity import Caller
from stockroom.models import (
    HOLDING_STATUSES,
    CatalogEntry,
    Order,
    OrderStatus,
    PaymentEvent,
    PaymentOutcome,
    RefundReason,
    utc_now,
)
from support.catalog_data import add_product
from support.orders import all_orders, assert_allowances_add_up, assert_stock_adds_up, place

# The traffic runs this long, and on (at most to the cap) until every race happened.
SECONDS, CAP_SECONDS = 3.0, 8.0
# SKU: (units on hand at first, max_per_customer, unit price in cents)
SKUS = {"HOT": (30, 2, 100), "WARM": (20, 3, 250), "RARE": (8, 1, 400)}
CUSTOMERS = 12
PLACERS, DECIDERS, PAYERS, CANCELLERS, EXPIRERS = 3, 2, 3, 2, 2
# The refund reason of a payment of the right amount that found its order so.
LOST_RACE = {
    OrderStatus.EXPIRED: RefundReason.ORDER_EXPIRED,
    OrderStatus.CANCELLED: RefundReason.ORDER_CANCELLED,
    OrderStatus.REJECTED: RefundReason.ORDER_REJECTED,
    OrderStatus.PAID: RefundReason.ALREADY_PAID,
}


@dataclass
class Sale:
    """What every thread did, gathered under one lock."""

    deadline: float
    cap: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    placed: list[Order] = field(default_factory=list)
    by_id: dict[str, Order] = field(default_factory=dict)
    # Each worker's: a queue's messages go to one of its pollers.
    inboxes: list[queue.Queue[str]] = field(
        default_factory=lambda: [queue.Queue() for _ in range(DECIDERS)]
    )
    placing_done: threading.Event = field(default_factory=threading.Event)
    decisions: list[tuple[str, order_worker.Outcome]] = field(default_factory=list)
    confirmed: list[Order] = field(default_factory=list)  # by a worker, as placed
    unpaid: list[Order] = field(default_factory=list)  # confirmed, not yet paid late
    # Two expiry runs start together each time, as overlapping scheduled invocations.
    expiry_round: threading.Barrier = field(
        default_factory=lambda: threading.Barrier(EXPIRERS, timeout=5)
    )
    payments: dict[str, tuple[str, bool]] = field(default_factory=dict)  # event -> order, right?
    again: deque[PaymentEvent] = field(default_factory=deque)  # to deliver once more
    receipts: list[tuple[str, PaymentOutcome]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)

    def running(self) -> bool:
        now = time.monotonic()
        return now < self.deadline or (now < self.cap and not self.raced())

    def raced(self) -> bool:
        """Orders paid, expired and cancelled, an event delivered again, and payments of
        the right amount too late for an order expired and one cancelled."""
        with self.lock:
            late = {
                self.payments[event_id][0]
                for event_id, outcome in self.receipts
                if outcome is PaymentOutcome.REFUND_DUE and self.payments[event_id][1]
            }
            outcomes = {outcome for _, outcome in self.receipts}
            return (
                outcomes == set(PaymentOutcome)
                and bool(late & set(self.expired))
                and bool(late & set(self.cancelled))
            )

    def placed_now(self, orders: list[Order], inboxes: list[queue.Queue[str]]) -> None:
        with self.lock:
            self.placed += orders
            self.by_id.update((order.order_id, order) for order in orders)
        for order, inbox in zip(orders, inboxes, strict=True):
            inbox.put(order.order_id)

    def any_order(self, rng: random.Random) -> Order | None:
        with self.lock:
            return rng.choice(self.placed) if self.placed else None


def place_orders(sale: Sale, rng: random.Random) -> None:
    """Orders of one or two lines, each to one worker's inbox at random; now and then a
    pair for a new customer, each of more than half the limit, one to each worker (one
    fits, if stock allows); now and then a line alone over its limit (refused at once)."""
    while sale.running():
        customer = f"c{rng.randrange(CUSTOMERS)}"
        skus = rng.sample(list(SKUS), rng.randint(1, 2))
        roll = rng.random()
        if roll < 0.1:
            limit = SKUS[skus[0]][1]
            with pytest.raises(InvalidRequestError) as refused:
                place(customer, {skus[0]: limit + 1})
            assert refused.value.code == "LIMIT_EXCEEDED"
        elif roll < 0.35:
            sku, customer = skus[0], f"pair-{rng.getrandbits(32):08x}"
            pair = [place(customer, {sku: SKUS[sku][1] // 2 + 1}) for _ in range(DECIDERS)]
            sale.placed_now(pair, sale.inboxes)
        else:
            order = place(customer, {sku: rng.randint(1, SKUS[sku][1]) for sku in skus})
            sale.placed_now([order], [rng.choice(sale.inboxes)])


def decide(sale: Sale, rng: random.Random, inbox: queue.Queue[str]) -> None:
    """Batches of what its inbox holds, as a queue delivers them to one of the workers;
    now and then with orders placed lately again (a duplicate delivery, maybe racing the
    other worker's). Decided together, or now and then one order at a time, as the
    worker decides what grouping did not settle: a limit then rests on the allowance's
    condition alone."""
    while not (sale.placing_done.is_set() and inbox.empty()):
        batch: list[str] = []
        try:
            while len(batch) < 20:
                batch.append(inbox.get(timeout=0.02))
        except queue.Empty:
            pass
        with sale.lock:
            recent = [order.order_id for order in sale.placed[-30:]]
        if recent and rng.random() < 0.3:
            batch += rng.sample(recent, min(3, len(recent)))
        if batch:
            if rng.random() < 0.4:
                outcomes = {i: _decided_alone(i) for i in dict.fromkeys(batch)}
            else:
                outcomes = order_worker.decide_orders(batch)
            with sale.lock:
                sale.decisions += outcomes.items()
                confirmed = [
                    sale.by_id[order_id]
                    for order_id, outcome in outcomes.items()
                    if outcome is order_worker.Decision.CONFIRMED
                ]
                sale.confirmed += confirmed
                sale.unpaid += confirmed


def _decided_alone(order_id: str) -> order_worker.Outcome:
    try:
        return order_worker.decide_order(order_id)
    except Exception as error:  # reported, as decide_orders reports it
        return error


def pay(sale: Sale, rng: random.Random) -> None:
    while sale.running():
        event = _next_payment(sale, rng)
        if event is None:
            time.sleep(0.01)
            continue
        try:
            outcome = payment_webhook.receive_payment(event).outcome
        except ConflictError as error:  # still PENDING: the provider sends it again
            assert error.code == "ORDER_NOT_DECIDED"
            with sale.lock:
                sale.again.append(event)
            continue
        with sale.lock:
            sale.receipts.append((event.id, outcome))
            if rng.random() < 0.3:
                sale.again.append(event)


def _next_payment(sale: Sale, rng: random.Random) -> PaymentEvent | None:
    """One to deliver again, or a new one (1 in 7 of a wrong amount) for an order just
    placed (at checkout) or confirmed a while ago."""
    with sale.lock:
        if sale.again and rng.random() < 0.5:
            return sale.again.popleft()
        order: Order | None = None
        if sale.unpaid and rng.random() < 0.5:  # each paid once so, late
            order = sale.unpaid.pop(rng.randrange(len(sale.unpaid)))
        elif sale.placed:
            order = rng.choice(sale.placed[-10:])
        if order is None:
            return None
        right = rng.random() >= 0.15
        event = PaymentEvent(
            id=f"evt_{rng.getrandbits(64):016x}",
            type="payment.succeeded",
            order_id=order.order_id,
            amount_cents=order.total_cents + (0 if right else 1),
            currency=order.currency,
        )
        sale.payments[event.id] = (order.order_id, right)
        return event


def cancel(sale: Sale, rng: random.Random) -> None:
    """Any order, or one of those confirmed lately (racing its payment or expiry)."""
    while sale.running():
        with sale.lock:
            recent = sale.confirmed[-10:]
        order = rng.choice(recent) if recent and rng.random() < 0.5 else sale.any_order(rng)
        if order is None:
            time.sleep(0.01)
            continue
        time.sleep(rng.uniform(0.05, 0.15))
        try:
            cancel_order(Caller(customer_id=order.customer_id), order.order_id)
        except ConflictError:
            continue  # rejected, paid, expired or cancelled first
        with sale.lock:
            sale.cancelled.append(order.order_id)


def expire(sale: Sale, rng: random.Random) -> None:
    """Runs at random moments, each with a clock 58 to 61 s ahead: the holds confirmed
    more than 2 s to -1 s ago (every hold, at times) are due."""
    try:
        while sale.running():
            time.sleep(rng.uniform(0.2, 0.6))
            sale.expiry_round.wait()  # the other run starts now too
            ahead = datetime.now(UTC) + timedelta(seconds=rng.uniform(58, 61))
            expired = hold_expiry.expire_due_holds(ahead)
            with sale.lock:
                sale.expired += expired
    except threading.BrokenBarrierError:
        pass  # the other run stopped: the sale is over
    finally:
        sale.expiry_round.abort()


def restock(sale: Sale, rng: random.Random) -> None:
    while sale.running():
        time.sleep(rng.uniform(0.05, 0.2))
        sku = rng.choice(list(SKUS))
        on_hand, limit, price = SKUS[sku]
        entry = CatalogEntry(
            sku=sku,
            name=f"Product {sku}",
            unit_price_cents=price,
            currency="EUR",
            on_hand=rng.randint(on_hand // 2, on_hand * 2),
            max_per_customer=limit,  # kept: an entry without one would lift it
        )
        try:
            products_table.apply_catalog_entry(entry, utc_now())
        except products_table.ReservedExceedsOnHandError:
            continue  # fewer than the units held: refused, the product unchanged


def test_a_sale_racing_limits_payments_expiries_and_cancels_stays_exact(held_tables):
    for sku, (on_hand, limit, price) in SKUS.items():
        add_product(sku, on_hand=on_hand, price=price, max_per_customer=limit)
    started = time.monotonic()
    sale = Sale(deadline=started + SECONDS, cap=started + CAP_SECONDS)
    roles: list[Callable[[Sale, random.Random], None]] = [
        *[place_orders] * PLACERS,  # first: the workers decide until they are done
        *[partial(decide, inbox=inbox) for inbox in sale.inboxes],
        *[pay] * PAYERS,
        *[cancel] * CANCELLERS,
        *[expire] * EXPIRERS,
        restock,
    ]
    start = threading.Barrier(len(roles))

    def run(role: Callable[[Sale, random.Random], None], seed: int) -> None:
        start.wait()
        role(sale, random.Random(seed))

    with ThreadPoolExecutor(len(roles)) as pool:
        running = [pool.submit(run, role, seed) for seed, role in enumerate(roles)]
        try:
            for future in running[:PLACERS]:
                future.result()
        finally:
            sale.placing_done.set()
        for future in running[PLACERS:]:
            future.result()

    errors = [outcome for _, outcome in sale.decisions if isinstance(outcome, Exception)]
    assert errors == []
    orders = {order.order_id: order for order in all_orders()}
    assert sorted(orders) == sorted(order.order_id for order in sale.placed)
    statuses = Counter(order.status for order in orders.values())
    assert OrderStatus.PENDING not in statuses
    # Traffic enough for every race (it ran on until they had happened, up to its cap).
    assert sale.raced(), Counter(outcome for _, outcome in sale.receipts)
    ended = {OrderStatus.PAID, OrderStatus.EXPIRED, OrderStatus.CANCELLED, OrderStatus.REJECTED}
    assert ended <= set(statuses), statuses

    assert_stock_adds_up(*SKUS)
    assert_allowances_add_up()
    _assert_within_limits(orders)
    _assert_settled_once(sale, orders)
    _assert_payments_applied_once(sale, orders)


def _assert_within_limits(orders: dict[str, Order]) -> None:
    """Each customer's CONFIRMED and PAID orders hold at most a limit of each SKU (every
    SKU has one, and it never changed), and some order was rejected for it."""
    held: Counter[tuple[str, str]] = Counter()
    for order in orders.values():
        if order.status in HOLDING_STATUSES:
            for line in order.items:
                held[order.customer_id, line.sku] += line.quantity
    over = {key: units for key, units in held.items() if units > SKUS[key[1]][1]}
    assert not over, over
    assert any(
        order.reason is not None and order.reason.code == "LIMIT_EXCEEDED"
        for order in orders.values()
    )


def _assert_settled_once(sale: Sale, orders: dict[str, Order]) -> None:
    """Each order decided once however often it was delivered, and then settled once:
    expired by one run, cancelled by one customer or paid by one payment, as its status
    says; and out of the Holds index unless still CONFIRMED."""
    effects = Counter(
        order_id
        for order_id, outcome in sale.decisions
        if outcome in (order_worker.Decision.CONFIRMED, order_worker.Decision.REJECTED)
    )
    assert set(effects.values()) <= {1}, effects
    assert len(sale.expired) == len(set(sale.expired))
    assert len(sale.cancelled) == len(set(sale.cancelled))
    paid = [sale.payments[e][0] for e, outcome in sale.receipts if outcome is PaymentOutcome.PAID]
    assert len(paid) == len(set(paid))
    ended = {OrderStatus.EXPIRED: sale.expired, OrderStatus.PAID: paid}
    for status, ids in ended.items():
        assert set(ids) == {i for i, order in orders.items() if order.status is status}, status
    # Cancelled: by a customer, before or after it was decided.
    cancelled = {i for i, order in orders.items() if order.status is OrderStatus.CANCELLED}
    assert set(sale.cancelled) == cancelled
    for order_id, order in orders.items():
        if order.status is not OrderStatus.CANCELLED:
            assert effects[order_id] == 1, order  # decided by a worker
        if order.status is not OrderStatus.CONFIRMED:
            assert order.hold_expires_at is None, order


def _assert_payments_applied_once(sale: Sale, orders: dict[str, Order]) -> None:
    """Each event that reached an order had one effect (PAID or REFUND_DUE) however
    often it was delivered; an order is PAID by a payment of its total, and any other it
    received is due a refund, once, for a reason its status (or a wrong amount) gives."""
    applied: defaultdict[str, set[str]] = defaultdict(set)
    effects: Counter[str] = Counter()
    for event_id, outcome in sale.receipts:
        applied[sale.payments[event_id][0]].add(event_id)
        if outcome is not PaymentOutcome.ALREADY_RECORDED:
            effects[event_id] += 1
    assert set(effects) == {event_id for event_id, _ in sale.receipts}
    assert set(effects.values()) == {1}, effects
    for order_id, order in orders.items():
        refunded = [refund.payment_id for refund in order.refunds_due]
        assert len(refunded) == len(set(refunded)), order  # each recorded once
        paid_by = {order.payment_id} - {None}
        assert set(refunded) | paid_by == applied[order_id], order
        assert not paid_by & set(refunded), order
        if order.status is OrderStatus.PAID:
            assert order.payment_id is not None
            assert sale.payments[order.payment_id] == (order_id, True), order
        else:
            assert not paid_by, order
        lost = LOST_RACE.get(order.status)
        for refund in order.refunds_due:
            right = sale.payments[refund.payment_id][1]
            assert refund.reason in ({lost} if right else {lost, RefundReason.AMOUNT_MISMATCH})
