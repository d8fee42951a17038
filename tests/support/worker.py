"""What the order worker's tests (and its per-order baseline's) share: a batch that mixes
every way a record can fail, and the metrics an invocation emitted."""

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from stockroom.models import Order, OrderStatus
from support.catalog_data import add_product
from support.orders import (
    assert_stock_adds_up,
    cancelled_transaction,
    message_for,
    names_order,
    place,
    sqs_event,
    status_of,
)


@dataclass
class MixedBatch:
    """An order that fits, one short of stock, three unreadable records (not JSON, no
    order id, an unknown order) and an order whose transactions always meet a conflict."""

    event: dict[str, Any]
    good: Order
    short: Order
    contended: Order

    def always_conflict(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """For dynamodb_failures: every transaction naming the contended order conflicts."""
        if names_order(body, self.contended):
            return cancelled_transaction(body, "TransactionConflict")
        return None

    def failing_ids(self) -> list[str]:
        """The records to report: the unreadable ones and the contended order's."""
        return sorted(record["messageId"] for record in self.event["Records"][2:])

    def assert_decided(self) -> None:
        assert status_of(self.good) is OrderStatus.CONFIRMED
        assert status_of(self.short) is OrderStatus.REJECTED
        assert status_of(self.contended) is OrderStatus.PENDING
        assert_stock_adds_up("SKU-A", "SKU-SCARCE")


def mixed_batch() -> MixedBatch:
    add_product("SKU-A", on_hand=10)
    add_product("SKU-SCARCE", on_hand=1)
    good = place("alice", {"SKU-A": 1})
    short = place("bob", {"SKU-SCARCE": 2})
    contended = place("carol", {"SKU-A": 1})
    event = sqs_event(
        message_for(good),
        message_for(short),
        "this is not JSON",
        {"order": "missing the order_id field"},
        message_for("no-such-order"),
        message_for(contended),
    )
    return MixedBatch(event, good, short, contended)


def conflicts_once(order: Order) -> Any:
    """For dynamodb_failures: the first transaction naming `order` meets a conflict."""
    remaining = [1]

    def once(body: dict[str, Any]) -> dict[str, Any] | None:
        if remaining[0] and names_order(body, order):
            remaining[0] -= 1
            return cancelled_transaction(body, "TransactionConflict")
        return None

    return once


DECISION_METRICS = ("OrdersConfirmed", "OrdersRejected", "DuplicatesSkipped", "ConflictsRetried")


def reported(handler: Any, event: dict[str, Any], context: Any) -> list[str]:
    """The message ids a worker's handler reported as batch item failures, sorted."""
    response = handler(event, context)
    return sorted(failure["itemIdentifier"] for failure in response["batchItemFailures"])


def metric_totals(output: str, *names: str) -> dict[str, float]:
    """Each metric's total over the EMF lines in `output` (a value is one number, or a
    list when the metric was added several times in one flush)."""
    blobs = [json.loads(line) for line in output.splitlines() if "_aws" in line]
    totals = dict.fromkeys(names, 0.0)
    for blob in blobs:
        for name in names:
            value = blob.get(name, 0)
            totals[name] += sum(value) if isinstance(value, list) else value
    return totals


class LogLines:
    """The worker's `logger.info` lines, as (message, fields), for a test to read."""

    def __init__(self, monkeypatch: Any) -> None:
        from stockroom.observability import logger

        self.lines: list[tuple[str, dict[str, Any]]] = []
        monkeypatch.setattr(
            logger, "info", lambda message, **fields: self.lines.append((message, fields))
        )

    def about(self, message: str) -> list[dict[str, Any]]:
        """The fields of every line that said `message`."""
        return [fields for said, fields in self.lines if said == message]


@contextmanager
def first_sent(operation: str, meanwhile: Callable[[], object]) -> Iterator[None]:
    """`meanwhile` done once, just before the first DynamoDB `operation` request is sent
    (so after the reads that precede it)."""
    from stockroom import aws as stockroom_aws

    done: list[bool] = []

    def first_time(**_: Any) -> None:
        if not done:  # `meanwhile` may send requests of its own: once only
            done.append(True)
            meanwhile()

    events = stockroom_aws.dynamodb().meta.events
    events.register(f"before-call.dynamodb.{operation}", first_time)
    try:
        yield
    finally:
        events.unregister(f"before-call.dynamodb.{operation}", first_time)
