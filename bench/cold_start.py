"""Cold start: a fresh interpreter importing a handler module, having its DynamoDB
client, and serving its first event, as Lambda's init and first invocation do, for every
function, the boto3 floor (bench/floor.py), the framework floor (bench/framework_floor.py:
pydantic, Powertools' validating resolver, Logger and Metrics, and no code of ours), the
numpy floor (bench/numpy_floor.py: the boto3 floor and numpy, for the trainer), the
FastAPI + Mangum variants (bench/fastapi) and the catalog traced as before
(bench/traced_catalog.py: Powertools Tracer and the X-Ray SDK), against the local
endpoints over HTTP (DynamoDB Local, moto for S3 and SQS).

  .venv/bin/python -m bench.cold_start [--runs N] [--json]

Runs are interleaved (one fresh interpreter of each variant in turn, N rounds), so a
noisy moment weighs on every variant alike. "ready" is import plus a DynamoDB client
(each handler creates it at import; the probe asks for it to make sure), the floor's
`import boto3` and one client; "total" adds the first event. Each is shown against the
boto3 floor and, "x fw", against the framework floor: what our own code adds.

Each run gets the function's environment from the template and what Lambda's runtime
adds (LAMBDA_TASK_ROOT, the function's name and memory, a sampled trace id), so what
is traced when deployed is traced here; X-Ray segments go to a UDP port nobody reads.
"""

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cli import sized_command
from bench.endpoint import aws_endpoint
from bench.seed import add_products, sample_event
from bench.stats import spread
from devtools.template import ROOT, function_properties, handler_location

# How the probe times one cold start; nothing but the standard library is imported
# before the clock starts.
_PROBE = """
import importlib, json, sys, time
spec = json.loads(sys.argv[1])
with open(spec["event"]) as file:
    event = json.load(file)

class Context:
    function_name = spec["function_name"]
    function_version = "$LATEST"
    memory_limit_in_mb = spec["memory"]
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:" + function_name
    aws_request_id = "cold-start"
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "cold-start"
    def get_remaining_time_in_millis(self):
        return 10_000

started = time.perf_counter()
module = importlib.import_module(spec["module"])
exec(spec["client"])
ready = time.perf_counter()
result = module.handler(event, Context())
served = time.perf_counter()
print("\\n" + json.dumps({
    "ready_ms": (ready - started) * 1000,
    "first_event_ms": (served - ready) * 1000,
    "total_ms": (served - started) * 1000,
    "result": result,
}, default=str))
"""


TRACED = "catalog + X-Ray Tracer"
FRAMEWORK = "framework floor"
NUMPY = "numpy floor"

# What Lambda sets for a sampled invocation of a function with active tracing.
TRACE_ID = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


@dataclass(frozen=True)
class Variant:
    """One thing whose cold start is measured: a handler module and where it runs."""

    name: str
    function: str  # the template function whose environment, memory and event it takes
    module: str
    path: tuple[Path, ...]
    # How the probe makes sure the DynamoDB client exists (the floor creates its own).
    client: str = "from stockroom import aws; aws.dynamodb()"


def variants() -> list[Variant]:
    layer = ROOT / "layers" / "common"
    found = [
        Variant("boto3 floor", "CatalogFunction", "bench.floor", (ROOT,), client="pass"),
        Variant(FRAMEWORK, "CatalogFunction", "bench.framework_floor", (ROOT,), client="pass"),
        Variant(NUMPY, "CatalogFunction", "bench.numpy_floor", (ROOT,), client="pass"),
    ]
    for function in (
        "CatalogFunction",
        "OrdersFunction",
        "OrderRelayFunction",
        "OrderWorkerFunction",
        "CatalogImportFunction",
        "OrderReconcilerFunction",
        "RecommendationsFunction",
        "RecommendationFeedFunction",
        "RecommendationTrainerFunction",
    ):
        location = handler_location(function)
        found.append(Variant(function, function, location.module, (location.folder, layer)))
    catalog = handler_location("CatalogFunction").folder
    found.append(Variant(TRACED, "CatalogFunction", "bench.traced_catalog", (catalog, layer, ROOT)))
    found.append(
        Variant("FastAPI catalog", "CatalogFunction", "bench.fastapi.catalog", (ROOT, layer))
    )
    orders = handler_location("OrdersFunction").folder  # the FastAPI variant runs its logic
    found.append(
        Variant("FastAPI orders", "OrdersFunction", "bench.fastapi.orders", (ROOT, layer, orders))
    )
    return found


