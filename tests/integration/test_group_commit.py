"""Group commit: a batch's orders decided together, a transaction holding each SKU's
counter once for many orders. Every promise of deciding an order alone holds:
all lines or none, never oversold, one effect per order, cancels and changed counters
handled; and within a batch, an order is never rejected for a SKU while a later order is
confirmed with as many units of it."""

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import order_worker
import order_worker_sqs
from order_worker import Decision
from orders import cancel_order, get_order
from stockroom import aws as stockroom_aws
from stockroom.dal import products as products_table
from stockroom.dal.stock import MAX_TRANSACTION_ITEMS
from stockroom.errors import RetryLaterError
from stockroom.identity import Caller
from stockroom.models import Order, OrderStatus
from stockroom.observability import metrics
from support.catalog_data import add_product
from support.examples import examples
from support.lost_answers import answers_lost
from support.orders import (
    allowance,
    assert_allowances_add_up,
    assert_stock_adds_up,
    cancelled_transaction,
    dynamodb_failures,
    dynamodb_refusals,
    message_for,
    place,
    sqs_event,
    status_of,
    stored_pending_order,
)
from support.worker import LogLines, first_sent, metric_totals


def test_a_hot_skus_batch_is_reserved_in_one_transaction_in_queue_order(stack, transactions):
    add_product("HOT", on_hand=6)
    orders = [place(f"c{n}", {"HOT": 1}) for n in range(10)]

    outcomes = order_worker.decide_orders([o.order_id for o in orders])

    assert [outcomes[o.order_id] for o in orders] == [Decision.CONFIRMED] * 6 + [
        Decision.REJECTED
    ] * 4
    # One transaction reserves for the six, one rejects the four.
    transaction, rejecting = transactions
    counters = [item for item in transaction if "sku" in item["Update"]["Key"]]
    assert len(counters) == 1  # the SKU's counter once, for the six orders
    assert counters[0]["Update"]["ExpressionAttributeValues"][":quantity"] == {"N": "6"}
    assert [item["Update"]["Key"]["order_id"]["S"] for item in rejecting] == [
        o.order_id for o in orders[6:]
    ]
    assert {status_of(o) for o in orders[6:]} == {OrderStatus.REJECTED}
    product = products_table.get_product("HOT")
    assert product is not None and (product.available, product.reserved) == (0, 6)
    assert_stock_adds_up("HOT")


def test_a_group_never_holds_more_than_a_transactions_items(stack, transactions):
    add_product("HOT", on_hand=500)
    orders = [place(f"c{n}", {"HOT": 1}) for n in range(150)]

    outcomes = order_worker.decide_orders([o.order_id for o in orders])

    assert set(outcomes.values()) == {Decision.CONFIRMED}
    assert [len(t) for t in transactions] == [MAX_TRANSACTION_ITEMS, 150 - 99 + 1]
    assert_stock_adds_up("HOT")


def test_an_order_of_several_lines_is_confirmed_whole_or_rejected_whole(stack):
    add_product("A", on_hand=2)
    add_product("B", on_hand=1)
    first = place("c1", {"A": 1, "B": 1})
    second = place("c2", {"A": 1, "B": 1})  # B is gone: nothing of A is reserved for it
    third = place("c3", {"A": 1})

    outcomes = order_worker.decide_orders([first.order_id, second.order_id, third.order_id])

    assert outcomes == {
        first.order_id: Decision.CONFIRMED,
        second.order_id: Decision.REJECTED,
        third.order_id: Decision.CONFIRMED,
    }
    rejected = get_order(Caller(customer_id="c2"), second.order_id)
    assert rejected.reason is not None and rejected.reason.skus == ["B"]
    assert_stock_adds_up("A", "B")


def test_an_order_cancelled_before_its_groups_transaction_is_left_out(stack, monkeypatch):
    add_product("HOT", on_hand=3)
    orders = [place(f"c{n}", {"HOT": 1}) for n in range(3)]
    log = LogLines(monkeypatch)

    # The customer cancels between the worker's read and its write.
    outcomes = _decided_after(
        lambda: cancel_order(Caller(customer_id="c0"), orders[0].order_id), orders
    )

    assert [outcomes[o.order_id] for o in orders] == [
        Decision.SKIPPED,
        Decision.CONFIRMED,
        Decision.CONFIRMED,
    ]
    assert status_of(orders[0]) is OrderStatus.CANCELLED
    assert log.about("order already decided; message skipped") == [
        {"order_id": orders[0].order_id, "status": "changed while reserving"}
    ]
    product = products_table.get_product("HOT")
    assert product is not None and (product.available, product.reserved) == (1, 2)
    assert_stock_adds_up("HOT")


