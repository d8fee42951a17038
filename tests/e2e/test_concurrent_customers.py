"""Customers at random, side by side, through the API, the bucket and the payment webhook
with real concurrency: orders (some sent twice with the same Idempotency-Key, as a client
retrying would; some with a line over its SKU's per-customer limit), payments (some
delivered twice, some of a wrong amount, some racing a cancel of their order), cancels
and restock imports. However they interleave: the stock adds up with the units of
CONFIRMED and PAID orders; no customer holds more than a limit, and each allowance counts
what its customer's orders hold; no order stays PENDING; a retried request never doubles
an order; each payment event has one effect however often it came, and one that lost its
race or was of the wrong amount is due a refund, once; nothing is a 5xx."""

import json
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from devtools.pay import SIGNATURE_HEADER, payment_for, signature_header
from e2e.test_journeys import put_product, request, wait_for_report
from support.targets import Target

# Customers of its own, each with a token, and the webhook's secret: the local stack's.
pytestmark = pytest.mark.local_only

CLIENTS = 16
SECONDS = 15
SKUS = 4
LIMITS = (2, 3)  # the first SKUs' max_per_customer; the others have none
HOLDING = {"CONFIRMED", "PAID"}
# The local stack holds units with HoldMinutes 0: nothing expires.
SETTLED = {"CONFIRMED", "PAID", "CANCELLED", "REJECTED"}
# The refund reason of a payment of the right amount that found its order so.
LOST_RACE = {"CANCELLED": "ORDER_CANCELLED", "REJECTED": "ORDER_REJECTED", "PAID": "ALREADY_PAID"}
RESTOCK_HEADER = b"sku,name,unit_price_cents,currency,on_hand,max_per_customer\n"


