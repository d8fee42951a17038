"""`make load`: the order path under load, through a fresh local stack (DynamoDB Local,
every function, the local API), driven by Locust in headless mode (bench/locustfile.py).

Scenarios, each bounded in orders and time, each ending only when every order is decided:
  spread             many SKUs with ample stock, orders of 1-5 lines from many customers,
                     the arrival rate stepped up until POST /orders p99 passes 1 s or a
                     request fails;
  flash              one SKU with scarce stock (500 units), 2,000 one-unit orders at once;
  flash-20k          the sale day: 5,000 units, 20,000 orders from 2,000 customers;
  sale-rules         the same sale under the rules stores sell by: from 5,000 customers,
                     at most 2 units each, holds of a minute, half the winners paying;
  sale-reads         a sale day's reads: 20 product pages viewed to an order, 80% the hot
                     SKU's, the rest among 1,000 others, after a cold burst;
  import             a catalog of 10,000 new SKUs uploaded to the import bucket;
  import-100k        the same with 100,000;
  import-under-load  100,000 SKUs imported while the spread scenario runs.

Reported per scenario: orders accepted per second, POST /orders p50/p99, seconds until
every order is decided and orders decided per second, DynamoDB requests and
transactions per order (every function's, counted by the local runtime); the losers
(orders refused SOLD_OUT at the API or REJECTED by the worker), p99 of the time until a
loser's answer exists, and the worker's invocations and CPU seconds; and the
invariants: units oversold, orders stuck PENDING, orders doubled by a retried request,
5xx and connection errors (all must be 0), units held (CONFIRMED or PAID) equal to the
reserved units; under the sale rules also customers over the limit, allowances not
matching, holds left CONFIRMED and paid orders not PAID (all 0), and how late the
unpaid holds were released.
An import reports its seconds from upload to report and every row read back.

    python -m bench.load [--quick] [--scenarios a,b] [--backends dynamodb-local,moto]
                         [--fast-path on,off] [--cache l2,l1] [--json FILE] [--page FILE]
                         [--from-json FILE]
"""

import argparse
import csv
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import sale_reads

# import_table, table and targets: bench/markdown.py renders them through this module.
from bench.load_charts import QueueSampler, ScenarioCharts, locust_history
from bench.load_report import cache_of, fast_path_of, report
from bench.load_report import import_table as import_table
from bench.load_report import table as table
from bench.load_report import targets as targets
from bench.sale_rules import HELD, Payer, figures
from devtools.template import ROOT, load_template

LOCUST = ROOT / ".tools" / "locust" / "bin" / "locust"
# Where a full run's results are kept (merged: a scenario's new run replaces its last)
# and shown in docs/load.md; docs/performance.md links there.
RESULTS = ROOT / "bench" / "results" / "load.json"
PAGE = ROOT / "docs" / "load.md"
CHARTS = ROOT / ".local" / "load-report"  # each scenario's charts over time (HTML, SVG)
LOCUSTFILE = ROOT / "bench" / "locustfile.py"
REQUEST_COUNTS = "request-counts"  # in the stack's folder: each environment's AWS requests
DECIDE_SECONDS = 300  # every order decided within this (or `decide_seconds`), or it is stuck
# The products' per-container cache TTL the local stack runs with (the template's default).
PRODUCT_CACHE_TTL_SECONDS = float(
    load_template()["Parameters"]["ProductCacheTtlSeconds"]["Default"]
)


@dataclass(frozen=True)
class Scenario:
    name: str
    skus: int
    units_per_sku: int
    users: int
    orders_per_user: int
    lines: tuple[int, int]
    quantity: tuple[int, int]
    customers: int
    run_seconds: int
    retry_share: float = 0.1
    decide_seconds: int = DECIDE_SECONDS
    # A stepped arrival rate instead: customers per step, each placing an order every
    # `pace_seconds`, a step every `step_seconds`, until POST /orders p99 passes
    # `p99_limit_ms` or a request fails (then `orders_per_user` is only a bound).
    steps: tuple[int, ...] = ()
    step_seconds: int = 20
    warmup_seconds: int = 15
    pace_seconds: float = 1.0
    p99_limit_ms: int = 1000
    # The worker paused while every order is placed, then resumed: its rate from a full
    # queue ("drained per second") is the worker design's, apart from the API's.
    backlog: bool = False
    # The sale rules (bench/sale_rules.py): a per-customer limit on every SKU, holds of
    # `hold_minutes` (the stack's HoldMinutes), the share of winners who pay, and each
    # order from a customer drawn at random (else a Locust user is one customer).
    limit: int | None = None
    hold_minutes: int = 0
    paying_share: float = 0.0
    order_customers: bool = False
    # The read side (bench/sale_reads.py): product pages viewed before each order, the
    # hot SKU's share of them, and a long tail of `tail_skus` other products.
    page_views_per_order: int = 0
    hot_share: float = 0.8
    tail_skus: int = 0
    # Environments each function may have at once (the local stack's default: 8).
    environments: int = 8

    @property
    def stack_needs(self) -> tuple[int, int]:
        """What the scenario's stack must be started with: holds, environments."""
        return self.hold_minutes, self.environments

    @property
    def orders(self) -> int:
        return self.users * self.orders_per_user