def test_a_counter_moved_by_another_batch_is_read_again_and_nothing_is_oversold(stack):
    add_product("HOT", on_hand=4)
    ours = [place(f"c{n}", {"HOT": 1}) for n in range(4)]
    theirs = place("other", {"HOT": 3})
    raced: list[Decision] = []

    # Another worker confirms its order between our read and our write.
    outcomes = _decided_after(
        lambda: raced.append(order_worker.decide_order(theirs.order_id)), ours
    )

    assert raced == [Decision.CONFIRMED]
    assert [outcomes[o.order_id] for o in ours] == [Decision.CONFIRMED] + [Decision.REJECTED] * 3
    assert_stock_adds_up("HOT")


def _decided_after(meanwhile: Callable[[], object], orders: list[Order]) -> dict[str, Any]:
    """The orders decided as a batch, `meanwhile` done once just before the batch's first
    transaction is sent (after its reads)."""
    with first_sent("TransactWriteItems", meanwhile):
        return order_worker.decide_orders([o.order_id for o in orders])


def test_a_conflicted_group_is_sent_again(stack, transactions):
    add_product("HOT", on_hand=5)
    orders = [place(f"c{n}", {"HOT": 1}) for n in range(5)]

    def conflict_once(body: dict[str, Any]) -> dict[str, Any] | None:
        return cancelled_transaction(body, "TransactionConflict") if not injected else None

    with dynamodb_failures(conflict_once) as injected:
        outcomes = order_worker.decide_orders([o.order_id for o in orders])

    assert len(injected) == 1
    assert set(outcomes.values()) == {Decision.CONFIRMED}
    assert_stock_adds_up("HOT")


def test_a_group_refused_as_conflicting_is_sent_again_and_counted(stack, capsys):
    add_product("HOT", on_hand=5)
    orders = [place(f"c{n}", {"HOT": 1}) for n in range(5)]
    metrics.clear_metrics()  # what earlier steps counted outside a handler
    capsys.readouterr()
    refusals = [1]

    def once(_: dict[str, Any]) -> str | None:
        if refusals and refusals.pop():
            return "TransactionConflictException"  # an error, not a cancellation
        return None

    with dynamodb_refusals(once, "TransactWriteItems") as refused:
        outcomes = order_worker.decide_orders([o.order_id for o in orders])
    metrics.flush_metrics()

    assert len(refused) == 1
    assert set(outcomes.values()) == {Decision.CONFIRMED}
    assert metric_totals(capsys.readouterr().out, "ConflictsRetried") == {"ConflictsRetried": 1}
    assert_stock_adds_up("HOT")


def test_a_group_throttled_past_botocores_retries_is_left_for_the_queue_to_redeliver(stack):
    add_product("HOT", on_hand=5)
    orders = [place(f"c{n}", {"HOT": 1}) for n in range(8)]

    with dynamodb_refusals(lambda _: "ThrottlingException", "TransactWriteItems") as sent:
        outcomes = order_worker.decide_orders([o.order_id for o in orders])

    # botocore's attempts of the first group, then no more rounds: every order later.
    assert len(sent) == stockroom_aws.BOTOCORE_ATTEMPTS
    assert all(isinstance(outcomes[o.order_id], RetryLaterError) for o in orders)
    assert {status_of(o) for o in orders} == {OrderStatus.PENDING}
    assert_stock_adds_up("HOT")
    product = products_table.get_product("HOT")
    assert product is not None and product.reserved == 0


