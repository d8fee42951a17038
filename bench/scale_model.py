"""The scale model: how many orders a second Stockroom can decide on AWS, for the spread
and flash-sale traffic of `make load`, before each AWS limit binds, for the design that
reserves one order a transaction and for group commit; and how many order attempts a
hot-SKU sale's read side (page views, status polls) lets in with no cache, a CloudFront
edge, and the edge with a shared cache (L2). Every limit carries its value and its
source; every figure of our own is named as measured here or assumed.

  .venv/bin/python -m bench.scale_model [--json] [--page docs/scaling.md]

Four kinds of figure. PUBLISHED: AWS's limits, each with its source. MEASURED here: the
worker's batches (`bench/worker_batch.py`) and, under DynamoDB's limits, hold times and
rates (`make load LIMITS=aws`, bench/results/limits*.json). ASSUMED: what AWS does not
publish, each labelled, with the figure measured here beside it. MODELLED: every ceiling
in orders a second, arithmetic on the other three (not a queueing simulation); the
lowest binds.
"""

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.cli import emit
from bench.load_report import fast_path_of
from devtools.template import ROOT

DYNAMODB_QUOTAS = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Limits.html"
PARTITIONS = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html"
TRANSACTIONS = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html"
)
ON_DEMAND_MAX = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
    "on-demand-capacity-mode-max-throughput.html"
)
API_QUOTAS = "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html"
LAMBDA_SCALING = "https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html"
LAMBDA_CONCURRENCY = "https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html"
SQS_SCALING = "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html"
STREAM_PARAMS = "https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html"
LAMBDA_MEMORY = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html"
READ_UNITS = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html"
)
CLOUDFRONT_QUOTAS = (
    "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cloudfront-limits.html"
)
ELASTICACHE_LIMITS = (
    "https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/RedisConfiguration.html"
)
ELASTICACHE_PRICING = "https://aws.amazon.com/elasticache/pricing/"
PREWARM = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
    "pre-warming-on-demand-capacity-mode.html"
)
# A published measurement, not AWS's: TransactWriteItems of 5 items, 25 ms p50, 92 ms p99.
TRANSACTION_LATENCY = "https://www.alexdebrie.com/posts/dynamodb-transactions-performance/"
ESM_PROVISIONED = "https://docs.aws.amazon.com/lambda/latest/api/API_ProvisionedPollerConfig.html"
# Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB.
VCPU_MB = 1769
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Limit:
    name: str
    value: float
    unit: str
    source: str
    raisable: bool  # a quota AWS raises on request, or a setting of ours


LIMITS = {
    "partition_wcu": Limit(
        "write units a second on one partition (one item's ceiling)",
        1000,
        "WCU/s",
        PARTITIONS,
        False,
    ),
    "transaction_items": Limit(
        "items in one TransactWriteItems", 100, "items", TRANSACTIONS, False
    ),
    "table_wru": Limit(
        "write request units a second per on-demand table (account quota)",
        40_000,
        "WRU/s",
        ON_DEMAND_MAX,
        True,
    ),
    "api_rps": Limit(
        "API Gateway requests a second per account and Region", 10_000, "req/s", API_QUOTAS, True
    ),
    "lambda_concurrency": Limit(
        "Lambda concurrent executions per account and Region",
        1000,
        "environments",
        LAMBDA_CONCURRENCY,
        True,
    ),
    "sqs_batches": Limit(
        "concurrent batches of one SQS event source mapping (MaximumConcurrency at most)",
        1000,
        "batches",
        SQS_SCALING,
        True,
    ),
    "stream_parallelization": Limit(
        "concurrent relay batches per stream shard (ParallelizationFactor at most)",
        10,
        "batches",
        STREAM_PARAMS,
        False,
    ),
    "partition_rcu": Limit(
        "read units a second on one partition (one item's ceiling)",
        3000,
        "RCU/s",
        PARTITIONS,
        False,
    ),
    "table_rru": Limit(
        "read request units a second per on-demand table (account quota)",
        40_000,
        "RRU/s",
        ON_DEMAND_MAX,
        True,
    ),
    "new_table_wcu": Limit(
        "write units a second a new on-demand table (or index) takes until warmed",
        4000,
        "WCU/s",
        PREWARM,
        True,
    ),
    "new_table_rcu": Limit(
        "read units a second a new on-demand table takes until warmed",
        12_000,
        "RCU/s",
        PREWARM,
        True,
    ),
    "cloudfront_rps": Limit(
        "CloudFront requests a second per distribution", 250_000, "req/s", CLOUDFRONT_QUOTAS, True
    ),
    "l2_slot_ecpu": Limit(
        "ElastiCache Serverless ECPUs a second on one slot (one key's; 90,000 from replicas)",
        30_000,
        "ECPU/s",
        ELASTICACHE_LIMITS,
        False,
    ),
    "l2_cache_ecpu": Limit(
        "ElastiCache Serverless ECPUs a second per cache",
        15_000_000,
        "ECPU/s",
        ELASTICACHE_LIMITS,
        False,
    ),
}
# Lambda adds at most 1,000 environments a function every 10 s (LAMBDA_SCALING), and an
# SQS source at most 300 more batches a minute (SQS_SCALING): how fast a burst is met.
SCALING_NOTES = (
    f"Lambda scales each function by at most 1,000 environments every 10 s ({LAMBDA_SCALING}); "
    f"an SQS event source adds at most 300 concurrent batches a minute ({SQS_SCALING}), unless "
    "it runs in provisioned mode, which keeps MinimumPollers (at least 2) to MaximumPollers "
    f"event pollers ready, at a charge ({ESM_PROVISIONED}); the worker runs in the default mode. "
    "These set how soon a sale's burst is met, not the steady rate. Quotas a first sale meets: "
    "API Gateway's is 2,500 requests a second, not 10,000, in Regions opened since 2020 "
    f"(Milan, Jakarta, Zurich, ...; {API_QUOTAS}), which quarters every API ceiling below; a new "
    f"account starts with less than 1,000 concurrent executions ({LAMBDA_CONCURRENCY}; AWS gives "
    "no figure): raise both before a sale. A new table takes 4,000 write units a second until "
    "warmed: its row below binds first unless `SaleDay` pre-warms the tables "
    "([limits.md](limits.md))."
)
# What a read costs. DynamoDB, an item up to 4 KB: half a read unit eventually
# consistent, one strongly consistent (READ_UNITS). ElastiCache Serverless: 1 ECPU a KB
# a simple read or write moves (ELASTICACHE_PRICING). A product item is about 1 KB at
# most (a name of up to 200 characters): one ECPU a get or set.
EVENTUAL_READ_RCU = 0.5
STRONG_READ_RCU = 1.0
ECPU_PER_PRODUCT = 1.0
READ_COST_NOTES = (
    f"Reading an item up to 4 KB costs 0.5 read unit, 1 strongly consistent ({READ_UNITS}); "
    f"an ElastiCache get or set, 1 ECPU a KB ({ELASTICACHE_PRICING}). Products are about "
    "1 KB at most."
)


