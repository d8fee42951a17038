"""What a million orders cost to take, relay and decide, from the benchmark's measured
durations and counted requests and the template's memory sizes.

Per order:
  HTTP API       1 request (POST /orders)
  Lambda         invocations: orders 1 + relay 1/relay batch + worker 1/worker batch;
                 GB-s = sum over functions of (duration per order in s) x (memory in GB)
  SQS            the relay's sends (counted) + the worker's poller: 1 ReceiveMessage and
                 1 DeleteMessageBatch per batch (Lambda's event source mapping)
  DynamoDB       write and read request units of placing (counted through the orders
                 handler) and deciding (counted through the worker); stream reads by
                 Lambda are free
Cost per million orders = 1e6 x sum(quantity per order x price per unit).

SnapStart (the API functions, `snapstart()`): caching = memory in GB x seconds a
version is active x price; each cold start = memory in GB x the restore price, beside
what running init instead costs (memory in GB x the measured "ready" seconds x the
GB-second price; Lambda bills init since 2025-08-01). Not per order: per month and per
1,000 cold starts.

Left out: free tiers, CloudWatch Logs and metrics, X-Ray traces, data transfer, clients
reading their orders back (GET /orders/{id}: 1 API request, 1 invocation, 1 read each).
Durations are measured against moto, whose calls are slower than DynamoDB's for writes
and faster for the network round trip, so treat the Lambda line as an estimate.
"""

from typing import Any

from devtools.template import event_sources, function_properties, load_template

# List prices in us-east-1 (USD), as published by AWS in 2026; not fetched at run time.
PRICES = {
    "http_api_per_million_requests": 1.00,
    "lambda_per_million_requests": 0.20,
    "lambda_arm64_per_gb_second": 0.0000133334,
    "sqs_per_million_requests": 0.40,
    "dynamodb_per_million_write_units": 0.625,
    "dynamodb_per_million_read_units": 0.125,
    "snapstart_cache_per_gb_second": 0.0000015046,
    "snapstart_restore_per_gb": 0.0001397998,
}
SECONDS_A_MONTH = 30 * 24 * 3600


def _worker_batch() -> int:
    """The worker's BatchSize (template.yaml): a full batch, as under load."""
    (batch,) = [
        int(properties["BatchSize"])
        for function, properties in event_sources("SQS")
        if function == "OrderWorkerFunction"
    ]
    return batch


def _memory_gb(function: str) -> float:
    return int(function_properties(function)["MemorySize"]) / 1024


def snapstart(cold_start: dict[str, Any]) -> dict[str, Any]:
    """SnapStart's charges for each function that has it, against running init."""
    functions = {}
    for function, resource in load_template()["Resources"].items():
        if "SnapStart" not in resource.get("Properties", {}):
            continue
        gb = _memory_gb(function)
        init_s = cold_start["variants"][function]["ready_ms"]["median_ms"] / 1000
        functions[function] = {
            "memory_gb": gb,
            "cache_usd_a_month": round(
                gb * SECONDS_A_MONTH * PRICES["snapstart_cache_per_gb_second"], 2
            ),
            "restore_usd_per_thousand_cold_starts": round(
                1000 * gb * PRICES["snapstart_restore_per_gb"], 4
            ),
            "init_usd_per_thousand_cold_starts": round(
                1000 * gb * init_s * PRICES["lambda_arm64_per_gb_second"], 4
            ),
            "init_seconds_measured": round(init_s, 3),
        }
    return functions


