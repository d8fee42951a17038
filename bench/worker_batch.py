"""Order worker: a batch of 10 decided concurrently (the deployed handler) against the
same logic deciding records one by one, with moto's server over HTTP as DynamoDB.

  .venv/bin/python -m bench.worker_batch [--rounds N] [--latency-ms MS]

moto runs in a process of its own and answers one request at a time (see
devtools/local_stack.py). `--latency-ms` adds a fixed delay to each request before
that, as the network round trip to DynamoDB does (single-digit milliseconds in a
region); with 0, the figures show moto's own serial speed, which no client-side
concurrency can beat.
"""

import argparse
import json
import os
import statistics
import time
from typing import Any

from bench.endpoint import moto_endpoint

BATCH = 10


def run(rounds: int, latency_ms: float) -> dict[str, Any]:
    with moto_endpoint(latency_ms):
        os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
        summary = _measure(rounds)
    summary["latency_ms"] = latency_ms
    return summary


def _measure(rounds: int) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    from devtools.provision import provision
    from devtools.runtime import LocalContext
    from devtools.template import ROOT, function_properties, import_handler_module

    order_worker = import_handler_module("OrderWorkerFunction")
    from stockroom import aws, ordering
    from stockroom.dal import products
    from stockroom.models import PlaceOrderRequest, Product, utc_now

    physical = provision()
    os.environ.update(physical.function_environment("OrderWorkerFunction"))
    os.environ.update(physical.function_environment("OrdersFunction"))
    calls: list[str] = []
    aws.dynamodb().meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
    )
    sequential = BatchProcessor(event_type=EventType.SQS)
    sample = json.loads((ROOT / "events" / "order_placed_sqs.json").read_text())["Records"][0]

    def batch_event(sku: str) -> dict[str, Any]:
        products.put_product(
            Product(
                sku=sku,
                name=sku,
                unit_price_cents=100,
                currency="EUR",
                on_hand=1000,
                available=1000,
                updated_at=utc_now(),
            )
        )
        request = PlaceOrderRequest.model_validate({"items": [{"sku": sku, "quantity": 1}]})
        orders = [ordering.place_order("bench", request) for _ in range(BATCH)]
        return {
            "Records": [
                sample | {"messageId": f"m-{n}", "body": json.dumps({"order_id": order.order_id})}
                for n, order in enumerate(orders)
            ]
        }

    timings: dict[str, list[float]] = {"concurrent": [], "one_by_one": []}
    calls_per_order: dict[str, float] = {}
    for round_number in range(rounds):
        for variant in ("concurrent", "one_by_one"):
            event = batch_event(f"BENCH-{variant}-{round_number}")
            calls.clear()
            context = LocalContext(
                "OrderWorkerFunction", function_properties("OrderWorkerFunction")["Timeout"]
            )
            started = time.perf_counter()
            if variant == "concurrent":
                response = order_worker.handler(event, context)
            else:
                response = process_partial_response(
                    event=event,
                    record_handler=order_worker.decide_message,
                    processor=sequential,
                    context=context,  # type: ignore[arg-type]  # has what Powertools reads
                )
            timings[variant].append(time.perf_counter() - started)
            assert response["batchItemFailures"] == [], response
            calls_per_order[variant] = len(calls) / BATCH
            kinds = sorted(set(calls))
    summary: dict[str, Any] = {
        variant: {
            "median_s": statistics.median(values),
            "min_s": min(values),
            "max_s": max(values),
            "orders_per_s": BATCH / statistics.median(values),
            "dynamodb_calls_per_order": calls_per_order[variant],
        }
        for variant, values in timings.items()
    }
    summary["speedup"] = summary["one_by_one"]["median_s"] / summary["concurrent"]["median_s"]
    summary["dynamodb_operations"] = kinds
    return summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    summary = run(args.rounds, args.latency_ms)
    if args.json:
        print(json.dumps(summary))
        return
    print(f"batch of {BATCH} orders, moto server over HTTP, +{args.latency_ms:g} ms per request")
    header = ("variant", "median ms", "min ms", "max ms", "orders/s", "calls/order")
    print("{:<12} {:>10} {:>8} {:>8} {:>9} {:>12}".format(*header))
    for variant in ("concurrent", "one_by_one"):
        row = summary[variant]
        print(
            f"{variant:<12} {row['median_s'] * 1000:>10.1f} {row['min_s'] * 1000:>8.1f} "
            f"{row['max_s'] * 1000:>8.1f} {row['orders_per_s']:>9.0f} "
            f"{row['dynamodb_calls_per_order']:>12.1f}"
        )
    operations = ", ".join(summary["dynamodb_operations"])
    print(f"speedup {summary['speedup']:.2f}x; operations: {operations}")


if __name__ == "__main__":
    main()