@dataclass(frozen=True)
class Assumptions:
    """Figures of our own, each measured here or assumed (and said which: ASSUMED)."""

    # One DynamoDB round trip from Lambda in-Region (assumed: single-digit ms).
    round_trip_s: float = 0.008
    # How long a transaction keeps its items from others' transactions (DynamoDB does not
    # publish it): a published measurement of a 5-item TransactWriteItems, p50 (not AWS's,
    # TRANSACTION_LATENCY); how it grows with the items is measured here (`hold_growth`).
    hold_5_items_s: float = 0.025
    # Transactions racing for one hot item: the per-order baseline decides a batch's
    # records in threads (6 on Lambda's 2 vCPUs reported), 30 batches at once; group
    # commit, one transaction a batch.
    per_order_threads: int = 6
    # Lines per order: spread traffic's average (make load: 1-5 lines), the sale's one.
    spread_lines: float = 3.0
    spread_skus: int = 1000
    # Requests an order sends through the API (make load: POST /orders and one read).
    api_requests_per_order: float = 2.0
    # A hot-SKU sale's read side, all assumed. Product pages a shopper views per order
    # attempt. GET /orders/{id} per order: the client reads the order back (make load
    # once) and, finding it PENDING, again. The share of public GETs CloudFront answers,
    # caching for the API's Cache-Control (max-age: the L1 TTL). How long a page view
    # served from L1 holds its Lambda environment (the handler alone takes about 0.1 ms
    # here, bench/warm_api.py). The shared cache's TTL.
    page_views_per_attempt: int = 20
    status_polls_per_order: int = 2
    edge_hit_ratio: float = 0.95
    page_view_s: float = 0.002
    l2_ttl_s: float = 60.0


@dataclass(frozen=True)
class Worker:
    """The worker as template.yaml deploys it: its batches, their concurrency, its memory."""

    batch_size: int
    max_concurrency: int
    memory_mb: int

    @classmethod
    def deployed(cls) -> "Worker":
        from devtools.template import event_sources, function_properties

        (source,) = [p for f, p in event_sources("SQS") if f == "OrderWorkerFunction"]
        return cls(
            int(source["BatchSize"]),
            int(source["ScalingConfig"]["MaximumConcurrency"]),
            int(function_properties("OrderWorkerFunction")["MemorySize"]),
        )

    def batch_seconds(self, measured: dict[str, float]) -> float:
        """A full batch on Lambda: its waits as measured here, and its CPU time as
        measured here stretched to this memory's share of a vCPU."""
        waits = measured["median_s"] - measured["cpu_s"]
        return waits + measured["cpu_s"] * VCPU_MB / self.memory_mb


def calibration(results: Path = RESULTS) -> dict[str, Any]:
    """The worker's full batches (bench/worker_batch.py) from the newest full `make bench`
    results in `results`, with that run's date."""
    for path in sorted(results.glob("*-*-*.json"), reverse=True):
        report = json.loads(path.read_text())
        full = report["results"].get("worker_batch", {}).get("full_batches")
        if full and not report.get("quick"):
            return {"date": report["date"], **full}
    raise SystemExit(f"no full make bench results with the worker's full batches in {results}")


def profiles(a: Assumptions) -> dict[str, dict[str, float]]:
    """Write units per order on each table (and on each of the orders table's indexes,
    which have quotas and partitions of their own), per design.

    Placing (both designs): the order item (1 WRU), the idempotency record written and
    completed (2 WRU). Deciding, one order a transaction: each line's product item and the
    order item, 2 WRU each inside a transaction. Each index an order touches (ByCustomer,
    Pending; bench/cost.py) takes 2 more, one when placed and one when decided. Group
    commit: the order item as before, but each SKU's product item once per group (2 WRU
    per group)."""
    per_order_products = 2 * a.spread_lines
    # A group of spread orders holds up to 99 orders and 100 items: at 3 lines from
    # 1,000 SKUs, 25 orders and their 75 SKUs fill it; SKUs are rarely shared.
    spread_group_orders = 100 / (a.spread_lines + 1)
    spread_group_skus = min(a.spread_skus, spread_group_orders * a.spread_lines)
    shared = {"orders_wru": 1 + 2, "index_wru": 2, "idempotency_wru": 2}
    return {
        "per-order": shared | {"products_wru_spread": per_order_products, "products_wru_flash": 2},
        "group": shared
        | {
            "products_wru_spread": 2 * spread_group_skus / spread_group_orders,
            "products_wru_flash": 2 / 99,
        },
    }