@dataclass
class Traffic:
    """What the customers sent and were answered, gathered across their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: Counter[tuple[str, int, str]] = field(default_factory=Counter)  # kind, status, code
    placed: dict[str, str] = field(default_factory=dict)  # idempotency key -> order id
    payments: dict[str, tuple[str, bool]] = field(default_factory=dict)  # event -> order, right?
    receipts: list[tuple[str, str]] = field(default_factory=list)  # event id, outcome
    cancelled: set[str] = field(default_factory=set)  # orders a cancel answered 200 for
    restocks: list[str] = field(default_factory=list)

    def answer(self, kind: str, status: int, body: Any) -> None:
        code = ""  # an error's code, or a payment receipt's outcome
        if isinstance(body, dict):
            code = str(body.get("outcome") or body.get("error", {}).get("code", ""))
        with self.lock:
            self.answers[kind, status, code] += 1

    def kinds(self, kind: str) -> set[tuple[int, str]]:
        return {(status, code) for k, status, code in self.answers if k == kind}


def skus_of(target: Target) -> list[str]:
    return [f"E2E-RANDOM-{n}-{target.run_id}" for n in range(SKUS)]


def _at_once(*calls: Callable[[], None]) -> None:
    with ThreadPoolExecutor(len(calls)) as pool:
        for outcome in [pool.submit(call) for call in calls]:
            outcome.result()


class Customer:
    """One customer's requests, one at a time (but for a payment racing a cancel, or
    delivered twice at once), with a token of their own."""

    def __init__(self, target: Target, name: str, limits: dict[str, int], traffic: Traffic):
        self.target, self.api, self.traffic = target, target.api, traffic
        self.token, self.rng = target.token_for(name), random.Random(name)
        self.skus = skus_of(target)
        self.limits = limits  # by SKU, for those that have one
        self.mine: list[dict[str, Any]] = []  # orders as placed

    def shop_until(self, deadline: float) -> None:
        rng = self.rng
        while time.monotonic() < deadline:
            roll = rng.random()
            if roll < 0.5 or not self.mine:
                self.place_over_limit() if rng.random() < 0.1 else self.place()
            elif roll < 0.7:
                self.pay(rng.choice(self.mine))
            elif roll < 0.78:  # the payment and a cancel of its order race
                order = rng.choice(self.mine)
                _at_once(self.payment(order), partial(self.cancel, order))
            elif roll < 0.93:
                self.cancel(rng.choice(self.mine))
            else:
                self.restock()

    def place(self) -> None:
        rng = self.rng
        lines = rng.sample(self.skus, rng.randint(1, 2))
        body = {
            "items": [
                {"sku": sku, "quantity": rng.randint(1, self.limits.get(sku, 3))} for sku in lines
            ]
        }
        key = uuid.uuid4().hex
        for _ in range(2 if rng.random() < 0.3 else 1):  # a client retrying
            status, _, order = request(
                f"{self.api}/orders", "POST", body, self.token, {"Idempotency-Key": key}
            )
            self.traffic.answer("order", status, order)
            if status == 202:
                order_id = order["order_id"]
                with self.traffic.lock:
                    first = key not in self.traffic.placed
                    assert self.traffic.placed.setdefault(key, order_id) == order_id
                if first:
                    self.mine.append(order)

    def place_over_limit(self) -> None:
        sku = self.rng.choice(list(self.limits))
        body = {"items": [{"sku": sku, "quantity": self.limits[sku] + self.rng.randint(1, 2)}]}
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        status, _, answer = request(f"{self.api}/orders", "POST", body, self.token, headers)
        self.traffic.answer("over limit", status, answer)

    def pay(self, order: dict[str, Any]) -> None:
        self.payment(order)()

    def payment(self, order: dict[str, Any]) -> Callable[[], None]:
        """A payment of the order (about 1 in 7 of a wrong amount), delivered once, or twice:
        one delivery after the other or both at once."""
        rng = self.rng
        right = rng.random() >= 0.15
        event = payment_for(order, None if right else order["total_cents"] + 1)
        with self.traffic.lock:
            self.traffic.payments[event["id"]] = (order["order_id"], right)
        twice, together = rng.random() < 0.3, rng.random() < 0.5

        def deliver() -> None:
            if twice and together:
                _at_once(lambda: self.deliver(event), lambda: self.deliver(event))
            else:
                for _ in range(2 if twice else 1):
                    self.deliver(event)

        return deliver

    def deliver(self, event: dict[str, Any]) -> None:
        secret = self.target.outputs["PaymentWebhookSecret"]
        # request() sends json.dumps(event): the very bytes signed here.
        headers = {SIGNATURE_HEADER: signature_header(secret, json.dumps(event).encode())}
        status, _, answer = request(f"{self.api}/payments/webhook", "POST", event, None, headers)
        self.traffic.answer("payment", status, answer)
        if status == 200:
            with self.traffic.lock:
                self.traffic.receipts.append((event["id"], answer["outcome"]))

    def cancel(self, order: dict[str, Any]) -> None:
        order_id = order["order_id"]
        status, _, answer = request(
            f"{self.api}/orders/{order_id}/cancel", "POST", token=self.token
        )
        self.traffic.answer("cancel", status, answer)
        if status == 200:
            with self.traffic.lock:
                self.traffic.cancelled.add(order_id)

    def restock(self) -> None:
        sku = self.rng.choice(self.skus)
        key = f"imports/e2e/random restock {uuid.uuid4().hex}.csv"
        # The limit stays: a row without one would lift it.
        row = f"{sku},Product {sku},1299,EUR,{self.rng.randint(10, 40)},{self.limits.get(sku, '')}"
        self.target.client("s3").put_object(
            Bucket=self.target.outputs["ImportBucketName"],
            Key=key,
            Body=RESTOCK_HEADER + row.encode() + b"\n",
        )
        with self.traffic.lock:
            self.traffic.restocks.append(key)


def _scan(target: Target, output: str) -> list[dict[str, Any]]:
    """Every item of the table named by the stack's `output`, as plain Python values."""
    pages = (
        target.client("dynamodb").get_paginator("scan").paginate(TableName=target.outputs[output])
    )
    plain = TypeDeserializer().deserialize
    return [
        {name: plain(value) for name, value in item.items()}
        for page in pages
        for item in page["Items"]
    ]


def _settled_orders(target: Target, customers: set[str]) -> dict[str, dict[str, Any]]:
    """The customers' orders by id, once none is PENDING (or after 60 s)."""
    settle_by = time.monotonic() + 60
    while True:
        orders = {
            item["order_id"]: item
            for item in _scan(target, "OrdersTableName")
            if item["customer_id"] in customers
        }
        pending = [order for order in orders.values() if order["status"] == "PENDING"]
        if not pending or time.monotonic() > settle_by:
            break
        time.sleep(0.5)
    assert not pending, f"{len(pending)} orders still PENDING"
    return orders


