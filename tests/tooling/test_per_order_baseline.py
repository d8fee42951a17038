"""The per-order worker the benchmarks measure group commit against
(bench/per_order_worker.py): each record decided alone, one transaction an order, with the
product's promises, so that the comparison is of like with like."""

from bench import per_order_worker
from stockroom.models import OrderStatus
from support.catalog_data import add_product
from support.orders import (
    assert_stock_adds_up,
    dynamodb_failures,
    message_for,
    place,
    sqs_event,
    status_of,
)
from support.worker import (
    DECISION_METRICS,
    conflicts_once,
    metric_totals,
    mixed_batch,
    reported,
)


def failed_ids(event, lambda_context) -> list[str]:
    return reported(per_order_worker.handler, event, lambda_context)


def test_each_order_takes_a_transaction_of_its_own(transactions, lambda_context):
    add_product("HOT", on_hand=5)
    orders = [place(f"c{n}", {"HOT": 1}) for n in range(4)]

    assert failed_ids(sqs_event(*map(message_for, orders)), lambda_context) == []

    assert len(transactions) == 4
    assert {status_of(o) for o in orders} == {OrderStatus.CONFIRMED}
    assert_stock_adds_up("HOT")


def test_a_mixed_batch_reports_exactly_the_records_that_failed(stack, lambda_context):
    batch = mixed_batch()

    with dynamodb_failures(batch.always_conflict) as injected:
        assert failed_ids(batch.event, lambda_context) == batch.failing_ids()

    assert len(injected) == 5  # the contended order was tried five times, then reported
    batch.assert_decided()


def test_its_decisions_are_emitted_as_metrics(stack, lambda_context, capsys):
    add_product("SKU-A", on_hand=1)
    confirmed = place("alice", {"SKU-A": 1})
    rejected = place("bob", {"SKU-A": 1})
    failed_ids(sqs_event(message_for(confirmed)), lambda_context)
    capsys.readouterr()

    with dynamodb_failures(conflicts_once(rejected)):
        failed_ids(sqs_event(message_for(confirmed), message_for(rejected)), lambda_context)

    assert metric_totals(capsys.readouterr().out, *DECISION_METRICS) == {
        "OrdersConfirmed": 0,
        "OrdersRejected": 1,
        "DuplicatesSkipped": 1,
        "ConflictsRetried": 1,
    }
    assert_stock_adds_up("SKU-A")
