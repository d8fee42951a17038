"""The sold-out flags end to end against DynamoDB Local: the products table's stream read
by the local stack's stream poller with the template's filter, the stock flags function,
and the orders API's copy of the set, refreshed once a second. Products change from
threads at once; whatever the interleaving, the orders API ends up refusing exactly the
SKUs that are sold out, and a SKU whose units come back is let through again."""

import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

import orders
import stock_flags_stream
from devtools.template import event_sources
from devtools.triggers import StreamPoller
from stockroom import container
from support.context import FakeLambdaContext
from support.dynamodb_local import StreamArnStack, create_table, serving

SKUS = 8
CHANGES_PER_SKU = 12
# Long enough for a loaded 2-core machine; the figures are printed, not asserted.
SETTLE_SECONDS = 60


@pytest.fixture
def flags_stack(tmp_path, monkeypatch) -> Iterator[tuple[Any, str, str]]:
    """DynamoDB Local with the template's products and stock flags tables, the functions'
    settings pointing at them; yields (client, products table, products stream ARN)."""
    with serving(tmp_path, monkeypatch):
        client = boto3.client("dynamodb")
        products = create_table(client, "ProductsTable")
        flags = create_table(client, "StockFlagsTable")
        monkeypatch.setenv("PRODUCTS_TABLE_NAME", products["TableName"])
        monkeypatch.setenv("STOCK_FLAGS_TABLE_NAME", flags["TableName"])
        container.reset()
        try:
            yield client, products["TableName"], products["LatestStreamArn"]
        finally:
            container.reset()


def _set_available(client: Any, table: str, sku: str, available: int) -> None:
    client.put_item(
        TableName=table,
        Item={
            "sku": {"S": sku},
            "name": {"S": sku},
            "unit_price_cents": {"N": "100"},
            "currency": {"S": "EUR"},
            "on_hand": {"N": "1"},
            "reserved": {"N": str(1 - available)},
            "available": {"N": str(available)},
            "updated_at": {"S": "2026-12-01T00:00:00.000000Z"},
        },
    )


def _seconds_until(condition: Callable[[], bool]) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < SETTLE_SECONDS, "the flags never settled"
        time.sleep(0.05)
    return time.monotonic() - started


def test_the_api_refuses_exactly_the_sold_out_skus_after_concurrent_changes(flags_stack):
    client, table, arn = flags_stack
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    context = FakeLambdaContext()

    def invoke(function: str, trigger: str, event: dict[str, Any]) -> Any:
        return stock_flags_stream.handler(event, context)

    ((function, properties),) = [
        source for source in event_sources("DynamoDB") if source[0] == "StockFlagsFunction"
    ]
    poller = StreamPoller(StreamArnStack(arn), invoke, function, properties)  # type: ignore[arg-type]
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
    thread.start()
    skus = [f"SKU-{n}" for n in range(SKUS)]

    def change(sku: str) -> int:
        """The SKU sold out and back, over and over, ending on a random state."""
        last = 1
        for step in range(CHANGES_PER_SKU):
            last = step % 2 if step < CHANGES_PER_SKU - 1 else random.choice([0, 1])
            _set_available(client, table, sku, last)
        return last

    try:
        with ThreadPoolExecutor(max_workers=SKUS) as pool:
            final = dict(zip(skus, pool.map(change, skus), strict=True))
        expected = {sku for sku, available in final.items() if available == 0}
        settled = _seconds_until(lambda: orders.sold_out_flags().get() == expected)

        # One SKU sold out, then its unit back (a cancel): timed to the API's copy.
        _set_available(client, table, "SKU-T", 0)
        flagged = _seconds_until(lambda: "SKU-T" in orders.sold_out_flags().get())
        _set_available(client, table, "SKU-T", 1)
        cleared = _seconds_until(lambda: "SKU-T" not in orders.sold_out_flags().get())
    finally:
        stop.set()
        thread.join(5)

    print(f"settled {settled:.2f} s, flagged {flagged:.2f} s, cleared {cleared:.2f} s")
    assert orders.sold_out_flags().get() == expected