def ceilings(
    traffic: str,
    design: str,
    a: Assumptions,
    worker: Worker,
    measured: dict[str, Any],
    hold: "HoldGrowth | None" = None,
) -> list[dict[str, Any]]:
    """Each limit's ceiling in decided orders a second for one traffic and design, with
    the worker's full batch of that traffic and design as `measured` here, and hold times
    growing with a transaction's items as `hold` (measured under the limits mode) says."""
    hold = hold or HoldGrowth()
    profile = profiles(a)[design]
    products_wru = profile[f"products_wru_{traffic}"]
    busiest = max(profile["orders_wru"], profile["index_wru"], products_wru)
    batch_s = worker.batch_seconds(measured)
    # Lambda concurrency: the API function's and the worker's environments together.
    api_s = 4 * a.round_trip_s  # idempotency put, product read, order put, completion
    rows = [
        _ceiling(
            "api_rps",
            LIMITS["api_rps"].value / a.api_requests_per_order,
            f"{a.api_requests_per_order:g} API requests an order",
        ),
        _ceiling(
            "table_wru",
            LIMITS["table_wru"].value / busiest,
            f"the busiest table: {busiest:.2f} WRU an order",
        ),
        _ceiling(
            "new_table_wcu",
            LIMITS["new_table_wcu"].value / busiest,
            f"the busiest table, {busiest:.2f} WRU an order; SaleDay pre-warms",
        ),
        # The worker's batches: MaximumConcurrency of them at once, each `batch_s` long.
        _ceiling(
            "sqs_batches",
            worker.max_concurrency * worker.batch_size / batch_s,
            f"{worker.max_concurrency} batches of {worker.batch_size} at once (MaximumConcurrency; "
            f"up to 1,000), each {batch_s:.2f} s at {worker.memory_mb} MB "
            f"(measured here: {measured['median_s'] * 1000:.0f} ms, "
            f"{measured['cpu_s'] * 1000:.0f} ms CPU)",
            current=worker.max_concurrency,
        ),
        _ceiling(
            "lambda_concurrency",
            LIMITS["lambda_concurrency"].value
            / (api_s + batch_s / worker.batch_size + a.round_trip_s / 10),
            f"{api_s * 1000:.0f} ms of the API function an order, worker and relay",
        ),
        *(_one_item_ceilings(design, a, worker, hold) if traffic == "flash" else []),
    ]
    return sorted(rows, key=lambda row: row["orders_per_s"])


def _ceiling(
    limit: str, orders_per_s: float, how: str, current: float | None = None
) -> dict[str, Any]:
    """`current`: our setting where it is below the limit (else the limit itself)."""
    return {
        "limit": limit,
        **asdict(LIMITS[limit]),
        "current": LIMITS[limit].value if current is None else current,
        "orders_per_s": round(orders_per_s),
        "how": how,
    }


@dataclass(frozen=True)
class HoldGrowth:
    """How a transaction's hold time grows with its items, h(n) = a + b n, as measured
    under the limits mode (DynamoDB Local on this machine); without measurements, flat."""

    intercept_s: float = 1.0
    per_item_s: float = 0.0
    points: tuple[tuple[int, float, int], ...] = ()  # items, p50 seconds, transactions

    def relative(self, items: int, to: int = 5) -> float:
        """h(items) / h(to): the shape measured here, applied to a published point."""
        return (self.intercept_s + self.per_item_s * items) / (
            self.intercept_s + self.per_item_s * to
        )


def hold_growth(results: list[dict[str, Any]]) -> HoldGrowth:
    """h(n) fitted (least squares, each item count once) to the p50 hold times the limits
    mode measured, over item counts seen at least 5 times."""
    merged: dict[int, tuple[float, int]] = {}
    for result in results:
        for items, hold in result.get("hold_ms", {}).items():
            if (
                hold["transactions"] >= 5
                and hold["transactions"] > merged.get(int(items), (0, 0))[1]
            ):
                merged[int(items)] = (hold["p50"] / 1000, hold["transactions"])
    points = tuple(sorted((n, p50, count) for n, (p50, count) in merged.items()))
    if len(points) < 2:
        return HoldGrowth(points=points)
    mean_n = sum(n for n, _, _ in points) / len(points)
    mean_h = sum(h for _, h, _ in points) / len(points)
    spread = sum((n - mean_n) ** 2 for n, _, _ in points)
    slope = sum((n - mean_n) * (h - mean_h) for n, h, _ in points) / spread if spread else 0.0
    slope = max(slope, 0.0)
    return HoldGrowth(max(mean_h - slope * mean_n, 1e-4), slope, points)


def conflict_bound(callers: int, hold_s: float, round_trip_s: float) -> float:
    """Transactions a second that win one item: callers each resending as soon as
    answered offer lambda = callers / (hold + round trip) attempts a second, and a hold
    refuses those arriving meanwhile, so lambda / (1 + lambda hold) win (a loss system
    with one server); at most 1 / hold."""
    offered = callers / (hold_s + round_trip_s)
    return offered / (1 + offered * hold_s)