FULL = [
    # Steps of 10 more orders a second each, from 10 a second to 80 (64 customers is
    # where the last measured step of steady pressure ended: p99 4.2 s).
    Scenario(
        "spread",
        1000,
        1_000_000,
        80,
        10_000,
        (1, 5),
        (1, 3),
        500,
        300,
        steps=(10, 20, 30, 40, 50, 60, 70, 80),
    ),
    Scenario("flash", 1, 500, 64, 32, (1, 1), (1, 1), 2000, 300),
    # The sale day: 20,000 one-unit orders for 5,000 units, from 2,000 customers.
    Scenario(
        "flash-20k",
        1,
        5000,
        80,
        250,
        (1, 1),
        (1, 1),
        2000,
        1200,
        decide_seconds=1800,
        backlog=True,
    ),
    # The same sale under the rules stores sell by: at most 2 units a customer, 5,000
    # customers (most with several orders), holds of a minute, half the winners paying.
    Scenario(
        "sale-rules",
        1,
        5000,
        80,
        250,
        (1, 1),
        (1, 2),
        5000,
        1200,
        decide_seconds=1800,
        limit=2,
        hold_minutes=1,
        paying_share=0.5,
        order_customers=True,
    ),
    # A sale day's reads: 20 product pages viewed to an order, 80% of them the hot SKU's,
    # the rest among 1,000 others.
    Scenario(
        "sale-reads",
        1,
        1_000_000,
        32,
        10,
        (1, 1),
        (1, 1),
        200,
        600,
        page_views_per_order=20,
        tail_skus=1000,
        environments=24,  # past the 20 where a shared tier must read 20x less
    ),
]
QUICK = [
    Scenario(
        "spread",
        40,
        1_000_000,
        8,
        1000,
        (1, 5),
        (1, 3),
        50,
        120,
        steps=(4, 8),
        step_seconds=6,
        warmup_seconds=3,
    ),
    Scenario("flash", 1, 40, 16, 8, (1, 1), (1, 1), 100, 120, backlog=True),
]


def _put_products(
    dynamodb: Any, table: str, skus: list[str], units: int, limit: int | None = None
) -> None:
    limited = {"max_per_customer": {"N": str(limit)}} if limit else {}
    for start in range(0, len(skus), 25):
        requests: Any = [
            {
                "PutRequest": {
                    "Item": {
                        "sku": {"S": sku},
                        "name": {"S": f"Load {sku}"},
                        "unit_price_cents": {"N": "1000"},
                        "currency": {"S": "EUR"},
                        "on_hand": {"N": str(units)},
                        "reserved": {"N": "0"},
                        "available": {"N": str(units)},
                        "updated_at": {"S": "2026-12-01T00:00:00.000000Z"},
                        **limited,
                    }
                }
            }
            for sku in skus[start : start + 25]
        ]
        pending: Any = {table: requests}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems")