def test_an_unknown_order_fails_alone_and_a_repeated_one_is_decided_once(stack, lambda_context):
    add_product("HOT", on_hand=5)
    order = place("c1", {"HOT": 2})
    event = sqs_event(message_for(order), message_for("no-such-order"), message_for(order), "{")

    response = order_worker_sqs.handler(event, lambda_context)

    ids = [record["messageId"] for record in event["Records"]]
    assert response["batchItemFailures"] == [
        {"itemIdentifier": ids[1]},
        {"itemIdentifier": ids[3]},
    ]
    assert status_of(order) is OrderStatus.CONFIRMED
    product = products_table.get_product("HOT")
    assert product is not None and product.reserved == 2
    assert_stock_adds_up("HOT")


def test_an_unknown_orders_failure_names_it_alone_and_in_a_batch(stack):
    add_product("HOT", on_hand=5)
    order = place("c1", {"HOT": 1})
    said = "no order with id 'no-such-order'"  # what the failed record's log line says

    outcomes = order_worker.decide_orders([order.order_id, "no-such-order"])

    assert isinstance(outcomes["no-such-order"], order_worker.UnknownOrderError)
    assert str(outcomes["no-such-order"]) == said
    with pytest.raises(order_worker.UnknownOrderError) as alone:
        order_worker.decide_order("no-such-order")
    assert str(alone.value) == said


# ---------------------------------------------------------------- per-customer limits
def reason_of(order: Order) -> tuple[str, list[str] | None] | None:
    stored = get_order(Caller(customer_id=order.customer_id), order.order_id)
    return (stored.reason.code, stored.reason.skus) if stored.reason else None


def test_an_order_for_a_sku_gone_from_the_catalog_is_rejected_without_a_group_try(
    stack, transactions
):
    add_product("HOT", on_hand=5)
    gone = stored_pending_order("c0", "GONE")  # its product deleted since it was placed
    kept = place("c1", {"HOT": 1})

    outcomes = order_worker.decide_orders([gone.order_id, kept.order_id])

    assert outcomes == {gone.order_id: Decision.REJECTED, kept.order_id: Decision.CONFIRMED}
    assert reason_of(gone) == ("OUT_OF_STOCK", ["GONE"])
    assert [len(items) for items in transactions] == [2]  # one group: HOT's counter, kept
    assert_stock_adds_up("HOT")


def test_a_customers_orders_in_one_group_take_one_allowance_item_up_to_the_limit(
    stack, transactions
):
    add_product("HOT", on_hand=20, max_per_customer=3)
    add_product("FREE", on_hand=20)
    alices = [place("alice", {"HOT": 1, "FREE": 5}) for _ in range(4)]
    bobs = place("bob", {"HOT": 3})

    outcomes = order_worker.decide_orders([o.order_id for o in [*alices, bobs]])

    assert [outcomes[o.order_id] for o in [*alices, bobs]] == [Decision.CONFIRMED] * 3 + [
        Decision.REJECTED,
        Decision.CONFIRMED,
    ]
    assert reason_of(alices[3]) == ("LIMIT_EXCEEDED", ["HOT"])
    (transaction,) = transactions
    taken = [
        (item["Update"]["Key"]["customer_id"]["S"], item["Update"]["Key"]["sku"]["S"])
        for item in transaction
        if "customer_id" in item["Update"]["Key"]
    ]
    assert taken == [("alice", "HOT"), ("bob", "HOT")]  # once each; none for FREE
    assert len(transaction) == 2 + 2 + 4  # two counters, two allowances, four orders
    assert (allowance("alice", "HOT"), allowance("bob", "HOT")) == (3, 3)
    assert_stock_adds_up("HOT", "FREE")
    assert_allowances_add_up()


def test_the_limit_counts_units_already_held_and_outranks_a_lack_of_stock(stack):
    add_product("HOT", on_hand=3, max_per_customer=2)
    held = place("alice", {"HOT": 2})
    assert order_worker.decide_order(held.order_id) is Decision.CONFIRMED
    over_and_short = place("alice", {"HOT": 2})  # 2 more for alice, and only 1 left
    short = place("bob", {"HOT": 2})
    fits = place("carol", {"HOT": 1})

    outcomes = order_worker.decide_orders([over_and_short.order_id, short.order_id, fits.order_id])

    assert [outcomes[o.order_id] for o in (over_and_short, short, fits)] == [
        Decision.REJECTED,
        Decision.REJECTED,
        Decision.CONFIRMED,
    ]
    assert reason_of(over_and_short) == ("LIMIT_EXCEEDED", ["HOT"])
    assert reason_of(short) == ("OUT_OF_STOCK", ["HOT"])
    assert_stock_adds_up("HOT")
    assert_allowances_add_up()


