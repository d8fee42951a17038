"""Property: over any sequence of place / deliver / duplicate delivery / batch / cancel,
by two customers under per-customer limits, stock adds up (available + reserved ==
on_hand, reserved == units of CONFIRMED orders), no customer holds more units of a SKU
than its limit, each allowance holds exactly its customer's units, and each order's
status is what a simple model of the rules predicts."""

import uuid

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

import order_worker
import order_worker_sqs
from orders import cancel_order
from stockroom.dal import orders as orders_table
from stockroom.dal import products as products_table
from stockroom.errors import ConflictError, InvalidRequestError
from stockroom.identity import Caller
from stockroom.models import HOLDING_STATUSES, Order, OrderStatus
from support.catalog_data import add_product
from support.context import FakeLambdaContext
from support.orders import allowance, message_for, place, sqs_event

SKU_COUNT = 3
CUSTOMERS = ("alice", "bob")


class StockMachine(RuleBasedStateMachine):
    orders = Bundle("orders")

    @initialize(
        stock=st.lists(st.integers(0, 6), min_size=SKU_COUNT, max_size=SKU_COUNT),
        limits=st.lists(st.none() | st.integers(1, 5), min_size=SKU_COUNT, max_size=SKU_COUNT),
    )
    def catalog(self, stock: list[int], limits: list[int | None]) -> None:
        # Fresh SKUs per example: examples share one moto stack and never see each other.
        prefix = uuid.uuid4().hex[:8]
        self.skus = [f"P{prefix}-{n}" for n in range(SKU_COUNT)]
        self.on_hand = dict(zip(self.skus, stock, strict=True))
        self.limits = dict(zip(self.skus, limits, strict=True))
        self.available = dict(self.on_hand)
        # Units of each limited SKU each customer's orders hold, as the model sees them.
        self.held = {(c, sku): 0 for c in CUSTOMERS for sku in self.skus if self.limits[sku]}
        self.expected: dict[str, OrderStatus] = {}
        self.placed: dict[str, Order] = {}
        for sku, units in self.on_hand.items():
            add_product(sku, on_hand=units, max_per_customer=self.limits[sku])

    @rule(
        target=orders,
        customer=st.sampled_from(CUSTOMERS),
        lines=st.dictionaries(st.integers(0, SKU_COUNT - 1), st.integers(1, 4), min_size=1),
    )
    def place_order(self, customer: str, lines: dict[int, int]) -> object:
        quantities = {self.skus[index]: quantity for index, quantity in lines.items()}
        over = [sku for sku, q in quantities.items() if q > (self.limits[sku] or q)]
        try:
            order = place(customer, quantities)
        except InvalidRequestError as refused:
            assert over and refused.code == "LIMIT_EXCEEDED"
            return multiple()
        assert not over
        self.placed[order.order_id] = order
        self.expected[order.order_id] = OrderStatus.PENDING
        return order.order_id

    @rule(order_id=orders)
    def deliver(self, order_id: str) -> None:
        """A delivery or, for a decided order, a duplicate delivery."""
        decision = order_worker.decide_order(order_id)
        if self.expected[order_id] is not OrderStatus.PENDING:
            assert decision is order_worker.Decision.SKIPPED
            return
        order = self.placed[order_id]
        over = [
            line.sku
            for line in order.items
            if (limit := self.limits[line.sku])
            and self.held[order.customer_id, line.sku] + line.quantity > limit
        ]
        short = [line.sku for line in order.items if self.available[line.sku] < line.quantity]
        if over or short:
            assert decision is order_worker.Decision.REJECTED
            self.expected[order_id] = OrderStatus.REJECTED
            reason = self._stored(order_id).reason
            assert reason is not None
            expected = ("LIMIT_EXCEEDED", over) if over else ("OUT_OF_STOCK", short)
            assert (reason.code, reason.skus) == expected
        else:
            assert decision is order_worker.Decision.CONFIRMED
            self.expected[order_id] = OrderStatus.CONFIRMED
            self._hold(order, 1)

    @rule(order_ids=st.lists(orders, min_size=1, max_size=6))
    def deliver_batch(self, order_ids: list[str]) -> None:
        """The handler decides a batch concurrently (duplicates included): which of
        competing orders wins is not ours to predict, only that each move is legal."""
        event = sqs_event(*map(message_for, order_ids))
        response = order_worker_sqs.handler(event, FakeLambdaContext())
        assert response["batchItemFailures"] == []
        for order_id in set(order_ids):
            before, now = self.expected[order_id], self._stored_status(order_id)
            if before is OrderStatus.PENDING:
                assert now in (OrderStatus.CONFIRMED, OrderStatus.REJECTED)
                if now is OrderStatus.CONFIRMED:
                    self._hold(self.placed[order_id], 1)
            else:
                assert now is before
            self.expected[order_id] = now

    @rule(order_id=orders)
    def cancel(self, order_id: str) -> None:
        before = self.expected[order_id]
        owner = Caller(customer_id=self.placed[order_id].customer_id)
        try:
            cancelled = cancel_order(owner, order_id)
        except ConflictError:
            assert before in (OrderStatus.REJECTED, OrderStatus.CANCELLED)
            return
        assert before in (OrderStatus.PENDING, OrderStatus.CONFIRMED)
        assert cancelled.status is OrderStatus.CANCELLED
        if before is OrderStatus.CONFIRMED:
            self._hold(self.placed[order_id], -1)
        self.expected[order_id] = OrderStatus.CANCELLED

    def _hold(self, order: Order, direction: int) -> None:
        """The order's units taken from available and held (1), or given back (-1)."""
        for line in order.items:
            self.available[line.sku] -= direction * line.quantity
            if self.limits[line.sku]:
                self.held[order.customer_id, line.sku] += direction * line.quantity

    @invariant()
    def statuses_are_as_modelled(self) -> None:
        for order_id, status in self.expected.items():
            assert self._stored_status(order_id) is status, order_id

    @invariant()
    def stock_adds_up(self) -> None:
        reserved = dict.fromkeys(self.on_hand, 0)
        for order_id, status in self.expected.items():
            if status is OrderStatus.CONFIRMED:
                for line in self.placed[order_id].items:
                    reserved[line.sku] += line.quantity
        for sku in getattr(self, "skus", []):
            product = products_table.get_product(sku)
            assert product is not None
            assert product.on_hand == self.on_hand[sku]
            assert product.available + product.reserved == product.on_hand
            assert (product.available, product.reserved) == (self.available[sku], reserved[sku])

    @invariant()
    def no_customer_holds_more_than_a_limit(self) -> None:
        holding: dict[tuple[str, str], int] = dict.fromkeys(self.held, 0)
        for order_id, status in self.expected.items():
            order = self.placed[order_id]
            if status in HOLDING_STATUSES:
                for line in order.items:
                    if self.limits[line.sku]:
                        holding[order.customer_id, line.sku] += line.quantity
        for (customer, sku), units in holding.items():
            limit = self.limits[sku]
            assert limit is not None and units <= limit, (customer, sku, units)
            assert units == self.held[customer, sku] == allowance(customer, sku)

    def _stored(self, order_id: str) -> Order:
        stored = orders_table.get_order(order_id)
        assert stored is not None
        return stored

    def _stored_status(self, order_id: str) -> OrderStatus:
        return self._stored(order_id).status


def test_stock_invariant_holds_over_random_histories(stack):
    run_state_machine_as_test(
        StockMachine,
        settings=settings(max_examples=30, stateful_step_count=15, deadline=None),
    )