def model(warm_api: dict[str, Any], worker: dict[str, Any]) -> dict[str, Any]:
    relay_batch = worker["batch"]
    place_s = warm_api["routes"]["POST /orders"]["powertools"]["p50_ms"] / 1000
    relay_s = worker["relay"]["median_s"] / relay_batch
    decide_s = worker["group"]["median_s"] / relay_batch  # the deployed design
    gb_seconds = {
        "OrdersFunction": place_s * _memory_gb("OrdersFunction"),
        "OrderRelayFunction": relay_s * _memory_gb("OrderRelayFunction"),
        "OrderWorkerFunction": decide_s * _memory_gb("OrderWorkerFunction"),
    }
    relay_sqs = sum(worker["relay"]["per_order"]["calls"].values())
    placing, deciding = warm_api["per_order"], worker["group"]["per_order"]
    per_order = {
        "http_api_requests": 1.0,
        "lambda_invocations": 1 + 1 / relay_batch + 1 / _worker_batch(),
        "lambda_gb_seconds": sum(gb_seconds.values()),
        "sqs_requests": relay_sqs + 2 / _worker_batch(),
        "dynamodb_write_units": placing["write_units"] + deciding["write_units"],
        "dynamodb_read_units": placing["read_units"] + deciding["read_units"],
    }
    dollars = {
        "HTTP API": per_order["http_api_requests"] * PRICES["http_api_per_million_requests"],
        "Lambda requests": per_order["lambda_invocations"] * PRICES["lambda_per_million_requests"],
        "Lambda compute": per_order["lambda_gb_seconds"]
        * PRICES["lambda_arm64_per_gb_second"]
        * 1e6,
        "SQS": per_order["sqs_requests"] * PRICES["sqs_per_million_requests"],
        "DynamoDB writes": per_order["dynamodb_write_units"]
        * PRICES["dynamodb_per_million_write_units"],
        "DynamoDB reads": per_order["dynamodb_read_units"]
        * PRICES["dynamodb_per_million_read_units"],
    }
    return {
        "prices_usd": PRICES,
        "per_order": {name: round(value, 6) for name, value in per_order.items()},
        "gb_seconds_per_order": {name: round(value, 6) for name, value in gb_seconds.items()},
        "usd_per_million_orders": {name: round(value, 3) for name, value in dollars.items()},
        "usd_per_million_orders_total": round(sum(dollars.values()), 2),
    }


def recommendations(measured: dict[str, Any]) -> dict[str, Any]:
    """What recommendations add: per confirmed order, the feed's counted requests and
    units (items sized, histories full) and its share of a stream batch; per month, the
    trainer's runs (its measured incremental run at catalog scale, at its memory) and its
    row writes at their cap (ROWS_PER_RUN rows of at most 1 KB a run), whatever the
    order rate. Reads by the API are per page view, not per order, and left out."""
    feed = measured["feed_per_order"]
    rows_per_run = measured["at_scale"]["rows_per_run"]
    (stream,) = [
        properties
        for function, properties in event_sources("DynamoDB")
        if function == "RecommendationFeedFunction"
    ]
    feed_gb_s = feed["ms"] / 1000 * _memory_gb("RecommendationFeedFunction")
    per_order = {
        "lambda_invocations": 1 / int(stream["BatchSize"]),
        "lambda_gb_seconds": feed_gb_s,
        "dynamodb_write_units": feed["write_units"],
        "dynamodb_read_units": feed["read_units"],
    }
    usd_per_million = (
        per_order["lambda_invocations"] * PRICES["lambda_per_million_requests"]
        + per_order["lambda_gb_seconds"] * PRICES["lambda_arm64_per_gb_second"] * 1e6
        + per_order["dynamodb_write_units"] * PRICES["dynamodb_per_million_write_units"]
        + per_order["dynamodb_read_units"] * PRICES["dynamodb_per_million_read_units"]
    )
    schedule = function_properties("RecommendationTrainerFunction")["Events"]["Refresh"]
    minutes = int(str(schedule["Properties"]["Schedule"]).split("(")[1].split()[0])
    runs = SECONDS_A_MONTH / 60 / minutes
    run_s = measured["at_scale"]["incremental_run"]["seconds"]
    trainer = {
        "runs_a_month": round(runs),
        "lambda_usd": round(
            runs
            * run_s
            * _memory_gb("RecommendationTrainerFunction")
            * PRICES["lambda_arm64_per_gb_second"],
            2,
        ),
        "row_writes_usd_at_most": round(
            runs * rows_per_run * PRICES["dynamodb_per_million_write_units"] / 1e6, 2
        ),
    }
    return {
        "per_confirmed_order": {name: round(value, 6) for name, value in per_order.items()},
        "usd_per_million_orders": round(usd_per_million, 2),
        "trainer_usd_a_month": trainer,
    }
