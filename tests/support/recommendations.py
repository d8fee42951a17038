"""The recommendation pipeline run in-process: confirmed orders through the worker, the
orders stream through the feed (with the template's filter), then one trainer run."""

import json
from typing import Any

import order_worker_sqs
import recommendation_feed_stream
import recommendation_trainer
import recommendation_trainer_schedule
from devtools.template import resources
from devtools.triggers import matches
from stockroom.models import Order
from stockroom.settings import get_settings
from support.orders import message_for, place, sqs_event
from support.streams import stream_records


def feed_patterns() -> list[dict[str, Any]]:
    event = resources("AWS::Serverless::Function")["RecommendationFeedFunction"]["Properties"]
    filters = event["Events"]["OrderDecided"]["Properties"]["FilterCriteria"]["Filters"]
    return [json.loads(item["Pattern"]) for item in filters]


def feed_batch() -> dict[str, Any]:
    """Every record of the orders stream so far that the feed's filter lets through."""
    records = stream_records(get_settings().require("orders_table_name"))
    patterns = feed_patterns()
    return {"Records": [r for r in records if any(matches(p, r) for p in patterns)]}


def buy(customer_id: str, *skus: str, lambda_context: Any) -> Order:
    """An order placed and decided by the worker (CONFIRMED while stock lasts)."""
    order = place(customer_id, dict.fromkeys(skus, 1))
    failures = order_worker_sqs.handler(sqs_event(message_for(order)), lambda_context)
    assert failures["batchItemFailures"] == []
    return order


def learn_and_train(lambda_context: Any, monkeypatch: Any) -> dict[str, Any]:
    """The feed given the stream so far, then a trainer run that reads every basket."""
    feed_failures = recommendation_feed_stream.handler(feed_batch(), lambda_context)
    assert feed_failures["batchItemFailures"] == []
    monkeypatch.setattr(recommendation_trainer, "SETTLE_SECONDS", 0)
    # A first run looks this far back for baskets; a test's orders are minutes old at most.
    monkeypatch.setattr(recommendation_trainer, "CATCH_UP_MINUTES", 10)
    report: dict[str, Any] = recommendation_trainer_schedule.handler({}, lambda_context)
    return report
