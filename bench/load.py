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
    work.mkdir(exist_ok=True)
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
        items = _items(dynamodb, orders_table, "order_id", placed)
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
    errors = Counter(
        _kind_of_failure(row["Error"]) for row in failures for _ in range(int(row["Occurrences"]))
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


def _kind_of_failure(error: str) -> str:
    """5xx, 4xx, doubled (a retry with the same key made a second order) or connection
    (no HTTP answer at all), from the error text Locust recorded."""
    if "doubled" in error:
        return "doubled"
    status = re.search(r"\b([45]\d\d)\b", error)
    return f"{status.group(1)[0]}xx" if status else "connection"


def _start_stack(work: Path, backend: str) -> tuple[Any, dict[str, str]]:
    from devtools.local_stack import start_in_background

    local = work / f"local-{backend}"
    local.mkdir()
    log = work / f"stack-{backend}.log"
    # The safety net off for the run: an order the outbox lost must show as stuck here,
    # not be quietly sent again by the reconciler.
    overrides = {"STOCKROOM_PARAMETER_OVERRIDES": "StuckOrderSeconds=86400"}
    stack = start_in_background(local, log, overrides | {"STOCKROOM_DYNAMODB": backend})
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


def page(results: list[dict[str, Any]], measured: str) -> str:
    """docs/load.md: how the figures were made, and the figures."""
    scenarios = [
        f"- **{r['scenario']['name']}**: {r['scenario']['users']} Locust users, each placing "
        f"{r['scenario']['orders_per_user']} orders of {r['scenario']['lines'][0]}-"
        f"{r['scenario']['lines'][1]} lines ({r['scenario']['quantity'][0]}-"
        f"{r['scenario']['quantity'][1]} units each) with no pause, as "
        f"{r['scenario']['customers']} customers; {r['scenario']['skus']} SKUs of "
        f"{r['scenario']['units_per_sku']} units; {int(r['scenario']['retry_share'] * 100)}% "
        "of orders sent twice with the same Idempotency-Key; each order read back once placed."
        for r in {r["scenario"]["name"]: r for r in results}.values()
    ]
    return "\n".join(
        [
            "# The order path under load",
            "",
            "Generated by `make load` (`bench/load.py`); do not edit by hand.",
            f"Measured {measured} on this project's 2-core VM, through a fresh local stack:",
            "DynamoDB Local for DynamoDB (moto's where a column says moto), moto for SQS and S3,",
            "every function in warm processes of its own (at most 8 per function), the local",
            "HTTP API. Orders are counted from the first request to the moment every one of",
            f"them is decided; the wait ends {DECIDE_SECONDS} s after the last order is placed,",
            "and an order still PENDING then counts as stuck. A column per scenario and",
            "backend: several columns of one scenario are separate runs of it.",
            "",
            *scenarios,
            "",
            *table(results),
            "",
        ]
    )


def table(results: list[dict[str, Any]]) -> list[str]:
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
    lines = [
        "| | "
        + " | ".join(
            f"{r['scenario']['name']} ({r.get('backend', 'dynamodb-local')})" for r in results
        )
        + " |",
        "|---|" + "---|" * len(results),
    ]
    for label, key in rows:
        lines.append(f"| {label} | " + " | ".join(str(r[key]) for r in results) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (make test)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--page", type=Path, help="also write the results as markdown (docs/load.md)"
    )
    parser.add_argument("--from-json", type=Path, help="render saved results; run nothing")
    parser.add_argument(
        "--backends",
        default="dynamodb-local",
        help="DynamoDB backends to run each scenario on, side by side: dynamodb-local,moto",
    )
    parser.add_argument("--scenarios", default="spread,flash", help="which scenarios to run")
    arguments = parser.parse_args(argv)
    if arguments.from_json:
        results = json.loads(arguments.from_json.read_text())
        measured = time.strftime("%Y-%m-%d", time.localtime(arguments.from_json.stat().st_mtime))
        _report(results, arguments.page, measured)
        return 0
    if not LOCUST.exists():
        parser.error(f"Locust is not installed at {LOCUST.relative_to(ROOT)}: run `make load`")
    results = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for backend in arguments.backends.split(","):
            stack, outputs = _start_stack(work, backend)
            try:
                wanted = arguments.scenarios.split(",")
                for scenario in [
                    s for s in (QUICK if arguments.quick else FULL) if s.name in wanted
                ]:
                    result = run_scenario(scenario, stack, outputs, work / backend)
                    results.append({"backend": backend, **result})
            finally:
                stack.stop()
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2) + "\n")
    _report(results, arguments.page, time.strftime("%Y-%m-%d"))
    return 0


def _report(results: list[dict[str, Any]], page_file: Path | None, measured: str) -> None:
    print("\n".join(table(results)))
    if page_file:
        page_file.write_text(page(results, measured))


if __name__ == "__main__":
    sys.exit(main())
