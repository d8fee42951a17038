"""What a million orders cost to take, relay and decide, from the benchmark's measured
durations and counted requests and the template's memory sizes.

Per order:
  HTTP API       1 request (POST /orders)
  Lambda         invocations: orders 1 + relay 1/relay batch + worker 1/worker batch;
                 GB-s = sum over functions of (duration per order in s) x (memory in GB)
  SQS            the relay's sends (counted) + the worker's poller: 1 ReceiveMessage and
                 1 DeleteMessageBatch per batch (Lambda's event source mapping)
  DynamoDB       write and read request units of placing (counted through the orders
                 handler) and deciding (counted through the worker); the orders table's
                 index (GSI) writes, which the requests' own units leave out
                 (`index_write_units`); stream reads by Lambda are free
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

A sale day (`sale_day()`, template.yaml's SaleDay): the warm throughput raised above a
new on-demand table's (4,000 write, 12,000 read units a second), charged once.

The cache tier (`cache_tier()`, template.yaml's CacheTier) and CloudFront
(`cloudfront()`) are priced from list prices and stated assumptions alone, nothing
measured: what the tier costs idle, and how many lookups a month it must serve for the
DynamoDB reads it saves to pay for that.
"""

from typing import Any

from devtools.template import event_sources, function_properties, load_template, resources

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

# Each index of the orders table, the write units an order spends on it (a write that adds,
# changes or removes an index entry costs a unit there, beside the table's own;
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.ThroughputConsiderations).
# ByCustomer projects every attribute: written when the order is placed and again when
# its status changes. Pending: entered when placed, left when decided. Holds: only under
# HoldMinutes, entered when confirmed and left when paid or expired (not counted here).
ORDER_INDEX_WRITE_UNITS = {"ByCustomer": 2.0, "Pending": 2.0, "Holds": 0.0}

# Warm throughput (SaleDay): what a new on-demand table or index takes at once, and the
# price of raising it. AWS documents that the default warm throughput is free and that
# raising it is charged, pointing to its pricing page for the price
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput.html);
# no per-unit price was found in the published material searched (2026-12-05), so it is
# ASSUMED equal to an hour of the same provisioned capacity (us-east-1, $0.00065 per
# write and $0.00013 per read unit-hour): check https://aws.amazon.com/dynamodb/pricing/.
NEW_TABLE_WARM_UNITS = {"WriteUnitsPerSecond": 4000, "ReadUnitsPerSecond": 12000}
WARM_PRICE_PER_UNIT_ASSUMED = {"WriteUnitsPerSecond": 0.00065, "ReadUnitsPerSecond": 0.00013}

# The cache tier and CloudFront, us-east-1 list prices (USD) in 2026, from the page
# named above each group; not fetched at run time.
EDGE_PRICES = {
    # https://aws.amazon.com/elasticache/pricing/ : ElastiCache Serverless for Valkey, 33%
    # below Redis OSS's $0.125 per GB-hour and $0.0034 per million ECPUs; each cache is
    # metered for at least 100 MB. An ECPU is a KB read or written (a GET of 3.2 KB: 3.2).
    "valkey_serverless_per_gb_hour": 0.084,
    "valkey_serverless_per_million_ecpus": 0.0023,
    "valkey_serverless_minimum_gb": 0.1,
    # https://aws.amazon.com/privatelink/pricing/ : an interface endpoint, per hour in each
    # Availability Zone (subnet) it is in, and per GB it carries. Gateway endpoints (DynamoDB,
    # S3) are free.
    "interface_endpoint_per_az_hour": 0.01,
    "interface_endpoint_per_gb": 0.01,
    # https://aws.amazon.com/cloudfront/pricing/ : to viewers in the US and Europe, the first
    # 10 TB a month, past the always-free 1 TB and 10 million requests a month.
    "cloudfront_per_gb_out": 0.085,
    "cloudfront_per_million_https_requests": 1.00,
    "cloudfront_free_gb_a_month": 1024,
    "cloudfront_free_requests_a_month": 10_000_000,
}
# What one product read from DynamoDB takes: eventually consistent (dal/items.py's
# batch_get), up to 4 KB, half a read unit.
DYNAMODB_READ_UNITS_PER_PRODUCT = 0.5


def index_write_units() -> float:
    """Write units an order spends on the orders table's indexes; every index of the
    template's orders table must be accounted for."""
    properties = load_template()["Resources"]["OrdersTable"]["Properties"]
    indexes = {index["IndexName"] for index in properties.get("GlobalSecondaryIndexes", [])}
    differ = indexes ^ set(ORDER_INDEX_WRITE_UNITS)
    if differ:
        raise ValueError(f"orders table indexes not priced, or priced and gone: {sorted(differ)}")
    return sum(ORDER_INDEX_WRITE_UNITS.values())