def test_random_concurrent_customers_leave_stock_limits_and_payments_exact(target):
    skus = skus_of(target)
    limits = dict(zip(skus, LIMITS, strict=False))
    for sku in skus:
        put_product(target, sku, on_hand=20, max_per_customer=limits.get(sku))
    names = [f"random-{n}-{target.run_id}" for n in range(CLIENTS)]
    traffic = Traffic()
    customers = [Customer(target, name, limits, traffic) for name in names]
    deadline = time.monotonic() + SECONDS

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        for outcome in [pool.submit(c.shop_until, deadline) for c in customers]:
            outcome.result()  # re-raises a connection error or a failed assertion

    answers = traffic.answers
    assert len(traffic.placed) >= 30, answers  # enough traffic to interleave
    assert not [answer for answer in answers if answer[1] >= 500], answers
    assert traffic.kinds("order") <= {(202, ""), (409, "SOLD_OUT")}, answers
    assert traffic.kinds("over limit") == {(422, "LIMIT_EXCEEDED")}, answers
    # 409: rejected, cancelled or paid already.
    assert traffic.kinds("cancel") <= {(200, ""), (409, "ORDER_NOT_CANCELLABLE")}, answers
    # Each outcome seen; 409: the order still PENDING, for the provider to send again.
    outcomes = {(200, "PAID"), (200, "REFUND_DUE"), (200, "ALREADY_RECORDED")}
    assert outcomes <= traffic.kinds("payment") <= outcomes | {(409, "ORDER_NOT_DECIDED")}
    for key in traffic.restocks:  # every restock imported (or refused below the reserved units)
        assert wait_for_report(target, key)["status"] in ("SUCCEEDED", "PARTIAL")

    orders = _settled_orders(target, set(names))
    assert {order["status"] for order in orders.values()} <= SETTLED
    # One order per idempotency key however often it was sent.
    assert sorted(orders) == sorted(traffic.placed.values())
    _assert_stock_adds_up(target, skus, orders)
    _assert_limits_kept(target, set(names), limits, orders)
    _assert_payments_applied_once(traffic, orders)


def _assert_stock_adds_up(target: Target, skus: list[str], orders: dict[str, Any]) -> None:
    """available + reserved == on_hand, nothing negative, and reserved is exactly the
    units of the CONFIRMED and PAID orders."""
    held: Counter[str] = Counter()
    for order in orders.values():
        if order["status"] in HOLDING:
            for line in order["items"]:
                held[line["sku"]] += int(line["quantity"])
    for sku in skus:
        product = target.client("dynamodb").get_item(
            TableName=target.outputs["ProductsTableName"],
            Key={"sku": {"S": sku}},
            ConsistentRead=True,
        )["Item"]
        on_hand, available, reserved = (
            int(product[name]["N"]) for name in ("on_hand", "available", "reserved")
        )
        assert available + reserved == on_hand, (sku, product)
        assert available >= 0 and reserved >= 0, (sku, product)
        assert reserved == held[sku], (sku, product, held[sku])


def _assert_limits_kept(
    target: Target, customers: set[str], limits: dict[str, int], orders: dict[str, Any]
) -> None:
    """No customer's CONFIRMED and PAID orders hold more of a SKU than its limit, and each
    allowance holds exactly their units (the limits never changed)."""
    counted: Counter[tuple[str, str]] = Counter()
    for order in orders.values():
        if order["status"] in HOLDING:
            for line in order["items"]:
                if line["sku"] in limits:
                    counted[order["customer_id"], line["sku"]] += int(line["quantity"])
    over = {key: units for key, units in counted.items() if units > limits[key[1]]}
    assert not over, over
    stored = {
        (item["customer_id"], item["sku"]): int(item["units"])
        for item in _scan(target, "AllowancesTableName")
        if item["customer_id"] in customers and item["sku"] in limits and item["units"]
    }
    assert stored == dict(counted)


def _assert_payments_applied_once(traffic: Traffic, orders: dict[str, Any]) -> None:
    """Each payment event answered had one effect (PAID or REFUND_DUE), however often
    and however close together it was delivered; an order is PAID by a payment of its
    total, and any other payment it received is recorded once as due a refund, for a
    reason its final status (or a wrong amount) gives; a cancelled order stayed so."""
    applied: defaultdict[str, set[str]] = defaultdict(set)  # order id -> event ids
    effects: Counter[str] = Counter()
    for event_id, outcome in traffic.receipts:
        applied[traffic.payments[event_id][0]].add(event_id)
        if outcome != "ALREADY_RECORDED":
            effects[event_id] += 1
    assert set(effects) == {event_id for event_id, _ in traffic.receipts}
    assert set(effects.values()) == {1}, effects
    for event_id, outcome in traffic.receipts:
        if outcome == "PAID":
            assert orders[traffic.payments[event_id][0]]["payment_id"] == event_id
    for order_id in traffic.cancelled:
        assert orders[order_id]["status"] == "CANCELLED", orders[order_id]
    for order_id, order in orders.items():
        refunds = order.get("refunds_due", [])
        refunded = [refund["payment_id"] for refund in refunds]
        paid_by = order.get("payment_id")
        assert len(refunded) == len(set(refunded)), order  # each recorded once
        assert order.get("payment_events", set()) == applied[order_id], order
        assert set(refunded) | ({paid_by} - {None}) == applied[order_id], order
        assert paid_by not in refunded, order
        if order["status"] == "PAID":
            assert traffic.payments[paid_by] == (order_id, True), order
        else:
            assert paid_by is None, order
        lost = LOST_RACE.get(order["status"])
        for refund in refunds:
            right = traffic.payments[refund["payment_id"]][1]
            assert refund["reason"] in ({lost} if right else {lost, "AMOUNT_MISMATCH"}), order