def _items(dynamodb: Any, table: str, key: str, values: list[str]) -> dict[str, dict[str, Any]]:
    """The items of `table` whose `key` is one of `values` (strongly consistent), by value."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(values), 100):
        keys: Any = {
            table: {
                "Keys": [{key: {"S": value}} for value in values[start : start + 100]],
                "ConsistentRead": True,
            }
        }
        while keys:
            response = dynamodb.batch_get_item(RequestItems=keys)
            for item in response["Responses"].get(table, []):
                found[item[key]["S"]] = item
            keys = response.get("UnprocessedKeys")
    return found


def _locust_stats(prefix: Path) -> tuple[dict[str, dict[str, str]], list[dict[str, str]]]:
    with Path(f"{prefix}_stats.csv").open() as rows:
        stats = {row["Name"]: row for row in csv.DictReader(rows)}
    with Path(f"{prefix}_failures.csv").open() as rows:
        failures = list(csv.DictReader(rows))
    return stats, failures


def run_scenario(
    scenario: Scenario,
    stack: Any,
    outputs: dict[str, str],
    work: Path,
    charts: Path | None = None,
) -> dict[str, Any]:
    """One scenario through the stack. Until every order is decided it waits for the
    order queue to empty, then reads the orders still PENDING. With `charts`, writes
    its charts over time there (bench/load_charts.py). (Reading every placed
    order each half second instead, as this harness once did, drained 4,000 orders at
    116-129 per second against 111-113 this way, side by side: it was not what held the
    drain back.)"""
    import boto3

    run = uuid.uuid4().hex[:6].upper()
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.dynamodb_endpoint or stack.endpoint)
    products, orders_table = outputs["ProductsTableName"], outputs["OrdersTableName"]
    skus = [f"LOAD-{scenario.name.upper()}-{run}-{n}" for n in range(scenario.skus)]
    _put_products(dynamodb, products, skus, scenario.units_per_sku, scenario.limit)
    tail = [f"LOAD-TAIL-{run}-{n}" for n in range(scenario.tail_skus)]
    _put_products(dynamodb, products, tail, scenario.units_per_sku)
    plan = _plan(scenario, run, skus) | {"tail_skus": tail}
    files = _ScenarioFiles.written(work, scenario.name, plan)
    reads = _ReadSide.before(scenario, stack, outputs, skus[0])
    payer = _payer(scenario, stack, outputs, dynamodb, files.orders)
    worker_paused = _worker_paused(scenario.backlog)
    requests_before = request_counts(stack)
    worker_before = request_counts(stack, ("OrderWorkerFunction",))
    sampler = QueueSampler(stack.endpoint, outputs["OrderQueueUrl"]).start()
    started = time.monotonic()
    _run_locust(scenario, stack.api, files, work)
    placing_seconds = time.monotonic() - started
    records = [json.loads(line) for line in files.orders.read_text().splitlines()]
    placed = [r["order_id"] for r in records if "order_id" in r]
    # A paused worker decides nothing: check, then resume it.
    held = _held_backlog(stack, outputs, dynamodb, placed) if scenario.backlog else None
    resumed = time.monotonic()
    worker_paused.unlink(missing_ok=True)
    deadline = time.monotonic() + scenario.decide_seconds
    _wait_until_drained(stack, outputs["OrderQueueUrl"], deadline)
    items, pending = _wait_until_decided(dynamodb, orders_table, placed, deadline)
    decided_seconds = time.monotonic() - started
    drain_seconds = time.monotonic() - resumed
    queue = sampler.stop()
    rules = _sale_rules(scenario, outputs, dynamodb, placed, payer) if payer else {}
    items |= rules.pop("items", {})
    stats, failures = _locust_stats(files.prefix)
    if charts:
        history = locust_history(files.prefix, sampler.started)
        page = ScenarioCharts(scenario.name, history, queue).write(charts)
        print(f"[load] {scenario.name}: charts in {page}", file=sys.stderr)
    read_figures = reads.after(stats, placing_seconds) if reads else {}
    requests = request_counts(stack) - requests_before
    worker = request_counts(stack, ("OrderWorkerFunction",)) - worker_before
    post = stats.get("POST /orders", {})
    return {
        "scenario": asdict(scenario),
        "orders_placed": len(placed),
        "accepted_per_second": round(len(placed) / placing_seconds, 1),
        "post_orders_p50_ms": float(post.get("50%") or 0),
        "post_orders_p99_ms": float(post.get("99%") or 0),
        "seconds_until_all_decided": round(decided_seconds, 1),
        "decided_per_second": round(len(placed) / decided_seconds, 1),
        **(_backlog_figures(len(placed), placing_seconds, drain_seconds, *held) if held else {}),
        **_stock_figures(dynamodb, products, skus, items),
        **losers(records, items, worker),
        **rules,
        **read_figures,
        "orders_stuck_pending": len(pending),
        "errors": _errors(failures),
        **per_order(requests, len(placed)),
        "transactions": requests.get("dynamodb.TransactWriteItems", 0),
        "steps": [json.loads(line) for line in files.steps.read_text().splitlines()],
    }


def losers(
    records: list[dict[str, Any]], items: dict[str, dict[str, Any]], worker: Counter[str]
) -> dict[str, Any]:
    """The losers' side of a sale: orders refused SOLD_OUT at the API (answered by their
    POST) and REJECTED by the worker (answered when the worker wrote the decision, from
    the first POST sent), p99 of those times; the worker's invocations and CPU."""
    sent_at = {r["order_id"]: r["sent_at"] for r in records if "sent_at" in r}
    at_api = [r["seconds"] for r in records if r.get("sold_out")]
    by_worker = [
        _epoch(item["updated_at"]["S"]) - sent_at[order_id]
        for order_id, item in items.items()
        if item["status"]["S"] == "REJECTED" and order_id in sent_at
    ]
    answered = sorted(at_api + by_worker)
    p99 = answered[max(0, math.ceil(0.99 * len(answered)) - 1)] if answered else 0.0
    return {
        "losers_refused_at_api": len(at_api),
        "losers_rejected_by_worker": len(by_worker),
        "losers_answered_p99_ms": round(p99 * 1000),
        "worker_invocations": worker.get("runtime.Invocations", 0),
        "worker_cpu_seconds": round(worker.get("runtime.CpuMilliseconds", 0) / 1000, 1),
    }


def _payer(
    scenario: Scenario, stack: Any, outputs: dict[str, str], dynamodb: Any, orders: Path
) -> Payer | None:
    """The buyers who pay, following the scenario's orders as they are placed (if any)."""
    if not scenario.paying_share:
        return None
    table = outputs["OrdersTableName"]
    return Payer(
        stack.api,
        outputs["PaymentWebhookSecret"],
        lambda ids: _items(dynamodb, table, "order_id", ids),
        orders,
        scenario.paying_share,
    ).start()