def test_an_allowance_moved_by_another_batch_is_read_again(stack):
    add_product("HOT", on_hand=10, max_per_customer=3)
    ours = place("alice", {"HOT": 2})
    theirs = place("alice", {"HOT": 2})
    raced: list[Decision] = []

    # Another worker confirms alice's other order between our read and our write.
    outcomes = _decided_after(
        lambda: raced.append(order_worker.decide_order(theirs.order_id)), [ours]
    )

    assert raced == [Decision.CONFIRMED]
    assert outcomes[ours.order_id] is Decision.REJECTED
    assert reason_of(ours) == ("LIMIT_EXCEEDED", ["HOT"])
    assert allowance("alice", "HOT") == 2
    assert_stock_adds_up("HOT")
    assert_allowances_add_up()


def test_an_order_decided_alone_is_held_to_the_limit(stack):
    add_product("HOT", on_hand=10, max_per_customer=3)
    add_product("FREE", on_hand=10)
    first = place("alice", {"HOT": 2, "FREE": 1})
    second = place("alice", {"HOT": 2, "FREE": 1})

    assert order_worker.decide_order(first.order_id) is Decision.CONFIRMED
    assert order_worker.decide_order(second.order_id) is Decision.REJECTED

    assert reason_of(second) == ("LIMIT_EXCEEDED", ["HOT"])
    assert get_order(Caller(customer_id="alice"), first.order_id).limited_skus == ["HOT"]
    assert allowance("alice", "HOT") == 2
    assert_stock_adds_up("HOT", "FREE")
    assert_allowances_add_up()


@pytest.mark.parametrize("alone", [True, False])
def test_a_line_over_a_limit_lowered_after_placing_is_rejected(stack, alone):
    add_product("HOT", on_hand=10, max_per_customer=5)
    order = place("alice", {"HOT": 4})
    add_product("HOT", on_hand=10, max_per_customer=3)

    if alone:
        assert order_worker.decide_order(order.order_id) is Decision.REJECTED
    else:
        assert order_worker.decide_orders([order.order_id]) == {order.order_id: Decision.REJECTED}

    assert reason_of(order) == ("LIMIT_EXCEEDED", ["HOT"])
    assert allowance("alice", "HOT") == 0
    assert_stock_adds_up("HOT")


@pytest.mark.parametrize("alone", [True, False])
def test_a_reservation_whose_answer_was_lost_takes_the_allowance_once(stack, alone):
    add_product("HOT", on_hand=10, max_per_customer=4)
    orders = [place("alice", {"HOT": 2})] if alone else [place("alice", {"HOT": 1}) for _ in "ab"]

    outcomes: dict[str, Any]
    with answers_lost("TransactWriteItems") as lost:
        if alone:
            outcomes = {orders[0].order_id: order_worker.decide_order(orders[0].order_id)}
        else:
            outcomes = order_worker.decide_orders([o.order_id for o in orders])

    assert lost.lost == 1
    assert set(outcomes.values()) == {Decision.CONFIRMED}
    assert allowance("alice", "HOT") == 2
    assert_stock_adds_up("HOT")
    assert_allowances_add_up()


def test_groups_with_allowances_never_hold_more_than_a_transactions_items(stack, transactions):
    add_product("HOT", on_hand=500, max_per_customer=1)
    orders = [place(f"c{n}", {"HOT": 1}) for n in range(120)]

    outcomes = order_worker.decide_orders([o.order_id for o in orders])

    assert set(outcomes.values()) == {Decision.CONFIRMED}
    # A counter, then an allowance and a status an order: 49 orders a group.
    assert [len(t) for t in transactions] == [99, 99, 1 + 2 * 22]
    assert_stock_adds_up("HOT")
    assert_allowances_add_up()


