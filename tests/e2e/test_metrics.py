"""The local stack's /metrics (devtools/metrics.py) after one order's journey: the
functions' own metrics from their EMF, and the stack's, counting exactly that order."""

import time
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from e2e.test_journeys import put_product, request, settled
from support.targets import Target

pytestmark = pytest.mark.local_only  # a deployed stack's metrics are CloudWatch's

type Key = tuple[str, tuple[tuple[str, str], ...]]
type Series = dict[Key, float]


def scrape(target: Target) -> Series:
    with urllib.request.urlopen(target.outputs["MetricsUrl"], timeout=30) as response:
        text = response.read().decode()
    series: Series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return series


def value(series: Series, name: str, **labels: str) -> float:
    return series.get((name, tuple(sorted(labels.items()))), 0.0)


SERVICE = {"service": "stockroom"}
# (series, labels) -> how much one order through the journey adds to it.
ONE_ORDER: dict[Key, float] = {
    ("OrdersPlaced_total", tuple(SERVICE.items())): 1,
    ("OrdersRelayed_total", tuple(SERVICE.items())): 1,
    ("OrdersConfirmed_total", tuple(SERVICE.items())): 1,
    ("OrdersRejected_total", tuple(SERVICE.items())): 0,
    ("WorkerBatchSize_count", tuple(SERVICE.items())): 1,
    ("WorkerBatchSize_sum", tuple(SERVICE.items())): 1,
    ("WorkerGroupSize_sum", tuple(SERVICE.items())): 1,
    ("stockroom_function_invocations_total", (("function", "OrderWorkerFunction"),)): 1,
    ("stockroom_function_errors_total", (("function", "OrderWorkerFunction"),)): 0,
    ("stockroom_function_errors_total", (("function", "OrdersFunction"),)): 0,
    ("stockroom_api_requests_total", (("route", "POST /orders"), ("status", "202"))): 1,
    ("stockroom_api_latency_seconds_count", (("route", "POST /orders"),)): 1,
}


def test_one_orders_journey_is_counted_exactly(target: Target) -> None:
    sku = f"E2E-METRICS-{target.run_id}"
    put_product(target, sku, on_hand=3)
    token = target.token_for("metrics")
    before = _quiet(target)

    status, _, order = request(
        f"{target.api}/orders", "POST", {"items": [{"sku": sku, "quantity": 1}]}, token=token
    )
    assert status == 202
    assert settled(target, order["order_id"], token)["status"] == "CONFIRMED"
    confirmed = ("OrdersConfirmed_total", tuple(SERVICE.items()))
    after = _quiet(target, lambda series: series.get(confirmed, 0) > before.get(confirmed, 0))

    added = {key: after.get(key, 0.0) - before.get(key, 0.0) for key in ONE_ORDER}
    assert added == ONE_ORDER
    assert value(after, "stockroom_orders_pending") == 0
    assert value(after, "stockroom_queue_messages", queue="OrderQueue", dead_letter="false") == 0
    assert (
        value(after, "stockroom_queue_messages", queue="OrderDeadLetterQueue", dead_letter="true")
        == 0
    )
    assert value(after, "stockroom_stream_records_behind", consumer="OrderRelayFunction") == 0
    # Each environment's first invocation is a cold start, and no more.
    for function in ("OrdersFunction", "OrderRelayFunction", "OrderWorkerFunction"):
        labels = {"function": function}
        cold = value(after, "stockroom_function_cold_starts_total", **labels)
        assert 1 <= cold <= value(after, "stockroom_function_invocations_total", **labels)
        # Powertools' own count agrees (its EMF, with the function's name as a label).
        assert value(after, "ColdStart_total", function_name=function, **SERVICE) == cold


def _quiet(target: Target, done: Any = lambda series: True) -> Series:
    """A scrape once `done(series)` and nothing is in flight: no order PENDING, no stream
    record a consumer has not been handed, no message in the order queue (in flight
    either: the age of its oldest is 0). The worker's EMF comes with its answer, just
    after the order is CONFIRMED; the seed's sample order may still be on its way."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        series = scrape(target)
        in_flight = [
            series.get(key, 0.0)
            for key in series
            if key[0] == "stockroom_stream_records_behind"
            or key[0] == "stockroom_orders_pending"
            or key == _OLDEST_ORDER_MESSAGE
        ]
        if done(series) and not any(in_flight):
            break
        time.sleep(1)  # a scrape reads the queues, streams and orders table
    time.sleep(0.5)  # anything else set going, ended
    return scrape(target)


_OLDEST_ORDER_MESSAGE = (
    "stockroom_queue_oldest_message_age_seconds",
    (("dead_letter", "false"), ("queue", "OrderQueue")),
)
