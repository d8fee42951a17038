"""Order worker: a batch of 10 decided by the deployed handler, together (group commit),
and by the per-order baseline (bench/per_order_worker.py) record by record side by side
(one order a transaction), against the baseline deciding records one by one, with
DynamoDB Local over HTTP as DynamoDB and DynamoDB's per-request latency simulated. Then
full batches (the template's BatchSize) of a sale's orders (one SKU, a quarter in stock)
and of spread orders with each design: wall time, and the CPU time of this process,
which the scale model (bench/scale_model.py) stretches to a Lambda environment's share
of a vCPU.

  .venv/bin/python -m bench.worker_batch [--rounds N] [--latency-ms MS] [--dynamodb moto]
      [--profile FOLDER]

`--latency-ms` (default 5) is added to each DynamoDB request before it is sent, as the
network round trip to DynamoDB is (single-digit milliseconds in a region): what a batch
decided concurrently overlaps. DynamoDB Local serves requests concurrently; moto's
server (`--dynamodb moto`) answers one at a time, which no client-side concurrency can
beat.
"""

import contextlib
import json
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.cli import emit, harness_parser
from bench.endpoint import aws_endpoint, set_dynamodb_latency
from bench.seed import add_products, sample_event
from devtools.runtime import LocalContext
from devtools.template import function_properties

BATCH = 10
# The SKUs spread traffic's orders take their 3 lines from, in a full batch.
SPREAD_SKUS = 300


def run(
    rounds: int,
    latencies_ms: list[float],
    dynamodb: str | None = None,
    profiles: Path | None = None,
) -> dict[str, Any]:
    """The figures at each latency; the last latency's are the summary's own. With
    `profiles`, each design's full batches are profiled (pyinstrument) into that folder."""
    with aws_endpoint(dynamodb=dynamodb) as endpoints:
        by_latency = _measure(rounds, latencies_ms, profiles)
    return by_latency[-1] | {
        "backend": endpoints.backend,
        "by_latency": [
            {"latency_ms": figures["latency_ms"], "speedup": round(figures["speedup"], 2)}
            for figures in by_latency
        ],
    }


def _measure(rounds: int, latencies_ms: list[float], profiles: Path | None) -> list[dict[str, Any]]:
    bench = _WorkerBench(rounds)
    found = [bench.measure(latency_ms) for latency_ms in latencies_ms]
    found[-1]["full_batches"] = bench.measure_full_batches(latencies_ms[-1], profiles)
    return found