def _one_item_ceilings(
    design: str, a: Assumptions, worker: Worker, hold: HoldGrowth
) -> list[dict[str, Any]]:
    """A flash sale's: one product item takes every order's reservation."""
    per_tx, items = (1, 2) if design == "per-order" else (99, 100)
    callers = worker.max_concurrency * (a.per_order_threads if design == "per-order" else 1)
    hold_s = a.hold_5_items_s * hold.relative(items)
    won = conflict_bound(callers, hold_s, a.round_trip_s)
    return [
        _ceiling(
            "partition_wcu",
            LIMITS["partition_wcu"].value / (2 / per_tx),
            f"{2 / per_tx:.3f} WCU an order on the SKU's item (2 a transactional write)",
        ),
        {
            "limit": "item_conflicts",
            "name": "transactions on one item, one at a time (TransactionConflict)",
            "value": round(won),
            "unit": "tx/s",
            "source": f"{TRANSACTIONS} (conflict handling); hold time ASSUMED",
            "raisable": False,
            "orders_per_s": round(won * per_tx),
            "how": f"{per_tx} orders a transaction of {items} items held {hold_s * 1000:.0f} ms "
            f"(ASSUMED: 25 ms for 5 items, published, grown as measured here), {callers} "
            f"racing: {won:.0f} tx/s of at most {1 / hold_s:.0f}",
        },
    ]


# What the design is to reach on AWS: decided orders a second.
TARGETS = {"spread": 50_000, "flash": 5_000}