def _sale_rules(
    scenario: Scenario, outputs: dict[str, str], dynamodb: Any, placed: list[str], payer: Payer
) -> dict[str, Any]:
    """Once every order is decided and paid (if chosen): waits until no hold is left
    CONFIRMED (or a minute past the last hold's end), then checks the sale rules on the
    orders as they ended; with them under "items"."""
    payer.finish()
    deadline = time.monotonic() + scenario.hold_minutes * 60 + 60
    table = outputs["OrdersTableName"]
    while True:
        items = _items(dynamodb, table, "order_id", placed)
        holding = [i for i in items.values() if i["status"]["S"] == "CONFIRMED"]
        if not holding or time.monotonic() > deadline:
            break
        time.sleep(1)
    pages = dynamodb.get_paginator("scan").paginate(TableName=outputs["AllowancesTableName"])
    allowances = {
        (item["customer_id"]["S"], item["sku"]["S"]): int(item["units"]["N"])
        for page in pages
        for item in page["Items"]
        if item["sku"]["S"].startswith(f"LOAD-{scenario.name.upper()}-")
    }
    assert scenario.limit is not None  # a scenario with payers sells under a limit
    return {**figures(items, allowances, scenario.limit, payer), "items": items}


@dataclass
class _ReadSide:
    """A scenario's page views: the cold burst before it, the counts it starts from."""

    stack: Any
    hot: str
    cache_url: str | None
    cold: dict[str, Any]
    catalog_before: Counter[str]
    l2_before: dict[str, int]

    @classmethod
    def before(
        cls, scenario: Scenario, stack: Any, outputs: dict[str, str], hot: str
    ) -> "_ReadSide | None":
        if not scenario.page_views_per_order:
            return None
        cache_url = outputs.get("CacheUrl") or None
        burst_before = request_counts(stack, (sale_reads.CATALOG,))
        statuses = sale_reads.cold_burst(stack.api, hot, scenario.users)
        burst = request_counts(stack, (sale_reads.CATALOG,)) - burst_before
        cold = {
            "cold_burst_views": scenario.users,
            "cold_burst_statuses": statuses,
            "cold_burst_reads": sale_reads.reads(burst, hot)[1],
            "cold_burst_environments": sale_reads.environments(
                stack.local_dir / REQUEST_COUNTS, sale_reads.CATALOG
            ),
        }
        catalog = request_counts(stack, (sale_reads.CATALOG,))
        l2 = sale_reads.l2_stats(cache_url)
        return cls(stack, hot, cache_url, cold, catalog, l2)

    def after(self, stats: dict[str, dict[str, str]], seconds: float) -> dict[str, Any]:
        """The page views' figures (see bench/sale_reads.py)."""
        views = {name: row for name, row in stats.items() if name.startswith("GET /products")}
        catalog = request_counts(self.stack, (sale_reads.CATALOG,)) - self.catalog_before
        l2 = sale_reads.l2_stats(self.cache_url)
        views_count = sum(int(row["Request Count"]) for row in views.values())
        return {
            **self.cold,
            **sale_reads.figures(
                views_count,
                seconds,
                PRODUCT_CACHE_TTL_SECONDS,
                catalog,
                self.hot,
                sale_reads.environments(self.stack.local_dir / REQUEST_COUNTS, sale_reads.CATALOG),
            ),
            **(sale_reads.tier_latency(self.cache_url) if self.cache_url else {}),
            **sale_reads.hit_ratios(
                views_count, sale_reads.reads(catalog, self.hot)[0], self.l2_before, l2
            ),
            **{
                f"{name.split()[-1]}_view_{q}_ms": float(row.get(f"{p}%") or 0)
                for name, row in views.items()
                for q, p in (("p50", "50"), ("p99", "99"))
            },
        }