def _served(function: str, result: Any) -> bool:
    """Whether the first event was served, not failed."""
    if function in ("CatalogFunction", "OrdersFunction", "RecommendationsFunction"):
        return isinstance(result, dict) and 200 <= result.get("statusCode", 500) < 300
    if function == "CatalogImportFunction":
        return all(item["outcome"] == "SUCCEEDED" for item in result["objects"])
    return not (isinstance(result, dict) and result.get("batchItemFailures"))


class Events:
    """A fresh first event for each run (an order to decide, a file to import), built on
    the samples in events/ against the provisioned stack."""

    def __init__(self, physical: Any, folder: Path) -> None:
        self.physical = physical
        self.folder = folder
        self.count = 0
        add_products(["SKU-001", "SKU-002"], on_hand=1_000_000)

    def _place_order(self) -> str:
        from orders import place_order
        from stockroom.models import PlaceOrderRequest

        request = PlaceOrderRequest.model_validate({"items": [{"sku": "SKU-001", "quantity": 1}]})
        return place_order("cold-start", request).order_id

    def _import_file(self) -> dict[str, Any]:
        import boto3

        from devtools.buckets import object_put_event

        bucket = self.physical["ImportBucket"]
        key = f"imports/bench/cold-start-{uuid.uuid4().hex}.csv"
        body = "sku,name,unit_price_cents,currency,on_hand\nCOLD-1,Cold start,100,EUR,5\n"
        boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body.encode())
        return object_put_event(bucket, key)

    def build(self, function: str) -> dict[str, Any]:
        if function == "CatalogFunction":
            return sample_event("get_product")
        if function == "OrdersFunction":
            event = sample_event("place_order")
            event["headers"]["idempotency-key"] = uuid.uuid4().hex
            return event
        if function == "OrderRelayFunction":
            return sample_event("order_placed_stream")
        if function == "RecommendationsFunction":
            return sample_event("related_products")
        if function == "OrderReconcilerFunction":
            return sample_event("order_reconciler_scheduled")
        if function == "RecommendationTrainerFunction":
            return sample_event("recommendation_trainer_scheduled")
        if function == "RecommendationFeedFunction":  # an order it has not learned from
            event = sample_event("order_confirmed_stream")
            order_id = {"S": str(uuid.uuid4())}
            event["Records"][0]["dynamodb"]["Keys"]["order_id"] = order_id
            event["Records"][0]["dynamodb"]["NewImage"]["order_id"] = order_id
            return event
        if function == "OrderWorkerFunction":
            event = sample_event("order_placed_sqs")
            event["Records"] = event["Records"][:1]
            event["Records"][0]["body"] = json.dumps({"order_id": self._place_order()})
            return event
        return self._import_file()

    def write(self, function: str) -> Path:
        self.count += 1
        path = self.folder / f"event-{self.count}.json"
        path.write_text(json.dumps(self.build(function)))
        return path


def _environment(variant: Variant, physical: Any, local_aws: dict[str, str]) -> dict[str, str]:
    from devtools.cold_import import isolated_environment

    properties = function_properties(variant.function)
    name = f"stockroom-{variant.function}"
    env = isolated_environment(variant.path)
    env.update(physical.function_environment(variant.function))
    env.update(
        {
            key: value
            for key, value in local_aws.items()
            if not key.startswith("POWERTOOLS_")  # traced and measured, as deployed
        }
    )
    env.update(
        {
            "LAMBDA_TASK_ROOT": str(variant.path[0]),
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(properties["MemorySize"]),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "_X_AMZN_TRACE_ID": TRACE_ID,
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        }
    )
    return env