def run(
    assumptions: Assumptions | None = None, measured: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The model; `measured`: the worker's full batches (bench/worker_batch.py), by
    default those of the newest full `make bench` results."""
    a = assumptions or Assumptions()
    full = measured or calibration()
    worker = Worker.deployed()
    limited = limits_measured()
    hold = hold_growth(limited)
    model: dict[str, Any] = {
        "assumptions": asdict(a),
        "hold_growth": asdict(hold),
        "worker": asdict(worker),
        "worker_measured": {
            "date": full.get("date"),
            "batch": full["batch"],
            "latency_ms": full["latency_ms"],
        },
        "cases": {},
    }
    for traffic in ("spread", "flash"):
        for design in ("per-order", "group"):
            batch = full[traffic][design.replace("-", "_")]
            rows = ceilings(traffic, design, a, worker, batch, hold)
            model["cases"][f"{traffic}/{design}"] = _case(rows, TARGETS[traffic])
    model["read_side"] = read_side(a, worker, full["flash"]["group"])
    model["measured_here"] = _measured()
    model["limits_mode"] = model_vs_measured(limited, a, hold)
    return model


# The local stack's worker: at most 5 queue pollers (docs/local-stack.md), each batch's
# records in 6 threads for the per-order baseline (2 cores).
LOCAL_POLLERS = 5


def limits_measured(results: Path = RESULTS) -> list[dict[str, Any]]:
    """What `make load LIMITS=aws` measured (bench/aws_limits.py), if it has run: its
    newest results (limits.json) and any earlier run kept at another size
    (limits.*.json), each a load level of its own; a scenario and design once."""
    paths = [results / "limits.json", *sorted(results.glob("limits.*.json"))]
    runs: dict[tuple[str, str], dict[str, Any]] = {}
    for path in paths:
        for r in json.loads(path.read_text()) if path.exists() else []:
            runs.setdefault((r["scenario"]["name"], r["worker"]), r)  # the newest first
    return list(runs.values())


def reservations(r: dict[str, Any]) -> tuple[int, int]:
    """A run's reservation transactions on stock as the order path's functions sent them
    (its own TransactWriteItems, not the proxy's count, which also holds other
    functions' transactions, such as recommendations' on confirmed orders), and those
    that won their items: sent, less those cancelled for a conflict."""
    sent = int(r.get("transactions", 0))
    lost = r["refusals"].get("TransactionConflict", 0) + r["refusals"].get("ThrottlingError", 0)
    return sent, max(sent - lost, 0)


def model_vs_measured(
    results: list[dict[str, Any]], a: Assumptions, hold: HoldGrowth
) -> list[dict[str, Any]]:
    """For each run under the limits mode, the model's ceilings for the limits mode itself
    beside what it measured: on the hot SKU, transactions on one item (its callers: 5
    pollers, the per-order design's 6 threads each; the hold time fitted to what it
    measured; the orders it decided a winning reservation transaction) and one key's
    1,000 write units a second (2 units a transactional write); over 1,000 SKUs neither
    binds (the spread load puts a few orders a second on each key)."""
    rows = []
    for r in results:
        design = r["worker"]
        decided = int(r.get("orders_decided", r["orders_placed"]))
        sent, won = reservations(r)
        hot = r["scenario"]["skus"] == 1
        per_tx = decided / won if won else 0.0
        items = 2 if design == "per-order" else min(round(per_tx), 99) + 1
        callers = LOCAL_POLLERS * (a.per_order_threads if design == "per-order" else 1)
        hold_s = hold.intercept_s + hold.per_item_s * items
        item = conflict_bound(callers, hold_s, hold.intercept_s) * per_tx if hot else None
        wcu = LIMITS["partition_wcu"].value * per_tx / 2 if hot else None
        model = min(item, wcu) if item is not None and wcu is not None else None
        measured = float(r["decided_per_second_by_design"])
        rows.append(
            {
                "scenario": r["scenario"]["name"],
                "worker": design,
                "orders": r["orders_placed"],
                "orders_decided": decided,
                "bounded_seconds": r.get("bounded_seconds", 0),
                "callers": callers,
                "reservations_sent": sent,
                "reservations_won": won,
                "orders_per_transaction": round(per_tx, 1),
                "hold_ms": round(hold_s * 1000, 1),
                "model_item_orders_per_s": None if item is None else round(item, 1),
                "model_wcu_orders_per_s": None if wcu is None else round(wcu, 1),
                "model_orders_per_s": None if model is None else round(model, 1),
                "measured_orders_per_s": measured,
                "measured_over_model": None if not model else round(measured / model, 2),
                "until_decided_p99_s": r["until_decided_p99_s"],
                "conflicts_per_1000_orders": r["conflicts_per_1000_orders"],
                "throttles_per_1000_orders": r["throttles_per_1000_orders"],
                "orders_stuck_pending": r["orders_stuck_pending"],
                "measured": r["measured"],
            }
        )
    return sorted(rows, key=lambda row: (row["scenario"] == "spread", row["orders"], row["worker"]))


def _case(rows: list[dict[str, Any]], target: float) -> dict[str, Any]:
    """Ceilings sorted: what binds, the first fixed limit, what the target needs raised."""
    fixed = [row for row in rows if not row["raisable"]]
    for row in rows:  # what a raisable limit would have to be for the target
        if row["raisable"] and row["orders_per_s"] < target:
            # Exact where the row says what an attempt takes, else from the rounded ceiling.
            needed = row.get("per_attempt", row["current"] / row["orders_per_s"]) * target
            row["needed_for_target"] = round(needed)
    return {
        "target": target,
        "binding": rows[0],
        "binding_fixed": fixed[0] if fixed else None,
        "target_met_without_fixed_limit": not fixed or fixed[0]["orders_per_s"] >= target,
        "ceilings": rows,
    }


# A hot-SKU sale's read side: whether CloudFront (the edge) and a shared cache (L2,
# ElastiCache Serverless) stand before the API and DynamoDB.
READ_CASES = {"no cache": (False, False), "edge": (True, False), "edge + L2": (True, True)}
# Warm containers to show what their L1 misses take of the hot item's partition.
WARM_CONTAINERS = (20, 100, 1000)


def l1_ttl_seconds() -> float:
    """The containers' in-memory cache (L1) TTL as deployed: ProductCacheTtlSeconds."""
    from devtools.template import load_template

    return float(load_template()["Parameters"]["ProductCacheTtlSeconds"]["Default"])


def read_side(
    a: Assumptions, worker: Worker, measured: dict[str, float], l1_ttl_s: float | None = None
) -> dict[str, Any]:
    """Each read case's ceilings in order attempts a second, the deployed worker (group
    commit, its full flash batch `measured` here) deciding; and what L1 alone spares."""
    ttl = l1_ttl_seconds() if l1_ttl_s is None else l1_ttl_s
    batch_s = worker.batch_seconds(measured)
    cases = {
        case: _case(read_ceilings(case, a, worker, batch_s, ttl), TARGETS["flash"])
        for case in READ_CASES
    }
    no_l1 = read_ceilings("no cache", a, worker, batch_s, 0)
    return {
        "l1_ttl_s": ttl,
        "cases": cases,
        # Each warm container reads the hot item once per L1 TTL at most.
        "l1_misses": [
            {"containers": n, "rcu_per_s": n / ttl * EVENTUAL_READ_RCU if ttl > 0 else None}
            for n in WARM_CONTAINERS
        ],
        "without_l1": next(row for row in no_l1 if row["limit"] == "partition_rcu"),
    }


def read_ceilings(
    case: str, a: Assumptions, worker: Worker, batch_s: float, l1_ttl_s: float
) -> list[dict[str, Any]]:
    """Each limit's ceiling in order attempts a second, with each attempt's load on it
    by where it comes from."""
    edge, l2 = READ_CASES[case]
    views = a.page_views_per_attempt * ((1 - a.edge_hit_ratio) if edge else 1)
    polls = a.status_polls_per_order
    post_s = 4 * a.round_trip_s  # idempotency put, product read, order put, completion
    # The API functions' seconds an attempt: by Little's law, the warm containers a rate
    # keeps busy, each with its own L1, which misses at most once a TTL (polls, which
    # read no product, counted too: an upper bound). Through L1 go the page views
    # reaching the API and the POST's product read.
    api_s = {
        "page views": views * a.page_view_s,
        "order POST": post_s,
        "status polls": polls * a.round_trip_s,
    }
    reads = views + 1
    misses = reads if l1_ttl_s <= 0 else min(reads, sum(api_s.values()) / l1_ttl_s)
    # One transaction a group of up to 99 orders changes the item (group commit): with
    # L2, the stream writes each change through.
    changes = profiles(a)["group"]["products_wru_flash"] / 2
    requests = {"page views": views, "order POST": 1.0, "status polls": float(polls)}
    hot_item = {"worker": STRONG_READ_RCU / worker.batch_size}
    if not l2:
        hot_item["L1 misses"] = misses * EVENTUAL_READ_RCU
    rows = [
        _read_ceiling("api_rps", requests),
        _read_ceiling(
            "lambda_concurrency",
            api_s | {"worker and relay": batch_s / worker.batch_size + a.round_trip_s / 10},
        ),
        _read_ceiling(
            "table_rru", {"status polls": polls * STRONG_READ_RCU, "worker": STRONG_READ_RCU}
        ),
        # With L2, DynamoDB sees one read of the item a L2 TTL, whatever the rate.
        _read_ceiling("partition_rcu", hot_item, EVENTUAL_READ_RCU / a.l2_ttl_s if l2 else 0.0),
    ]
    if edge:  # every request goes through the distribution
        pages = float(a.page_views_per_attempt)
        rows.append(_read_ceiling("cloudfront_rps", requests | {"page views": pages}))
    if l2:  # the hot item is one key, in one slot
        ecpu = {"L1 misses": misses * ECPU_PER_PRODUCT, "write-through": changes}
        rows += [_read_ceiling("l2_slot_ecpu", ecpu), _read_ceiling("l2_cache_ecpu", ecpu)]
    return sorted(rows, key=lambda row: row["orders_per_s"])


def _read_ceiling(limit: str, load: dict[str, float], constant: float = 0.0) -> dict[str, Any]:
    """`load`: what an attempt takes of the limit, by source; `constant`: what it loses
    whatever the rate."""
    per_attempt = sum(load.values())
    how = ", ".join(f"{source} {value:.3g}" for source, value in load.items())
    return {
        **_ceiling(
            limit,
            (LIMITS[limit].value - constant) / per_attempt,
            f"{how} ({LIMITS[limit].unit.removesuffix('/s')} an attempt)",
        ),
        "load": load,
        "per_attempt": per_attempt,
    }


def _measured() -> list[dict[str, Any]]:
    """What `make load` measured here, for calibration: the requests per order."""
    results = ROOT / "bench" / "results" / "load.json"
    if not results.exists():
        return []
    return [
        {
            key: r.get(key)
            for key in (
                "backend",
                "measured",
                "decided_per_second",
                "dynamodb_requests_per_order",
                "transactions_per_order",
            )
        }
        | {
            "scenario": r["scenario"]["name"],
            "worker": r.get("worker", "per-order"),
            "fast_path": fast_path_of(r),
        }
        for r in json.loads(results.read_text())
        if "orders_placed" in r
        and r.get("dynamodb_requests_per_order") is not None
        and not r["scenario"].get("page_views_per_order")  # reads mixed in: not an order's
    ]


def print_table(model: dict[str, Any], out: Callable[[str], None] = print) -> None:
    out("scale model: decided orders a second on AWS before each limit binds")
    for case, figures in model["cases"].items():
        binding = figures["binding"]
        out(f"{case}: binds at {binding['orders_per_s']:,}/s ({binding['limit']})")
        for row in figures["ceilings"]:
            raisable = "raisable" if row["raisable"] else "fixed"
            out(f"  {row['orders_per_s']:>10,}  {row['limit']:<22} {raisable:<8} {row['how']}")
    out("a hot-SKU sale's read side: order attempts a second before each limit binds")
    for case, figures in model["read_side"]["cases"].items():
        binding = figures["binding"]
        out(f"{case}: binds at {binding['orders_per_s']:,}/s ({binding['limit']})")
        for row in figures["ceilings"]:
            raisable = "raisable" if row["raisable"] else "fixed"
            out(f"  {row['orders_per_s']:>13,}  {row['limit']:<19} {raisable:<8} {row['how']}")


def page(model: dict[str, Any]) -> str:
    """docs/scaling.md: the limits, the assumptions, the worker, each case's ceilings."""
    lines = [
        "# Scaling: where each AWS limit binds",
        "",
        "Generated by `python -m bench.scale_model --page docs/scaling.md` (also part of",
        "`make bench`); do not edit by hand. "
        + (__doc__ or "").split("\n\n")[2].replace("\n", " "),
        "",
        "## Limits",
        "",
        "| limit | value | raisable | source |",
        "|---|---|---|---|",
        *(
            f"| {limit.name} | {limit.value:,.15g} {limit.unit} "
            f"| {'yes' if limit.raisable else 'no'} | {limit.source} |"
            for limit in LIMITS.values()
        ),
        "",
        SCALING_NOTES,
        READ_COST_NOTES,
        "",
        *_assumptions_section(model),
        *_worker_section(model),
        "## Ceilings, decided orders a second",
        "",
    ]
    for case, figures in model["cases"].items():
        lines += _case_section(case, figures)
    lines += [
        "The read side of a hot-SKU sale (page views, status polls; no cache, the edge, "
        "a shared cache): [scaling-reads.md](scaling-reads.md).",
        "",
    ]
    lines += _limits_mode_section(model)
    return "\n".join(lines)


def read_page(model: dict[str, Any]) -> str:
    """docs/scaling-reads.md: the read side of a hot-SKU sale, from the same model."""
    return "\n".join(
        [
            "# Scaling: a hot-SKU sale's reads",
            "",
            "Generated by `python -m bench.scale_model --page docs/scaling.md` with "
            "[scaling.md](scaling.md) (also part of `make bench`); do not edit by hand. Its "
            "limits, sources and assumptions are that page's.",
            "",
            *_read_side_section(model),
        ]
    )


def _worker_section(model: dict[str, Any]) -> list[str]:
    worker, measured = model["worker"], model["worker_measured"]
    return [
        "## The worker",
        "",
        f"As deployed (template.yaml): batches of {worker['batch_size']}, at most "
        f"{worker['max_concurrency']} at once (MaximumConcurrency), "
        f"{worker['memory_mb']} MB. How long a full batch takes is measured here "
        f"(`bench/worker_batch.py`, {_measured_when(measured)}): the deployed "
        "handler deciding 100 orders against DynamoDB Local with "
        f"{measured['latency_ms']:g} ms added to each request. On Lambda, the "
        "batch waits as long as here (DynamoDB Local answers slower than DynamoDB, so this "
        "errs long), and its CPU time takes longer by 1,769 MB over the memory: Lambda gives "
        f"a function one vCPU at 1,769 MB and a share in proportion below ({LAMBDA_MEMORY}).",
        "",
    ]


def _case_section(case: str, figures: dict[str, Any]) -> list[str]:
    """One traffic and design: what binds, whether the target is in reach, each ceiling."""
    return [
        f"### {case}",
        "",
        f"Binds at **{figures['binding']['orders_per_s']:,}/s**: {figures['binding']['name']}.",
        *(
            [_fixed(figures["binding_fixed"])]
            if figures["binding_fixed"]
            else ["None of these is fixed: each is a quota AWS raises or a setting."]
        ),
        "",
        f"Target {figures['target']:,}/s: "
        + (
            "no fixed limit is below it; raise the quotas and settings marked."
            if figures["target_met_without_fixed_limit"]
            else "a fixed limit is below it (see the next design)."
        ),
        "",
        "| orders/s | limit | raisable (value for the target) | how |",
        "|---|---|---|---|",
        *(
            f"| {row['orders_per_s']:,} | {row['name']} | "
            + (
                f"yes ({row['needed_for_target']:,} {row['unit']})"
                if "needed_for_target" in row
                else "yes"
                if row["raisable"]
                else "no"
            )
            + f" | {row['how']} |"
            for row in figures["ceilings"]
        ),
        "",
    ]


# The read side's rows, in this order: a short name, and what an attempt takes.
READ_LIMITS = {
    "api_rps": ("API requests", "{views} views ({miss:.0%} past the edge), POST, {polls} polls"),
    "cloudfront_rps": ("CloudFront requests", "every request"),
    "lambda_concurrency": (
        "Lambda concurrency",
        "{view_ms:g} ms a view, {post_ms:g} ms a POST, {poll_ms:g} ms a poll; worker, relay",
    ),
    "table_rru": ("orders table reads", "{polls} polls, the worker's read: 1 unit each"),
    "partition_rcu": (
        "the hot item's partition reads",
        "0.5 unit a container's read a L1 TTL (L2: one a {l2_ttl:g} s); 1 a worker batch",
    ),
    "l2_slot_ecpu": ("L2, the hot item's slot", "1 ECPU a get (L1 miss) or set (write-through)"),
}


def _read_side_section(model: dict[str, Any]) -> list[str]:
    """The read cases side by side, one row a limit, what binds in bold."""
    a, side = model["assumptions"], model["read_side"]
    cases = side["cases"]
    words = {
        "views": a["page_views_per_attempt"],
        "miss": 1 - a["edge_hit_ratio"],
        "polls": a["status_polls_per_order"],
        "view_ms": a["page_view_s"] * 1000,
        "post_ms": 4 * a["round_trip_s"] * 1000,
        "poll_ms": a["round_trip_s"] * 1000,
        "l2_ttl": a["l2_ttl_s"],
    }
    rows = []
    for limit, (label, takes) in READ_LIMITS.items():
        cells = []
        for figures in cases.values():
            row = next((r for r in figures["ceilings"] if r["limit"] == limit), None)
            figure = f"{row['orders_per_s']:,}" if row else "-"
            binds = row is not None and row["limit"] == figures["binding"]["limit"]
            cells.append(f"**{figure}**" if binds else figure)
        fixed = "" if LIMITS[limit].raisable else " (fixed)"
        rows.append(
            f"| [{label}]({LIMITS[limit].source}){fixed} | {' | '.join(cells)} "
            f"| {takes.format(**words)} |"
        )
    return [
        "## A hot-SKU sale's read side, order attempts a second",
        "",
        "Beside its POST, an order attempt brings page views (public product GETs, cached at "
        "the edge by CloudFront) and status polls (GET /orders/{id}), as assumed above. Each "
        f"warm container's L1 reads the hot item once a TTL ({side['l1_ttl_s']:g} s) at most; "
        "warm containers are the API functions' concurrency (Little's law). With L2, their "
        "misses go to ElastiCache, kept current by the stream, and DynamoDB reads the item "
        "once a L2 TTL. The worker is flash/group's.",
        "",
        "| limit | " + " | ".join(cases) + " | what an attempt takes |",
        "|---|---|---|---|---|",
        *rows,
        "",
        *_read_side_summary(side),
        "",
    ]


def _read_side_summary(side: dict[str, Any]) -> list[str]:
    """The first fixed limit, what the flash target needs raised, what L1 alone spares."""
    cases = side["cases"]
    fixed = {
        READ_LIMITS[f["binding_fixed"]["limit"]][0] for f in cases.values() if f["binding_fixed"]
    }
    needed: dict[str, list[str]] = {}
    for case, f in cases.items():
        for row in f["ceilings"]:
            if "needed_for_target" in row:
                label = f"{READ_LIMITS[row['limit']][0]} {row['needed_for_target']:,} {row['unit']}"
                needed.setdefault(label, []).append(case)
    raise_ = ", ".join(f"{label} ({', '.join(names)})" for label, names in needed.items())
    misses = side["l1_misses"]
    rcu = ", ".join(f"{m['rcu_per_s']:g}" for m in misses)
    containers = ", ".join(f"{m['containers']:,}" for m in misses)
    return [
        f"Bold: what binds. Quotas raised, {' or '.join(sorted(fixed))} bind first. For the "
        f"flash target ({TARGETS['flash']:,}/s): {raise_}. L1's misses take {rcu} RCU/s (of "
        f"{LIMITS['partition_rcu'].value:,g}) at {containers} warm containers; at "
        "ProductCacheTtlSeconds 0 (allowed), each page view reaching the API reads the item: "
        f"with no cache the partition binds at {side['without_l1']['orders_per_s']:,}/s.",
    ]


# Each assumption: what it rests on, and what is measured here beside it ("" if nothing).
ASSUMPTION_NOTES = {
    "round_trip_s": "ASSUMED (AWS publishes no latency)",
    "hold_5_items_s": "ASSUMED: published, not by AWS (TRANSACTION_LATENCY; 92 ms p99)",
    "per_order_threads": "the baseline's thread pool on 2 vCPUs; the local stack runs the same",
    "spread_lines": "make load's spread orders: 1-5 lines",
    "spread_skus": "make load's spread SKUs",
    "api_requests_per_order": "make load sends 2",
}


def measured_beside(name: str, model: dict[str, Any]) -> str:
    """The figure measured here under the limits mode for an assumption AWS does not
    publish ("" where nothing here measures it)."""
    hold = model["hold_growth"]
    p50 = {n: h for n, h, _ in hold["points"]}
    if name == "hold_5_items_s" and 5 in p50:
        return f"measured here (DynamoDB Local): {p50[5] * 1000:.0f} ms p50"
    if name == "round_trip_s" and hold["points"]:
        return f"measured here: h(0), {hold['intercept_s'] * 1000:.1f} ms"
    if name == "per_order_threads":
        runs = [r for r in model["limits_mode"] if r["worker"] == "per-order"]
        if runs:
            return f"the limits mode: {runs[0]['callers']} callers"
    return ""


def _assumptions_section(model: dict[str, Any]) -> list[str]:
    hold = model["hold_growth"]
    measured = ", ".join(f"{n} items {h * 1000:.0f} ms" for n, h, _ in hold["points"])
    lines = ["## Assumptions", ""]
    for name, value in model["assumptions"].items():
        note = ASSUMPTION_NOTES.get(name, "ASSUMED; not measured here").replace(
            "TRANSACTION_LATENCY", TRANSACTION_LATENCY
        )
        beside = measured_beside(name, model)
        lines.append(f"- `{name}`: {value} ({note}{'; ' + beside if beside else ''})")
    lines += [
        "",
        "Hold time grows with a transaction's items as measured here under the limits mode "
        f"(p50: {measured or 'not measured yet'}; fitted h(n) = "
        f"{hold['intercept_s'] * 1000:.1f} + {hold['per_item_s'] * 1000:.2f} n ms), that shape "
        "scaled to the published 5-item p50 (ASSUMED: DynamoDB Local on 2 cores is no "
        "measure of DynamoDB's own speed).",
        "",
    ]
    return lines


def _or_dash(value: Any) -> str:
    return "-" if value is None else str(value)


def _limits_mode_section(model: dict[str, Any]) -> list[str]:
    rows = model["limits_mode"]
    if not rows:
        return []
    return [
        "## Model vs measured under the limits mode",
        "",
        "[limits-measured.md](limits-measured.md), a row a run at each load level. "
        "MODELLED: the limits mode's own ceilings, one item (the conflict formula, its "
        "callers, h(n) fitted above) and one key's 1,000 WCU/s. MEASURED: the rest "
        "(reservations: the order path's TransactWriteItems; won: less those cancelled). "
        "Past a sell-out group commit rejected without a transaction in these runs "
        "(orders a won tx over 99; rejections have since been written in one). "
        "Below the model: the item does not bind (per-order: a contended "
        "order's 180 s redelivery; group: CPU).",
        "",
        "| run | orders (decided) | reservations won / sent | orders a won tx | hold ms "
        "| model orders/s: item / key WCU | measured orders/s (/ model) | p99 until decided s "
        "| conflicts / throttles a 1k | stuck |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['scenario']}, {r['worker']}"
            + (f" (bounded, {r['bounded_seconds']} s)" if r.get("bounded_seconds") else "")
            + f" | {r['orders']:,} ({r['orders_decided']:,}) "
            f"| {r['reservations_won']:,}/{r['reservations_sent']:,} "
            f"| {r['orders_per_transaction']} | {r['hold_ms']} "
            f"| {_or_dash(r['model_item_orders_per_s'])}/{_or_dash(r['model_wcu_orders_per_s'])} "
            f"| {r['measured_orders_per_s']} ({_or_dash(r['measured_over_model'])}) "
            f"| {r['until_decided_p99_s']} "
            f"| {r['conflicts_per_1000_orders']:,}/{r['throttles_per_1000_orders']:,} "
            f"| {r['orders_stuck_pending']} |"
            for r in rows
        ),
        "",
    ]


def _measured_when(measured: dict[str, Any]) -> str:
    return f"`make bench` of {measured['date']}" if measured.get("date") else "this run"


def _fixed(row: dict[str, Any]) -> str:
    return (
        f"Quotas and settings raised, the first fixed limit is {row['name']} at "
        f"{row['orders_per_s']:,}/s."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the model as one JSON line")
    parser.add_argument("--page", type=Path, help="write the model as markdown")
    parser.add_argument(
        "--worker-batches",
        type=Path,
        help="bench.worker_batch's JSON summary to take the worker's full batches from "
        "(default: the newest full make bench results)",
    )
    args = parser.parse_args()
    measured = None
    if args.worker_batches:
        summary = json.loads(args.worker_batches.read_text())
        measured = {"date": summary.get("date"), **summary["full_batches"]}
    model = run(measured=measured)
    if args.page:
        args.page.write_text(page(model))
        args.page.with_name("scaling-reads.md").write_text(read_page(model))
    emit(model, args.json, print_table)


if __name__ == "__main__":
    main()