class _WorkerBench:
    """The deployed worker and relay handlers against a freshly provisioned stack, with
    what every measurement shares: the request counter, the SQS record every message is
    made from, and the SKUs spread traffic orders."""

    def __init__(self, rounds: int) -> None:
        from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

        from devtools.handlers import import_handler_module
        from devtools.provision import provision

        physical = provision()  # first: the handlers read their environment at import
        os.environ.update(physical.function_environment("OrderWorkerFunction"))
        os.environ.update(physical.function_environment("OrdersFunction"))
        os.environ.update(physical.function_environment("OrderRelayFunction"))
        os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
        self.order_worker = import_handler_module("OrderWorkerFunction")
        self.order_relay = import_handler_module("OrderRelayFunction")
        import_handler_module("OrdersFunction")  # places the orders: its folder on the path
        from bench import per_order_worker  # the baseline: the order worker's folder on the path

        self.per_order_worker = per_order_worker
        from bench.usage import Usage
        from stockroom import aws

        self.rounds = rounds
        self.usage = Usage()
        self.usage.watch(aws.dynamodb())
        self.usage.watch(aws.sqs())
        self.sequential = BatchProcessor(event_type=EventType.SQS)
        self.sample = sample_event("order_placed_sqs")["Records"][0]
        from bench.scale_model import Worker

        self.full_size = Worker.deployed().batch_size  # a full batch, as deployed
        self.spread_skus = [f"SPREAD-{n}" for n in range(SPREAD_SKUS)]
        add_products(self.spread_skus, on_hand=1_000_000)

    def relay_event(self, order_ids: list[str]) -> dict[str, Any]:
        """The orders' INSERT records as the table's stream delivers them."""
        from stockroom import aws

        records = []
        for order_id in order_ids:
            item = aws.dynamodb().get_item(
                TableName=os.environ["ORDERS_TABLE_NAME"], Key={"order_id": {"S": order_id}}
            )["Item"]
            (record,) = sample_event("order_placed_stream")["Records"]
            record["dynamodb"]["Keys"] = {"order_id": item["order_id"]}
            record["dynamodb"]["NewImage"] = item
            records.append(record)
        return {"Records": records}

    def placed(
        self, prefix: str, orders: list[list[tuple[str, int]]]
    ) -> tuple[dict[str, Any], list[str]]:
        """Each of `orders` (its lines: SKU, quantity) placed, and the queue's batch of
        messages for them with their ids."""
        from orders import place_order
        from stockroom.models import PlaceOrderRequest

        order_ids = [
            place_order(
                "bench",
                PlaceOrderRequest.model_validate(
                    {"items": [{"sku": sku, "quantity": q} for sku, q in lines]}
                ),
            ).order_id
            for lines in orders
        ]
        records = [
            self.sample | {"messageId": f"{prefix}-{n}", "body": json.dumps({"order_id": order_id})}
            for n, order_id in enumerate(order_ids)
        ]
        return {"Records": records}, order_ids

    def batch_event(self, prefix: str) -> tuple[dict[str, Any], list[str]]:
        """A batch of the queue's messages for newly placed orders, and their ids: an
        order a SKU, as in a store's steady traffic (a hot SKU is the flash sale's case)."""
        skus = [f"{prefix}-{n}" for n in range(BATCH)]
        add_products(skus, on_hand=1000, unit_price_cents=100)
        return self.placed(prefix, [[(sku, 1)] for sku in skus])

    def measure(self, latency_ms: float) -> dict[str, Any]:
        set_dynamodb_latency(latency_ms)
        timings: dict[str, list[float]] = {
            "group": [],
            "concurrent": [],
            "one_by_one": [],
            "relay": [],
        }
        usage_per_order: dict[str, dict[str, Any]] = {}
        for round_number in range(self.rounds):
            for variant in ("group", "concurrent", "one_by_one"):
                self.measure_round(
                    f"BENCH-{latency_ms:g}-{variant}-{round_number}",
                    variant,
                    timings,
                    usage_per_order,
                )
        set_dynamodb_latency(0)
        summary: dict[str, Any] = {
            variant: {
                "median_s": statistics.median(values),
                "min_s": min(values),
                "max_s": max(values),
                "orders_per_s": BATCH / statistics.median(values),
                "per_order": usage_per_order[variant],
            }
            for variant, values in timings.items()
        }
        summary["speedup"] = summary["one_by_one"]["median_s"] / summary["concurrent"]["median_s"]
        summary["group_speedup"] = summary["one_by_one"]["median_s"] / summary["group"]["median_s"]
        summary["batch"] = BATCH
        summary["latency_ms"] = latency_ms
        return summary

    def measure_round(
        self,
        prefix: str,
        variant: str,
        timings: dict[str, list[float]],
        usage_per_order: dict[str, dict[str, Any]],
    ) -> None:
        from aws_lambda_powertools.utilities.batch import process_partial_response

        event, order_ids = self.batch_event(prefix)
        if variant == "concurrent":
            self.measure_relay(order_ids, timings, usage_per_order)
        self.usage.clear()
        context = _context("OrderWorkerFunction")
        # The deployed handler, deciding the batch together (group commit), or the
        # per-order baseline deciding each record alone, side by side or one by one.
        started = time.perf_counter()
        if variant == "group":
            response = self.order_worker.handler(event, context)
        elif variant == "concurrent":
            response = self.per_order_worker.handler(event, context)
        else:
            response = process_partial_response(
                event=event,
                record_handler=self.per_order_worker.decide_message,
                processor=self.sequential,
                context=context,  # type: ignore[arg-type]  # has what Powertools reads
            )
        timings[variant].append(time.perf_counter() - started)
        assert response["batchItemFailures"] == [], response
        usage_per_order[variant] = self.usage.per(BATCH)

    def measure_relay(
        self,
        order_ids: list[str],
        timings: dict[str, list[float]],
        usage_per_order: dict[str, dict[str, Any]],
    ) -> None:
        """The relay forwarding the orders' stream records to the queue."""
        relayed = self.relay_event(order_ids)
        self.usage.clear()
        started = time.perf_counter()
        relay_response = self.order_relay.handler(relayed, _context("OrderRelayFunction"))
        timings["relay"].append(time.perf_counter() - started)
        assert relay_response["batchItemFailures"] == [], relay_response
        usage_per_order["relay"] = self.usage.per(BATCH)

    def full_batch(self, traffic: str, prefix: str) -> dict[str, Any]:
        """A full batch (the template's BatchSize) of `traffic`'s orders, as the queue delivers
        them: a sale's one-unit orders of one SKU with a quarter of them in stock, or
        spread orders of 3 lines over SPREAD_SKUS SKUs with ample stock."""
        rng = random.Random(prefix)
        if traffic == "flash":
            add_products([prefix], on_hand=self.full_size // 4)
            lines = [[(prefix, 1)] for _ in range(self.full_size)]
        else:
            lines = [
                [(sku, rng.randint(1, 3)) for sku in rng.sample(self.spread_skus, 3)]
                for _ in range(self.full_size)
            ]
        return self.placed(prefix, lines)[0]

    def measure_full_batches(
        self, latency_ms: float, profiles: Path | None = None
    ) -> dict[str, Any]:
        """Each design deciding full batches of each traffic, a batch of each in turn:
        wall and CPU time a batch. For the sale's batches, also the deployed handler
        writing its rejections one by one, as it did before it wrote them together."""
        figures: dict[str, Any] = {"batch": self.full_size, "latency_ms": latency_ms}
        context = _context("OrderWorkerFunction")
        for traffic in ("flash", "spread"):
            designs = ["group", "per_order"] + (
                ["group_rejecting_alone"] if traffic == "flash" else []
            )
            walls: dict[str, list[float]] = {design: [] for design in designs}
            cpus: dict[str, list[float]] = {design: [] for design in designs}
            usage: dict[str, dict[str, Any]] = {}
            profilers = {design: _profiler(profiles) for design in designs}
            for round_number in range(self.rounds):
                for design in designs:
                    event = self.full_batch(traffic, f"FULL-{traffic}-{design}-{round_number}")
                    with profilers[design]:
                        wall, cpu = self.decide_full_batch(design, event, latency_ms, context)
                    walls[design].append(wall)
                    cpus[design].append(cpu)
                    usage[design] = self.usage.per(self.full_size)
            if profiles:
                for design, profiler in profilers.items():
                    page = profiles / f"{traffic}-{design}.html"
                    page.write_text(profiler.output_html())
            figures[traffic] = {
                design: {
                    "median_s": statistics.median(walls[design]),
                    "cpu_s": statistics.median(cpus[design]),
                    "per_order": usage[design],
                }
                for design in designs
            }
        return figures

    def decide_full_batch(
        self, design: str, event: dict[str, Any], latency_ms: float, context: LocalContext
    ) -> tuple[float, float]:
        """Wall and CPU seconds of `design` deciding the batch."""
        from stockroom.dal import orders as orders_table

        worker = self.per_order_worker if design == "per_order" else self.order_worker
        together = orders_table.set_statuses
        if design == "group_rejecting_alone":  # no transaction takes them: one by one
            orders_table.set_statuses = lambda *_: False
        set_dynamodb_latency(latency_ms)
        self.usage.clear()
        try:
            started, cpu = time.perf_counter(), time.process_time()
            response = worker.handler(event, context)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        finally:
            set_dynamodb_latency(0)
            orders_table.set_statuses = together
        assert response["batchItemFailures"] == [], response
        return wall, cpu


def _profiler(folder: Path | None) -> Any:
    """A pyinstrument profiler to run a design's batches under, or nothing to."""
    if folder is None:
        return contextlib.nullcontext()
    from pyinstrument import Profiler

    folder.mkdir(parents=True, exist_ok=True)
    return Profiler(interval=0.0005)


def _context(function: str) -> LocalContext:
    """A Lambda context for `function`, with its timeout from the template."""
    return LocalContext(function, function_properties(function)["Timeout"])


def print_table(summary: dict[str, Any], out: Callable[[str], None] = print) -> None:
    out(
        f"order worker, batch of {BATCH}, {summary.get('backend', 'moto')} over HTTP, "
        f"+{summary['latency_ms']:g} ms per DynamoDB request"
    )
    header = ("variant", "median ms", "min ms", "max ms", "orders/s", "calls per order")
    out("{:<12} {:>10} {:>8} {:>8} {:>9}  {}".format(*header))
    for variant in ("group", "concurrent", "one_by_one", "relay"):
        row = summary[variant]
        calls = ", ".join(f"{name} {n:g}" for name, n in row["per_order"]["calls"].items())
        out(
            f"{variant:<12} {row['median_s'] * 1000:>10.1f} {row['min_s'] * 1000:>8.1f} "
            f"{row['max_s'] * 1000:>8.1f} {row['orders_per_s']:>9.0f}  {calls}"
        )
    out(
        f"batch speedup over one by one: {summary['speedup']:.2f}x side by side, "
        f"{summary.get('group_speedup', 0):.2f}x together"
    )
    for figures in summary.get("by_latency", [])[:-1]:
        out(f"  at +{figures['latency_ms']:g} ms per request: {figures['speedup']:.2f}x")
    full = summary["full_batches"]
    out(
        f"full batches of {full['batch']}, +{full['latency_ms']:g} ms per DynamoDB request "
        "(flash: one SKU, a quarter in stock; spread: 3 lines each, ample stock)"
    )
    out(
        "{:<8} {:<22} {:>8} {:>7} {:>10}  {}".format(
            "traffic", "design", "wall ms", "CPU ms", "CPU/order", "calls per order"
        )
    )
    for traffic in ("flash", "spread"):
        for design, row in full[traffic].items():
            calls = ", ".join(f"{name} {n:g}" for name, n in row["per_order"]["calls"].items())
            out(
                f"{traffic:<8} {design:<22} {row['median_s'] * 1000:>8.1f} "
                f"{row['cpu_s'] * 1000:>7.1f} {row['cpu_s'] * 1000 / full['batch']:>10.2f}  {calls}"
            )


def main() -> None:
    parser = harness_parser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--latency-ms",
        type=float,
        nargs="+",
        default=[5.0, 10.0],
        help="each a run; the last one's figures are the summary's",
    )
    parser.add_argument("--dynamodb", choices=("dynamodb-local", "moto"), help="the backend")
    parser.add_argument(
        "--profile",
        type=Path,
        help="profile each design's full batches (pyinstrument): FOLDER/<traffic>-<design>.html",
    )
    args = parser.parse_args()
    emit(run(args.rounds, args.latency_ms, args.dynamodb, args.profile), args.json, print_table)


if __name__ == "__main__":
    main()
