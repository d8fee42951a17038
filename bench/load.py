"""`make load`: the order path under load, through a fresh local stack (DynamoDB Local,
every function, the local API), driven by Locust in headless mode (bench/locustfile.py).

Scenarios, each bounded in orders and time, each ending only when every order is decided:
  spread  many SKUs with ample stock, orders of 1-5 lines from many customers;
  flash   one SKU with scarce stock, one-unit orders from many customers at once.

Reported per scenario: orders accepted per second, POST /orders p50/p99, seconds until
every order is decided and orders decided per second; and the invariants: units
oversold, orders stuck PENDING, orders doubled by a retried request, 5xx and connection
errors (all must be 0), CONFIRMED units equal to the reserved units.

    python -m bench.load [--quick] [--json FILE]
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from devtools.template import ROOT

LOCUST = ROOT / ".tools" / "locust" / "bin" / "locust"
LOCUSTFILE = ROOT / "bench" / "locustfile.py"
DECIDE_SECONDS = 300  # every order decided within this, or it counts as stuck


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

    @property
    def orders(self) -> int:
        return self.users * self.orders_per_user


FULL = [
    Scenario("spread", 1000, 1_000_000, 64, 40, (1, 5), (1, 3), 500, 300),
    Scenario("flash", 1, 500, 64, 32, (1, 1), (1, 1), 2000, 300),
]
QUICK = [
    Scenario("spread", 40, 1_000_000, 16, 8, (1, 5), (1, 3), 50, 120),
    Scenario("flash", 1, 40, 16, 8, (1, 1), (1, 1), 100, 120),
]


def _put_products(dynamodb: Any, table: str, skus: list[str], units: int) -> None:
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
                    }
                }
            }
            for sku in skus[start : start + 25]
        ]
        pending: Any = {table: requests}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems")


def _statuses(dynamodb: Any, table: str, order_ids: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(order_ids), 100):
        keys: Any = {
            table: {"Keys": [{"order_id": {"S": i}} for i in order_ids[start : start + 100]]}
        }
        while keys:
            response = dynamodb.batch_get_item(RequestItems=keys)
            for item in response["Responses"].get(table, []):
                found[item["order_id"]["S"]] = item
            keys = response.get("UnprocessedKeys")
    return found


def _locust_stats(prefix: Path) -> tuple[dict[str, dict[str, str]], list[dict[str, str]]]:
    with Path(f"{prefix}_stats.csv").open() as rows:
        stats = {row["Name"]: row for row in csv.DictReader(rows)}
    with Path(f"{prefix}_failures.csv").open() as rows:
        failures = list(csv.DictReader(rows))
    return stats, failures


def run_scenario(
    scenario: Scenario, stack: Any, outputs: dict[str, str], work: Path
) -> dict[str, Any]:
    import boto3

    from devtools.http_api import make_token

    run = uuid.uuid4().hex[:6].upper()
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.dynamodb_endpoint or stack.endpoint)
    products, orders_table = outputs["ProductsTableName"], outputs["OrdersTableName"]
    skus = [f"LOAD-{scenario.name.upper()}-{run}-{n}" for n in range(scenario.skus)]
    _put_products(dynamodb, products, skus, scenario.units_per_sku)
    plan = {
        "tokens": [make_token(f"load-{run}-{n}") for n in range(scenario.customers)],
        "skus": skus,
        "users": scenario.users,
        "orders_per_user": scenario.orders_per_user,
        "lines": [min(scenario.lines[0], len(skus)), min(scenario.lines[1], len(skus))],
        "quantity": list(scenario.quantity),
        "retry_share": scenario.retry_share,
    }
    plan_file, orders_file = (
        work / f"{scenario.name}-plan.json",
        work / f"{scenario.name}-orders.jsonl",
    )
    plan_file.write_text(json.dumps(plan))
    orders_file.write_text("")
    prefix = work / scenario.name
    started = time.monotonic()
    subprocess.run(
        [
            str(LOCUST),
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--host",
            stack.api,
            "--users",
            str(scenario.users),
            "--spawn-rate",
            str(scenario.users),
            "--run-time",
            f"{scenario.run_seconds}s",
            "--stop-timeout",
            "10",
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "ERROR",
        ],
        env={**os.environ, "LOAD_PLAN": str(plan_file), "LOAD_ORDERS": str(orders_file)},
        cwd=work,
        capture_output=True,
        text=True,
        check=False,  # Locust exits 1 when a request failed: the failures are reported below
        timeout=scenario.run_seconds + 120,
    )
    placing_seconds = time.monotonic() - started
    placed = [json.loads(line)["order_id"] for line in orders_file.read_text().splitlines()]
    deadline = time.monotonic() + DECIDE_SECONDS
    while True:
        items = _statuses(dynamodb, orders_table, placed)
        pending = [
            i for i in placed if items.get(i, {}).get("status", {}).get("S", "PENDING") == "PENDING"
        ]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    decided_seconds = time.monotonic() - started
    stats, failures = _locust_stats(prefix)
    post = stats.get("POST /orders", {})
    confirmed: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for item in items.values():
        outcomes[item["status"]["S"]] += 1
        if item["status"]["S"] == "CONFIRMED":
            for line in item["items"]["L"]:
                confirmed[line["M"]["sku"]["S"]] += int(line["M"]["quantity"]["N"])
    stock = _statuses_of_products(dynamodb, products, skus)
    oversold = sum(max(0, confirmed[sku] - int(stock[sku]["on_hand"]["N"])) for sku in skus)
    unbalanced = [
        sku
        for sku in skus
        if int(stock[sku]["available"]["N"]) + int(stock[sku]["reserved"]["N"])
        != int(stock[sku]["on_hand"]["N"])
        or int(stock[sku]["reserved"]["N"]) != confirmed[sku]
        or int(stock[sku]["available"]["N"]) < 0
    ]
    errors = Counter(
        "5xx"
        if row["Error"].startswith("5")
        else "doubled"
        if "doubled" in row["Error"]
        else "4xx"
        if row["Error"][:1] == "4"
        else "connection"
        for row in failures
        for _ in range(int(row["Occurrences"]))
    )
    return {
        "scenario": asdict(scenario),
        "orders_placed": len(placed),
        "accepted_per_second": round(len(placed) / placing_seconds, 1),
        "post_orders_p50_ms": float(post.get("50%") or 0),
        "post_orders_p99_ms": float(post.get("99%") or 0),
        "seconds_until_all_decided": round(decided_seconds, 1),
        "decided_per_second": round(len(placed) / decided_seconds, 1),
        "outcomes": dict(outcomes),
        "units_confirmed": sum(confirmed.values()),
        "units_oversold": oversold,
        "skus_not_adding_up": unbalanced,
        "orders_stuck_pending": len(pending),
        "errors": dict(errors),
    }


def _statuses_of_products(dynamodb: Any, table: str, skus: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(skus), 100):
        keys: Any = {
            table: {
                "Keys": [{"sku": {"S": s}} for s in skus[start : start + 100]],
                "ConsistentRead": True,
            }
        }
        while keys:
            response = dynamodb.batch_get_item(RequestItems=keys)
            for item in response["Responses"].get(table, []):
                found[item["sku"]["S"]] = item
            keys = response.get("UnprocessedKeys")
    return found


def _start_stack(work: Path) -> tuple[Any, dict[str, str]]:
    from devtools.local_stack import start_in_background

    local = work / "local"
    local.mkdir()
    log = work / "stack.log"
    # The safety net off for the run: an order the outbox lost must show as stuck here,
    # not be quietly sent again by the reconciler.
    stack = start_in_background(
        local, log, {"STOCKROOM_PARAMETER_OVERRIDES": "StuckOrderSeconds=86400"}
    )
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


def print_table(results: list[dict[str, Any]]) -> None:
    rows = [
        ("orders placed", "orders_placed"),
        ("accepted per second", "accepted_per_second"),
        ("POST /orders p50 ms", "post_orders_p50_ms"),
        ("POST /orders p99 ms", "post_orders_p99_ms"),
        ("seconds until all decided", "seconds_until_all_decided"),
        ("decided per second", "decided_per_second"),
        ("outcomes", "outcomes"),
        ("units oversold (0)", "units_oversold"),
        ("SKUs not adding up (none)", "skus_not_adding_up"),
        ("orders stuck PENDING (0)", "orders_stuck_pending"),
        ("errors (none)", "errors"),
    ]
    print("| | " + " | ".join(r["scenario"]["name"] for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for label, key in rows:
        print(f"| {label} | " + " | ".join(str(r[key]) for r in results) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (make test)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    arguments = parser.parse_args(argv)
    if not LOCUST.exists():
        parser.error(f"Locust is not installed at {LOCUST.relative_to(ROOT)}: run `make load`")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        stack, outputs = _start_stack(work)
        try:
            results = [
                run_scenario(scenario, stack, outputs, work)
                for scenario in (QUICK if arguments.quick else FULL)
            ]
        finally:
            stack.stop()
    print_table(results)
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