# ------------------------------------------------------------------------ property
batches = st.lists(
    st.dictionaries(st.sampled_from(["A", "B", "C"]), st.integers(1, 4), min_size=1, max_size=3),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(stock=st.lists(st.integers(0, 8), min_size=3, max_size=3), batch=batches, data=st.data())
def test_any_grouped_batch_keeps_every_invariant(stack, stock, batch, data):
    prefix = uuid.uuid4().hex[:8]  # examples share one moto stack
    skus = {name: f"{prefix}-{name}" for name in "ABC"}
    for name, units in zip("ABC", stock, strict=True):
        add_product(skus[name], on_hand=units)
    orders = [place("c", {skus[name]: q for name, q in lines.items()}) for lines in batch]
    # Some orders delivered twice in the batch, as a duplicate delivery would.
    repeated = data.draw(st.lists(st.integers(0, len(orders) - 1), max_size=5))
    delivered = [o.order_id for o in orders] + [orders[n].order_id for n in repeated]

    outcomes = order_worker.decide_orders(delivered)

    assert set(outcomes) == {o.order_id for o in orders}
    assert set(outcomes.values()) <= {Decision.CONFIRMED, Decision.REJECTED}
    _assert_fair(orders, outcomes)
    _assert_nothing_left_that_fits(orders, outcomes, skus.values())
    assert_stock_adds_up(*skus.values())


def _assert_fair(orders: list[Order], outcomes: dict[str, Any]) -> None:
    """No order rejected for a SKU while a later one is confirmed with as many units."""
    for position, order in enumerate(orders):
        if outcomes[order.order_id] is not Decision.REJECTED:
            continue
        stored = get_order(Caller(customer_id="c"), order.order_id)
        assert stored.reason is not None and stored.reason.skus
        wanted = {line.sku: line.quantity for line in order.items}
        for later in orders[position + 1 :]:
            if outcomes[later.order_id] is Decision.CONFIRMED:
                for line in later.items:
                    if line.sku in stored.reason.skus:
                        assert line.quantity < wanted[line.sku], (order, later)


def _assert_nothing_left_that_fits(
    orders: list[Order], outcomes: dict[str, Any], skus: Any
) -> None:
    """Each rejected order really lacked a SKU: what is left does not cover it."""
    left = {sku: products_table.get_product(sku).available for sku in skus}  # type: ignore[union-attr]
    for order in orders:
        if outcomes[order.order_id] is Decision.REJECTED:
            assert any(left[line.sku] < line.quantity for line in order.items), order


def test_a_group_whose_answer_was_lost_confirms_each_order_once(stack):
    add_product("HOT", on_hand=5)
    orders = [place(f"c{n}", {"HOT": 1}) for n in range(3)]

    with answers_lost("TransactWriteItems") as lost:
        outcomes = order_worker.decide_orders([o.order_id for o in orders])

    assert lost.lost == 1  # delivered, its answer dropped, sent again by botocore
    assert set(outcomes.values()) == {Decision.CONFIRMED}
    product = products_table.get_product("HOT")
    assert product is not None and (product.available, product.reserved) == (2, 3)
    assert_stock_adds_up("HOT")


# ------------------------------------------------------------------- rejections
def test_a_sold_out_batch_is_rejected_in_one_request_naming_the_sku(stack, transactions):
    add_product("HOT", on_hand=0)
    orders = [place(f"c{n}", {"HOT": 1}) for n in range(30)]

    updates: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        updates.append(params["Key"]["order_id"]["S"])

    events = stockroom_aws.dynamodb().meta.events
    events.register("provide-client-params.dynamodb.UpdateItem", record)
    try:
        outcomes = order_worker.decide_orders([o.order_id for o in orders])
    finally:
        events.unregister("provide-client-params.dynamodb.UpdateItem", record)

    assert set(outcomes.values()) == {Decision.REJECTED}
    assert [len(t) for t in transactions] == [30] and updates == []
    for order in orders:
        stored = get_order(Caller(customer_id=order.customer_id), order.order_id)
        assert stored.status is OrderStatus.REJECTED
        assert stored.reason is not None and stored.reason.skus == ["HOT"]
    assert_stock_adds_up("HOT")


def test_an_order_cancelled_before_the_rejections_are_written_is_left_out(stack):
    add_product("HOT", on_hand=0)
    orders = [place(f"c{n}", {"HOT": 1}) for n in range(4)]

    outcomes = _decided_after(
        lambda: cancel_order(Caller(customer_id="c2"), orders[2].order_id), orders
    )

    # The transaction fails its condition on the cancelled order: the others are
    # rejected one by one, the cancelled one stays cancelled.
    assert [outcomes[o.order_id] for o in orders] == [Decision.REJECTED] * 2 + [
        Decision.SKIPPED,
        Decision.REJECTED,
    ]
    assert [status_of(o) for o in orders] == [OrderStatus.REJECTED] * 2 + [
        OrderStatus.CANCELLED,
        OrderStatus.REJECTED,
    ]


@pytest.mark.parametrize(
    "refusal",
    [
        pytest.param(
            lambda body: cancelled_transaction(body, "TransactionConflict"), id="conflict"
        ),
        pytest.param(
            lambda _: {"Error": {"Code": "ValidationException", "Message": "injected"}},
            id="unexpected-error",
        ),
    ],
)
def test_a_refused_rejection_transaction_rejects_one_by_one(
    stack, refusal: Callable[[dict[str, Any]], dict[str, Any]]
):
    add_product("HOT", on_hand=0)
    orders = [place(f"c{n}", {"HOT": 1}) for n in range(5)]

    with dynamodb_failures(refusal) as injected:
        outcomes = order_worker.decide_orders([o.order_id for o in orders])

    assert len(injected) == 1  # every order then moved by its own write
    assert set(outcomes.values()) == {Decision.REJECTED}
    assert {status_of(o) for o in orders} == {OrderStatus.REJECTED}


def test_a_rejection_transaction_throttled_past_botocores_retries_leaves_its_orders(stack):
    add_product("HOT", on_hand=0)
    orders = [place(f"c{n}", {"HOT": 1}) for n in range(5)]

    with dynamodb_refusals(lambda _: "ThrottlingException", "TransactWriteItems") as sent:
        outcomes = order_worker.decide_orders([o.order_id for o in orders])

    # botocore's attempts, then no write an order (they would meet the same partition):
    # each message comes back later.
    assert len(sent) == stockroom_aws.BOTOCORE_ATTEMPTS
    assert all(isinstance(outcomes[o.order_id], RetryLaterError) for o in orders)
    assert {status_of(o) for o in orders} == {OrderStatus.PENDING}


def test_a_rejection_transaction_whose_answer_was_lost_rejects_each_order_once(stack, capsys):
    add_product("HOT", on_hand=0)
    orders = [place(f"c{n}", {"HOT": 1}) for n in range(3)]
    metrics.clear_metrics()  # what earlier tests counted outside a handler
    capsys.readouterr()

    with answers_lost("TransactWriteItems") as lost:
        outcomes = order_worker.decide_orders([o.order_id for o in orders])
    metrics.flush_metrics()

    assert lost.lost == 1
    assert set(outcomes.values()) == {Decision.REJECTED}
    assert {status_of(o) for o in orders} == {OrderStatus.REJECTED}
    assert metric_totals(capsys.readouterr().out, "OrdersRejected") == {"OrdersRejected": 3}


def test_grouped_decisions_are_emitted_as_metrics(stack, lambda_context, capsys):
    add_product("HOT", on_hand=2)
    orders = [place(f"c{n}", {"HOT": 1}) for n in range(3)]
    metrics.clear_metrics()  # what earlier tests counted outside a handler
    capsys.readouterr()

    order_worker_sqs.handler(
        sqs_event(*(message_for(o) for o in [*orders, orders[0]])), lambda_context
    )

    out = capsys.readouterr().out
    totals = metric_totals(out, "OrdersConfirmed", "OrdersRejected", "DuplicatesSkipped")
    # The repeated record is decided once: its second copy is skipped without a metric.
    assert totals == {"OrdersConfirmed": 2, "OrdersRejected": 1, "DuplicatesSkipped": 0}
    # Sizes: the batch's four records; one group of the two orders that fit the stock.
    assert metric_totals(out, "WorkerBatchSize", "WorkerGroupSize") == {
        "WorkerBatchSize": 4,
        "WorkerGroupSize": 2,
    }
    units = {
        m["Name"]: m["Unit"]
        for line in out.splitlines()
        if "_aws" in line
        for m in json.loads(line)["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    assert units["WorkerBatchSize"] == units["WorkerGroupSize"] == "None"  # not summed