def _epoch(timestamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def _plan(scenario: Scenario, run: str, skus: list[str]) -> dict[str, Any]:
    """What bench/locustfile.py's customers do (LOAD_PLAN): their tokens, the SKUs, the
    orders' shape and the pressure."""
    from devtools.http_api import make_token

    return {
        "tokens": [make_token(f"load-{run}-{n}") for n in range(scenario.customers)],
        "order_customers": scenario.order_customers,
        "page_views_per_order": scenario.page_views_per_order,
        "hot_share": scenario.hot_share,
        "skus": skus,
        "users": scenario.users,
        "orders_per_user": scenario.orders_per_user,
        "lines": [min(scenario.lines[0], len(skus)), min(scenario.lines[1], len(skus))],
        "quantity": list(scenario.quantity),
        "retry_share": scenario.retry_share,
        "steps": list(scenario.steps),
        "step_seconds": scenario.step_seconds,
        "warmup_seconds": scenario.warmup_seconds,
        "pace_seconds": scenario.pace_seconds,
        "p99_limit_ms": scenario.p99_limit_ms,
    }


@dataclass(frozen=True)
class _ScenarioFiles:
    """What a scenario's Locust run reads (its plan) and writes (the orders it placed,
    its steps, and its CSV statistics under `prefix`)."""

    plan: Path
    orders: Path
    steps: Path
    prefix: Path

    @classmethod
    def written(cls, work: Path, name: str, plan: dict[str, Any]) -> "_ScenarioFiles":
        """The files of scenario `name` in `work`: the plan written, the others empty."""
        work.mkdir(exist_ok=True)
        files = cls(
            work / f"{name}-plan.json",
            work / f"{name}-orders.jsonl",
            work / f"{name}-steps.jsonl",
            work / name,
        )
        files.plan.write_text(json.dumps(plan))
        files.orders.write_text("")
        files.steps.write_text("")
        return files


def _worker_paused(backlog: bool) -> Path:
    """The file that pauses the order worker's queue, made when the scenario builds a
    backlog (removing it resumes the worker)."""
    from devtools.triggers import paused_sources

    worker_paused = paused_sources() / "OrderWorkerFunction"
    if backlog:
        worker_paused.parent.mkdir(exist_ok=True)
        worker_paused.touch()
    return worker_paused


def _held_backlog(
    stack: Any, outputs: dict[str, str], dynamodb: Any, placed: list[str]
) -> tuple[float, int]:
    """With the worker paused: seconds until every placed order is queued, and the
    orders decided all the same (0 unless something decides without the worker)."""
    relayed_seconds = _wait_until_queued(stack, outputs["OrderQueueUrl"], len(placed))
    held = _items(dynamodb, outputs["OrdersTableName"], "order_id", placed)
    decided_before_resume = sum(1 for item in held.values() if item["status"]["S"] != "PENDING")
    return relayed_seconds, decided_before_resume


def _backlog_figures(
    orders: int,
    placing_seconds: float,
    drain_seconds: float,
    relayed_seconds: float,
    decided_before_resume: int,
) -> dict[str, Any]:
    return {
        "decided_before_resume": decided_before_resume,
        "seconds_until_all_queued": round(placing_seconds + relayed_seconds, 1),
        "seconds_to_drain_backlog": round(drain_seconds, 1),
        "drained_per_second": round(orders / drain_seconds, 1),
    }


def _errors(failures: list[dict[str, str]]) -> dict[str, int]:
    """Locust's failures counted by kind (see _kind_of_failure)."""
    return dict(
        Counter(
            _kind_of_failure(row["Error"])
            for row in failures
            for _ in range(int(row["Occurrences"]))
        )
    )


def _run_locust(scenario: Scenario, api: str, files: _ScenarioFiles, work: Path) -> None:
    """Locust, headless, placing the scenario's orders through the API until it ends."""
    subprocess.run(
        [
            str(LOCUST),
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--host",
            api,
            "--users",
            str(scenario.users),
            "--spawn-rate",
            str(scenario.users),
            "--run-time",
            f"{scenario.run_seconds}s",
            "--stop-timeout",
            "10",
            "--csv",
            str(files.prefix),
            "--csv-full-history",
            "--only-summary",
            "--loglevel",
            "ERROR",
        ],
        env={
            **os.environ,
            "LOAD_PLAN": str(files.plan),
            "LOAD_ORDERS": str(files.orders),
            "LOAD_STEPS": str(files.steps),
        },
        cwd=work,
        capture_output=True,
        text=True,
        check=False,  # Locust exits 1 when a request failed: the failures are reported below
        timeout=scenario.run_seconds + 120,
    )


def _wait_until_decided(
    dynamodb: Any, orders_table: str, placed: list[str], deadline: float
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The placed orders read (strongly consistent) until none is PENDING or the deadline
    passes; and those still PENDING."""
    items: dict[str, dict[str, Any]] = {}
    pending = list(placed)
    while True:
        items |= _items(dynamodb, orders_table, "order_id", pending)
        pending = [
            i for i in placed if items.get(i, {}).get("status", {}).get("S", "PENDING") == "PENDING"
        ]
        if not pending or time.monotonic() > deadline:
            return items, pending
        time.sleep(0.5)


def _stock_figures(
    dynamodb: Any, products: str, skus: list[str], items: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The orders' outcomes, and whether the SKUs' stock adds up with the units held
    (CONFIRMED or PAID)."""
    confirmed: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for item in items.values():
        outcomes[item["status"]["S"]] += 1
        if item["status"]["S"] in HELD:
            for line in item["items"]["L"]:
                confirmed[line["M"]["sku"]["S"]] += int(line["M"]["quantity"]["N"])
    stock = _items(dynamodb, products, "sku", skus)
    oversold = sum(max(0, confirmed[sku] - int(stock[sku]["on_hand"]["N"])) for sku in skus)
    unbalanced = [
        sku
        for sku in skus
        if int(stock[sku]["available"]["N"]) + int(stock[sku]["reserved"]["N"])
        != int(stock[sku]["on_hand"]["N"])
        or int(stock[sku]["reserved"]["N"]) != confirmed[sku]
        or int(stock[sku]["available"]["N"]) < 0
    ]
    return {
        "outcomes": dict(outcomes),
        "units_confirmed": sum(confirmed.values()),
        "units_oversold": oversold,
        "skus_not_adding_up": unbalanced,
    }


def _wait_until_drained(stack: Any, queue_url: str, deadline: float) -> None:
    """Until the order queue holds no message, waiting or in flight (or the deadline):
    asking SQS costs the DynamoDB the worker writes to nothing."""
    import boto3

    sqs = boto3.client("sqs", endpoint_url=stack.endpoint)
    names: Any = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)
        if all(int(value) == 0 for value in attributes["Attributes"].values()):
            return
        time.sleep(0.5)


def _wait_until_queued(stack: Any, queue_url: str, orders: int) -> float:
    """Seconds until the relay has sent every placed order to the queue (or 300 s)."""
    import boto3

    sqs = boto3.client("sqs", endpoint_url=stack.endpoint)
    started = time.monotonic()
    while time.monotonic() - started < 300:
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        if int(attributes["ApproximateNumberOfMessages"]) >= orders:
            break
        time.sleep(0.5)
    return time.monotonic() - started


@dataclass(frozen=True)
class CatalogImport:
    """A merchant's catalog of `rows` new SKUs (a SKU a row: an update a row) uploaded
    to the import bucket, alone or while the `during` scenario runs."""

    name: str
    rows: int
    during: str | None = None
    finish_seconds: int = 900


IMPORTS_FULL = [
    CatalogImport("import", 10_000),
    CatalogImport("import-100k", 100_000),
    CatalogImport("import-under-load", 100_000, during="spread"),
]
IMPORTS_QUICK = [
    CatalogImport("import", 500),
    CatalogImport("import-under-load", 500, during="spread"),
]


def run_import(
    job: CatalogImport, stack: Any, outputs: dict[str, str], work: Path, during: Scenario | None
) -> list[dict[str, Any]]:
    """Uploads the catalog and waits for its report (following its checkpoints); with
    `during`, that scenario runs meanwhile. Every row must be imported."""
    import threading

    import boto3

    run = uuid.uuid4().hex[:6].upper()
    skus = [f"IMPORT-{run}-{n:06d}" for n in range(job.rows)]
    body = _catalog(skus)
    s3 = boto3.client("s3", endpoint_url=stack.endpoint)
    bucket, key = outputs["ImportBucketName"], f"imports/load/load-{run}.csv"
    scenario_results: list[dict[str, Any]] = []
    scenario = (
        threading.Thread(
            target=lambda: scenario_results.append(run_scenario(during, stack, outputs, work))
        )
        if during
        else None
    )
    if scenario:
        scenario.start()
        time.sleep(5)  # the scenario's customers under way first
    requests_before = request_counts(stack, ("CatalogImportFunction",))
    started = time.monotonic()
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
    report = _wait_for_report(s3, bucket, key, started + job.finish_seconds)
    seconds = time.monotonic() - started
    requests = request_counts(stack, ("CatalogImportFunction",)) - requests_before
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.dynamodb_endpoint or stack.endpoint)
    missing = _rows_missing_or_wrong(dynamodb, outputs["ProductsTableName"], skus)
    if scenario:
        scenario.join()
    result = {
        "scenario": {"name": job.name, "rows": job.rows, "during": job.during},
        "rows": job.rows,
        "status": report["status"],
        "imported": report.get("imported", 0),
        "rejected": report.get("rejected", 0),
        "invocations": report.get("invocations", 0),
        "seconds": round(seconds, 1),
        "rows_per_second": round(job.rows / seconds),
        "rows_missing_or_wrong": len(missing),
        "dynamodb_requests_per_row": round(
            sum(n for name, n in requests.items() if name.startswith("dynamodb."))
            / max(job.rows, 1),
            2,
        ),
    }
    return [result, *_under_import(scenario_results)]