def sale_day() -> dict[str, Any]:
    """What SaleDay=Enabled raises (each table's and index's warm throughput, above a new
    table's) and what that costs once, at the assumed price."""
    from devtools.intrinsics import Stack

    stack = Stack("sale", "us-east-1", parameter_overrides={"SaleDay": "Enabled"})
    raised: dict[str, dict[str, int]] = {}
    for name, table in resources("AWS::DynamoDB::Table").items():
        properties = stack.resolve(table["Properties"])
        parts = [(name, properties)] + [
            (f"{name}/{index['IndexName']}", index)
            for index in properties.get("GlobalSecondaryIndexes", [])
        ]
        for part, holder in parts:
            warm = holder.get("WarmThroughput") or {}
            units = {k: max(0, int(v) - NEW_TABLE_WARM_UNITS[k]) for k, v in warm.items()}
            if any(units.values()):
                raised[part] = units
    usd = sum(
        units * WARM_PRICE_PER_UNIT_ASSUMED[kind]
        for part in raised.values()
        for kind, units in part.items()
    )
    return {"units_raised": raised, "usd_once_assumed_price": round(usd, 2)}


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
        "dynamodb_index_write_units": index_write_units(),
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
        "DynamoDB index writes": per_order["dynamodb_index_write_units"]
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


def _interface_endpoint_zones() -> int:
    """The cache tier's interface endpoints (template.yaml), each counted once per subnet
    it is in: what PrivateLink bills by the hour."""
    return sum(
        len(endpoint["Properties"]["SubnetIds"])
        for endpoint in resources("AWS::EC2::VPCEndpoint").values()
        if endpoint["Properties"]["VpcEndpointType"] == "Interface"
    )


def cache_tier(hit_ratio: float = 0.9, endpoint_zones: int | None = None) -> dict[str, Any]:
    """What the cache tier costs idle (the cache's metered minimum and its VPC's interface
    endpoints, `endpoint_zones` endpoint-zones as the template has them unless given, for
    a 30-day month) and when it pays for itself against DynamoDB reads. Assumed: every
    lookup that reaches the shared cache (a miss of a container's own) is one product of
    at most 1 KB; a hit costs a GET (1 ECPU) and saves one DynamoDB read, a miss costs a
    GET and a SET (2 ECPUs) besides that read. Left out: Lambda time saved or spent, data
    transfer across zones and through the endpoints. The break-even is None where hits
    save less than lookups cost."""
    zones = _interface_endpoint_zones() if endpoint_zones is None else endpoint_zones
    hours = SECONDS_A_MONTH / 3600
    floor = {
        "cache_minimum_storage": EDGE_PRICES["valkey_serverless_minimum_gb"]
        * EDGE_PRICES["valkey_serverless_per_gb_hour"]
        * hours,
        "interface_endpoints": zones * EDGE_PRICES["interface_endpoint_per_az_hour"] * hours,
    }
    ecpus = 1 + (1 - hit_ratio)  # a GET always, a SET after each miss
    spent = ecpus * EDGE_PRICES["valkey_serverless_per_million_ecpus"]
    saved = hit_ratio * DYNAMODB_READ_UNITS_PER_PRODUCT * PRICES["dynamodb_per_million_read_units"]
    net = saved - spent  # USD per million lookups
    floor_usd = sum(floor.values())
    lookups = floor_usd / net * 1e6 if net > 0 else None
    return {
        "assumed": {"hit_ratio": hit_ratio, "endpoint_zones": zones},
        "floor_usd_a_month": {name: round(value, 2) for name, value in floor.items()},
        "floor_usd_a_month_total": round(floor_usd, 2),
        "net_usd_saved_per_million_lookups": round(net, 5),
        "break_even_lookups_a_month": None if lookups is None else round(lookups),
        "break_even_lookups_a_second": (
            None if lookups is None else round(lookups / SECONDS_A_MONTH, 1)
        ),
    }


def cloudfront(requests_a_month: float, gb_a_month: float) -> float:
    """A month of a CloudFront distribution's HTTPS requests and data out to viewers in
    the US and Europe, past the always-free allowance (USD; the first 10 TB's rate)."""
    requests = max(0.0, requests_a_month - EDGE_PRICES["cloudfront_free_requests_a_month"])
    gigabytes = max(0.0, gb_a_month - EDGE_PRICES["cloudfront_free_gb_a_month"])
    return round(
        requests / 1e6 * EDGE_PRICES["cloudfront_per_million_https_requests"]
        + gigabytes * EDGE_PRICES["cloudfront_per_gb_out"],
        2,
    )
