"""The recommendation feed and trainer: each confirmed order counted once however often
its stream record comes, cancellations taken back, bad records reported, and a trainer
run that fails leaves the next one to read the same baskets."""

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

import hold_expiry
import model_store
import recommendation_feed_stream
import recommendation_trainer
from stockroom import container
from stockroom.dal import recommendations as recommendations_table
from stockroom.models import OrderStatus
from stockroom.settings import get_settings
from support.catalog_data import add_product
from support.orders import place, status_of
from support.recommendations import buy, feed_batch, learn_and_train


def baskets_stored() -> list[dict[str, Any]]:
    items = boto3.client("dynamodb").scan(
        TableName=get_settings().require("recommendations_table_name")
    )["Items"]
    return [item for item in items if item["pk"]["S"].startswith("BASKETS#")]


def popular() -> list[tuple[str, float]]:
    """Best sellers as stored, their counts rounded (they decay by the second)."""
    return [(sku, round(score, 3)) for sku, score in recommendations_table.get_popular()]


def test_only_confirmations_and_cancellations_reach_the_feed(stack, lambda_context):
    add_product("SKU-A", on_hand=1)
    buy("alice", "SKU-A", lambda_context=lambda_context)
    rejected = buy("bob", "SKU-A", lambda_context=lambda_context)
    assert status_of(rejected) is OrderStatus.REJECTED
    place("carol", {"SKU-A": 1})  # PENDING: an INSERT only
    statuses = [r["dynamodb"]["NewImage"]["status"]["S"] for r in feed_batch()["Records"]]
    assert statuses == ["CONFIRMED"]


def test_an_expired_hold_takes_its_purchase_back(stack, lambda_context, monkeypatch):
    monkeypatch.setenv("HOLD_MINUTES", "15")
    container.reset()
    add_product("SKU-A")
    order = buy("alice", "SKU-A", lambda_context=lambda_context)
    assert hold_expiry.expire_due_holds(datetime.now(UTC) + timedelta(minutes=16))

    batch = feed_batch()

    statuses = [r["dynamodb"]["NewImage"]["status"]["S"] for r in batch["Records"]]
    assert statuses == ["CONFIRMED", "EXPIRED"]
    assert recommendation_feed_stream.handler(batch, lambda_context)["batchItemFailures"] == []
    _, purchases = recommendations_table.get_history("alice")
    assert purchases.orders == [] and purchases.bought == []
    kinds = sorted(item["kind"]["S"] for item in baskets_stored())
    assert kinds == ["CANCEL", "PURCHASE"], order.order_id


def test_a_record_delivered_twice_counts_once(stack, lambda_context):
    add_product("SKU-A")
    add_product("SKU-B")
    buy("alice", "SKU-A", "SKU-B", lambda_context=lambda_context)
    batch = feed_batch()
    for _ in range(3):
        assert recommendation_feed_stream.handler(batch, lambda_context)["batchItemFailures"] == []
    assert len(baskets_stored()) == 1
    _, purchases = recommendations_table.get_history("alice")
    assert [o.order_id for o in purchases.orders] == [
        batch["Records"][0]["dynamodb"]["NewImage"]["order_id"]["S"]
    ]
    assert {seen.sku for seen in purchases.bought} == {"SKU-A", "SKU-B"}


def test_a_record_that_is_not_an_order_is_reported_not_dropped(stack, lambda_context):
    add_product("SKU-A")
    buy("alice", "SKU-A", lambda_context=lambda_context)
    batch = feed_batch()
    broken = {**batch["Records"][0], "dynamodb": {**batch["Records"][0]["dynamodb"]}}
    broken["dynamodb"]["NewImage"] = {"status": {"S": "CONFIRMED"}}
    broken["dynamodb"]["SequenceNumber"] = "999"
    response = recommendation_feed_stream.handler(
        {"Records": [broken, *batch["Records"]]}, lambda_context
    )
    assert response["batchItemFailures"] == [{"itemIdentifier": "999"}]


def test_a_second_run_reads_no_basket_twice(stack, lambda_context, monkeypatch):
    add_product("SKU-A")
    buy("alice", "SKU-A", lambda_context=lambda_context)
    assert learn_and_train(lambda_context, monkeypatch)["baskets"] == 1
    assert learn_and_train(lambda_context, monkeypatch)["baskets"] == 0
    buy("bob", "SKU-A", lambda_context=lambda_context)
    assert learn_and_train(lambda_context, monkeypatch)["baskets"] == 1
    assert popular() == [("SKU-A", 2.0)]


def test_a_run_that_fails_before_saving_is_repeated_whole_by_the_next(
    stack, lambda_context, monkeypatch
):
    for sku in ("SKU-A", "SKU-B"):
        add_product(sku)
    buy("alice", "SKU-A", "SKU-B", lambda_context=lambda_context)
    buy("bob", "SKU-A", "SKU-B", lambda_context=lambda_context)

    def unreachable(model: bytes) -> None:
        raise ConnectionError("the model bucket is unreachable")

    with monkeypatch.context() as patched:
        patched.setattr(model_store, "save", unreachable)
        with pytest.raises(ConnectionError):
            learn_and_train(lambda_context, patched)
    assert model_store.load() is None
    report = learn_and_train(lambda_context, monkeypatch)
    assert report["baskets"] == 2
    assert [sku for sku, _ in recommendations_table.get_related(["SKU-A"])["SKU-A"]] == ["SKU-B"]
    # the counts are those of two orders, not four
    assert popular() == [("SKU-A", 2.0), ("SKU-B", 2.0)]


def test_a_full_run_solves_every_sku(stack, lambda_context, monkeypatch):
    add_product("SKU-A")
    add_product("SKU-B")
    buy("alice", "SKU-A", "SKU-B", lambda_context=lambda_context)
    learn_and_train(lambda_context, monkeypatch)
    monkeypatch.setattr(recommendation_trainer, "SETTLE_SECONDS", 0)
    report = recommendation_trainer.refresh(full=True)
    assert (report.baskets, report.solved, report.skus) == (0, 2, 2)


def test_history_writes_whose_answers_were_lost_take_effect_once(stack, lambda_context):
    from stockroom import recommendations
    from support.lost_answers import answers_lost

    for sku in ("SKU-A", "SKU-B"):
        add_product(sku)
    order = buy("alice", "SKU-A", lambda_context=lambda_context)
    confirmed = order.model_copy(update={"status": OrderStatus.CONFIRMED})
    with answers_lost("TransactWriteItems") as lost:
        recommendations.learn_from_order(confirmed)  # counted by the first copy
        assert recommendations.record_views("alice", ["SKU-B"]) == 1
    assert lost.lost == 1  # the first transaction's answer; botocore sent it again
    _, purchases = recommendations_table.get_history("alice")
    assert [o.order_id for o in purchases.orders] == [order.order_id]
    assert len(baskets_stored()) == 2  # one purchase, one view