def _probe(
    variant: Variant, env: dict[str, str], event: Path, *flags: str
) -> tuple[dict[str, Any], str]:
    spec = {
        "module": variant.module,
        "client": variant.client,
        "event": str(event),
        "function_name": env["AWS_LAMBDA_FUNCTION_NAME"],
        "memory": int(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]),
    }
    completed = subprocess.run(
        [sys.executable, *flags, "-c", _PROBE, json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if completed.returncode:
        raise RuntimeError(f"{variant.name} failed its cold start:\n{completed.stderr[-3000:]}")
    outcome: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    if not _served(variant.function, outcome["result"]):
        raise RuntimeError(f"{variant.name} did not serve its first event: {outcome['result']}")
    return outcome, completed.stderr


def heaviest_imports(importtime: str, count: int) -> list[dict[str, Any]]:
    """`-X importtime` output summed by top-level package (self times), heaviest first."""
    by_package: dict[str, int] = defaultdict(int)
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        by_package[name.split(".")[0]] += int(self_us)
    heaviest = sorted(by_package.items(), key=lambda item: item[1], reverse=True)[:count]
    return [{"package": package, "ms": round(us / 1000, 1)} for package, us in heaviest]


def run(runs: int) -> dict[str, Any]:
    with aws_endpoint() as endpoints, tempfile.TemporaryDirectory() as folder:
        from devtools.handlers import import_handler_module
        from devtools.provision import provision

        physical = provision()
        for function in ("OrdersFunction", "CatalogImportFunction"):
            os.environ.update(physical.function_environment(function))
        import_handler_module("OrdersFunction")  # its folder and the layer on this path
        events = Events(physical, Path(folder))
        measured = variants()
        environments = {v.name: _environment(v, physical, endpoints.environment) for v in measured}
        for variant in measured:  # the first run of each writes .pyc files
            _probe(variant, environments[variant.name], events.write(variant.function))
        samples: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for _ in range(runs):
            for variant in measured:
                env = environments[variant.name]
                outcome, _ = _probe(variant, env, events.write(variant.function))
                for key in ("ready_ms", "first_event_ms", "total_ms"):
                    samples[variant.name][key].append(outcome[key])
        summary: dict[str, Any] = {"runs": runs, "interleaved": True, "variants": {}}
        for variant in measured:
            env = environments[variant.name]
            _, importtime = _probe(variant, env, events.write(variant.function), "-X", "importtime")
            summary["variants"][variant.name] = {
                "module": variant.module,
                **{key: spread(values) for key, values in samples[variant.name].items()},
                "heaviest_imports": heaviest_imports(importtime, 6),
            }
    floor, framework = summary["variants"]["boto3 floor"], summary["variants"][FRAMEWORK]
    for figures in summary["variants"].values():
        for key, ratio in (("ready_ms", "ready_x_floor"), ("total_ms", "x_floor")):
            figures[ratio] = round(figures[key]["median_ms"] / floor[key]["median_ms"], 2)
        figures["ready_x_framework"] = round(
            figures["ready_ms"]["median_ms"] / framework["ready_ms"]["median_ms"], 2
        )
    return summary


Printer = Callable[[str], None]


def print_table(summary: dict[str, Any], out: Printer = print) -> None:
    out(
        f"cold start, median of {summary['runs']} fresh interpreters a variant, interleaved;"
        " ready = import + DynamoDB client, total = ready + first event"
    )
    columns = ("variant", "ready ms", "x floor", "x fw", "event", "total ms", "min", "max")
    out("{:<24} {:>9} {:>8} {:>6} {:>7} {:>9} {:>7} {:>7} {:>8}".format(*columns, "x floor"))
    for name, figures in summary["variants"].items():
        total = figures["total_ms"]
        ready, event = figures["ready_ms"]["median_ms"], figures["first_event_ms"]["median_ms"]
        out(
            f"{name:<24} {ready:>9.1f} {figures['ready_x_floor']:>8.2f}"
            f" {figures['ready_x_framework']:>6.2f} {event:>7.1f}"
            f" {total['median_ms']:>9.1f} {total['min_ms']:>7.1f} {total['max_ms']:>7.1f}"
            f" {figures['x_floor']:>8.2f}"
        )


def main() -> None:
    sized_command(run, print_table, "--runs", 10)


if __name__ == "__main__":
    main()