def _catalog(skus: list[str]) -> str:
    """A CSV catalog of `skus`, the nth with n % 50 units on hand."""
    return "sku,name,unit_price_cents,currency,on_hand\n" + "".join(
        f"{sku},Imported {sku},{100 + n % 900},EUR,{n % 50}\n" for n, sku in enumerate(skus)
    )


def _wait_for_report(s3: Any, bucket: str, key: str, deadline: float) -> dict[str, Any]:
    """The import's report once the importer has written it (or NO REPORT at `deadline`)."""
    while time.monotonic() < deadline:
        try:
            found = s3.get_object(Bucket=bucket, Key=f"reports/{key}.json")
        except s3.exceptions.NoSuchKey:
            time.sleep(0.5)
            continue
        report: dict[str, Any] = json.loads(found["Body"].read())
        return report
    return {"status": "NO REPORT"}


def _rows_missing_or_wrong(dynamodb: Any, products: str, skus: list[str]) -> list[str]:
    """The catalog's SKUs not in the table, or not with the units the catalog gave them."""
    stored = _items(dynamodb, products, "sku", skus)
    return [
        sku
        for n, sku in enumerate(skus)
        if sku not in stored or int(stored[sku]["on_hand"]["N"]) != n % 50
    ]


def _under_import(scenario_results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The results of a scenario run during an import, named so, without the per-order
    request counts (the import's requests are in them)."""
    return [
        {
            **{k: v for k, v in r.items() if "per_order" not in k},
            "scenario": {**r["scenario"], "name": f"{r['scenario']['name']} (under import)"},
        }
        for r in scenario_results
    ]


# The functions an order passes through: the requests per order are theirs (the
# recommendation feed's history transaction for each confirmed order is not the order
# path's, and would count as a worker transaction).
ORDER_PATH = (
    "OrdersFunction",
    "OrderRelayFunction",
    "OrderWorkerFunction",
    "OrderReconcilerFunction",
)


def request_counts(stack: Any, functions: tuple[str, ...] = ORDER_PATH) -> Counter[str]:
    """The AWS requests the environments of `functions` have sent so far, by service and
    operation (devtools/runtime.py counts them in <function>-<pid>.json; each attempt
    counts)."""
    totals: Counter[str] = Counter()
    for file in (stack.local_dir / REQUEST_COUNTS).glob("*.json"):
        if file.name.rsplit("-", 1)[0] in functions:
            totals.update(json.loads(file.read_text()))
    return totals


def per_order(requests: Counter[str], orders: int) -> dict[str, Any]:
    """DynamoDB requests and transactions per order, and every operation's share."""
    dynamodb = {
        name.split(".", 1)[1]: n for name, n in requests.items() if name.startswith("dynamodb.")
    }
    return {
        "dynamodb_requests_per_order": round(sum(dynamodb.values()) / max(orders, 1), 2),
        "transactions_per_order": round(dynamodb.get("TransactWriteItems", 0) / max(orders, 1), 4),
        "requests_per_order": {
            name: round(n / max(orders, 1), 2)
            for name, n in sorted(requests.items())
            if not name.startswith("runtime.")  # invocations and CPU: not requests
        },
    }


def _kind_of_failure(error: str) -> str:
    """5xx, 4xx, doubled (a retry with the same key made a second order) or connection
    (no HTTP answer at all), from the error text Locust recorded."""
    if "doubled" in error:
        return "doubled"
    status = re.search(r"\b([45]\d\d)\b", error)
    return f"{status.group(1)[0]}xx" if status else "connection"


# The worker's designs: the template's handler (group commit), or the per-order baseline
# (bench/per_order_worker.py) run in its place by the local stack.
WORKERS = {"group": None, "per-order": "bench.per_order_worker.handler"}
# The orders API with its sold-out fast path (the template's handler), or without it
# (bench/orders_without_fast_path.py in its place: every loser goes to the worker).
FAST_PATH = {"on": None, "off": "bench.orders_without_fast_path.handler"}


# The shared cache tier behind the per-container one (the local stack's default), or not.
CACHE_TIERS = {"l2": "redis", "l1": "none"}


@dataclass(frozen=True)
class StackSetup:
    """What a run's local stack is made of; each is a column of the report."""

    backend: str = "dynamodb-local"
    worker: str = "group"
    fast_path: str = "on"
    cache: str = "l2"

    def environment(self, needs: tuple[int, int]) -> dict[str, str]:
        """The local stack's environment for this setup and a scenario's `needs`."""
        hold_minutes, environments = needs
        # The safety net off for the run: an order the outbox lost must show as stuck
        # here, not be quietly sent again by the reconciler.
        overrides = {
            "STOCKROOM_PARAMETER_OVERRIDES": f"StuckOrderSeconds=86400 HoldMinutes={hold_minutes}",
            "STOCKROOM_DYNAMODB": self.backend,
            "STOCKROOM_CACHE_TIER": CACHE_TIERS[self.cache],
            # Each product read by key counted (bench/sale_reads.py).
            "STOCKROOM_COUNT_READS_OF": sale_reads.WATCHED_TABLE,
            "STOCKROOM_MAX_ENVIRONMENTS": str(environments),
        }
        handlers = {
            "OrderWorkerFunction": WORKERS[self.worker],
            "OrdersFunction": FAST_PATH[self.fast_path],
        }
        if any(handlers.values()):
            overrides["STOCKROOM_HANDLER_OVERRIDES"] = " ".join(
                f"{function}={handler}" for function, handler in handlers.items() if handler
            )
        return overrides


def _start_stack(
    work: Path, setup: StackSetup, needs: tuple[int, int] = (0, 8)
) -> tuple[Any, dict[str, str]]:
    from devtools.local_stack import start_in_background

    name = "-".join([*asdict(setup).values(), *map(str, needs)])
    local = Path(tempfile.mkdtemp(prefix=f"local-{name}-", dir=work))
    log = local.with_name(f"stack-{local.name}.log")
    overrides = setup.environment(needs)
    (local / REQUEST_COUNTS).mkdir()
    overrides["STOCKROOM_REQUEST_COUNTS"] = str(local / REQUEST_COUNTS)
    stack = start_in_background(local, log, overrides)
    deadline = time.monotonic() + 120
    while "ready in" not in log.read_text():
        if stack.process.poll() is not None or time.monotonic() > deadline:
            stack.stop()
            raise SystemExit(f"the local stack did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    os.environ["STOCKROOM_LOCAL_DIR"] = str(local)  # tokens signed with this stack's key
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "eu-west-1",
        }
    )
    return stack, json.loads((local / "outputs.json").read_text())


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    if arguments.from_json:
        results = json.loads(arguments.from_json.read_text())
        measured = time.strftime("%Y-%m-%d", time.localtime(arguments.from_json.stat().st_mtime))
        report(results, arguments.page, measured)
        return 0
    if not arguments.quick:
        arguments.json = arguments.json or RESULTS
        arguments.page = arguments.page or PAGE
    if not LOCUST.exists():
        parser.error(f"Locust is not installed at {LOCUST.relative_to(ROOT)}: run `make load`")
    results = _run(parser, arguments)
    if arguments.json:
        results = _merged(arguments.json, results)
        arguments.json.write_text(json.dumps(results, indent=2) + "\n")
    report(results, arguments.page, time.strftime("%Y-%m-%d"))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (make test)")
    parser.add_argument(
        "--json",
        type=Path,
        help="merge the results into this file (a full run: bench/results/load.json)",
    )
    parser.add_argument(
        "--page", type=Path, help="write the results as markdown (a full run: docs/load.md)"
    )
    parser.add_argument("--from-json", type=Path, help="render saved results; run nothing")
    parser.add_argument(
        "--workers",
        default="group",
        help="the worker's designs to run each scenario with, side by side: group,per-order",
    )
    parser.add_argument(
        "--fast-path",
        default="on",
        help="the orders API with its sold-out fast path, without it, or both side by side: on,off",
    )
    parser.add_argument(
        "--cache",
        default="l2",
        help="the per-container cache with the shared tier behind it, alone, or both side "
        "by side: l2,l1",
    )
    parser.add_argument(
        "--backends",
        default="dynamodb-local",
        help="DynamoDB backends to run each scenario on, side by side: dynamodb-local,moto",
    )
    parser.add_argument(
        "--charts",
        type=Path,
        default=CHARTS,
        help="where each scenario's charts over time go (<scenario>.html, SVG beside it)",
    )
    parser.add_argument(
        "--profile-worker",
        type=Path,
        metavar="FOLDER",
        help="profile the order worker's environments (pyinstrument) into FOLDER: "
        "OrderWorkerFunction-<pid>-{cold,warm}.html",
    )
    parser.add_argument(
        "--scenarios",
        help="which to run, in order: spread, flash, flash-20k and sale-rules (full size "
        "only), import, import-100k (full size only), import-under-load; by default all but "
        "flash-20k and sale-rules",
    )
    return parser


def _run(parser: argparse.ArgumentParser, arguments: argparse.Namespace) -> list[dict[str, Any]]:
    """The wanted scenarios, in order, on a fresh stack for each backend, worker design
    and orders API (with or without the sold-out fast path)."""
    results = []
    if arguments.profile_worker:  # read by the stack's environments (devtools/runtime.py)
        os.environ["STOCKROOM_PROFILE"] = str(arguments.profile_worker.resolve())
        os.environ["STOCKROOM_PROFILE_FUNCTION"] = "OrderWorkerFunction"
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        scenarios = {s.name: s for s in (QUICK if arguments.quick else FULL)}
        imports = {i.name: i for i in (IMPORTS_QUICK if arguments.quick else IMPORTS_FULL)}
        wanted = (
            arguments.scenarios.split(",")
            if arguments.scenarios
            else [n for n in [*scenarios, *imports] if n not in ("flash-20k", "sale-rules")]
        )
        unknown = set(wanted) - set(scenarios) - set(imports)
        if unknown:
            parser.error(f"no such scenario: {', '.join(sorted(unknown))}")
        setups = [
            StackSetup(backend, worker, fast_path, cache)
            for backend in arguments.backends.split(",")
            for worker in arguments.workers.split(",")
            for fast_path in arguments.fast_path.split(",")
            for cache in arguments.cache.split(",")
        ]
        for setup in setups:
            # A stack for each kind the scenarios need (holds, environments), in turn.
            needs = [scenarios[n].stack_needs if n in scenarios else (0, 8) for n in wanted]
            running = needs[0] if needs else (0, 8)
            stack, outputs = _start_stack(work, setup, running)
            scenario_dir = work / "-".join(asdict(setup).values())
            try:
                for name, need in zip(wanted, needs, strict=True):
                    if need != running:
                        stack.stop()
                        running = need
                        stack, outputs = _start_stack(work, setup, need)
                    if name in scenarios:
                        found = [
                            run_scenario(
                                scenarios[name], stack, outputs, scenario_dir, arguments.charts
                            )
                        ]
                    else:
                        job = imports[name]
                        during = scenarios[job.during] if job.during else None
                        found = run_import(job, stack, outputs, scenario_dir, during)
                    today = time.strftime("%Y-%m-%d")
                    results += [{**asdict(setup), "measured": today, **result} for result in found]
            finally:
                stack.stop()
    return results


def _merged(saved: Path, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The results saved in `saved` (if any), each replaced by a new run of the same
    scenario on the same backend, and the new ones after them."""
    if not saved.exists():
        return results

    def run_of(r: dict[str, Any]) -> tuple[str, str, str, str, str]:
        return (
            r["backend"],
            r.get("worker", "per-order"),
            fast_path_of(r),
            cache_of(r),
            r["scenario"]["name"],
        )

    fresh = {run_of(r) for r in results}
    kept = [r for r in json.loads(saved.read_text()) if run_of(r) not in fresh]
    return kept + results


if __name__ == "__main__":
    sys.exit(main())
