"""Warm API latency: p50 and p99 per request through each API handler (Powertools, as
deployed, and the FastAPI + Mangum variant in bench/fastapi), with the data layer on
moto in-process, beside the same logic called directly. A handler's overhead is its
p50 minus the logic's: what the web framework, validation and observability add.

  .venv/bin/python -m bench.warm_api [--requests N] [--json]

Routes: GET /products/{sku} served from the catalog's cache (hit) and read afresh with
`Cache-Control: no-cache` (miss), and POST /orders with a new Idempotency-Key each time.
"""

import contextlib
import io
import os
import time
import uuid
import warnings
from collections.abc import Callable
from typing import Any

from bench.cli import sized_command
from bench.seed import add_products, sample_event, use_environment
from bench.stats import percentiles

SKU = "SKU-001"
ROUTES = ("GET /products/{sku} (cache hit)", "GET /products/{sku} (cache miss)", "POST /orders")
Call = Callable[[], Any]
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def bench_environment() -> None:
    """Before Powertools is imported: fake credentials, moto in-process, quiet."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon: both variants alike
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "POWERTOOLS_SERVICE_NAME": "stockroom",
            "POWERTOOLS_METRICS_NAMESPACE": "Stockroom",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)


def _calls() -> dict[str, dict[str, Call]]:
    """For each route: the logic alone and each handler serving one request."""
    from devtools.handlers import import_handler_module
    from devtools.runtime import LocalContext

    powertools = (
        import_handler_module("CatalogFunction").handler,
        import_handler_module("OrdersFunction").handler,  # with its folder on the path
    )
    import bench.fastapi.catalog
    import bench.fastapi.orders
    from orders import idempotency_config, place_order
    from stockroom import catalog
    from stockroom.http_rules import etag_of
    from stockroom.models import PlaceOrderRequest, ProductView

    handlers: dict[str, tuple[Handler, Handler]] = {
        "powertools": powertools,
        "fastapi": (bench.fastapi.catalog.handler, bench.fastapi.orders.handler),
    }
    product_event = sample_event("get_product")
    fresh_event = sample_event("get_product")
    fresh_event["headers"]["cache-control"] = "no-cache"
    order_event = sample_event("place_order")
    body = order_event["body"]
    catalog_context = LocalContext("CatalogFunction", 10)
    orders_context = LocalContext("OrdersFunction", 10)

    # The logic alone registers the context too, as the orders handler does first.
    idempotency_config().register_lambda_context(orders_context)  # type: ignore[arg-type]  # has what Powertools reads

    def order_request() -> dict[str, Any]:
        order_event["headers"]["idempotency-key"] = uuid.uuid4().hex
        return order_event

    def serving(handler: Handler, event: Callable[[], dict[str, Any]], status: int) -> Call:
        context = orders_context if status == 202 else catalog_context

        def call() -> None:
            result = handler(event(), context)
            if result["statusCode"] != status:
                raise RuntimeError(f"expected {status}: {result}")

        return call

    calls: dict[str, dict[str, Call]] = {
        ROUTES[0]: {"logic": lambda: etag_of(ProductView.of(catalog.get_product(SKU)))},
        ROUTES[1]: {"logic": lambda: etag_of(ProductView.of(catalog.get_product(SKU, fresh=True)))},
        ROUTES[2]: {
            "logic": lambda: place_order(
                "customer-123", PlaceOrderRequest.model_validate_json(body), uuid.uuid4().hex
            ).model_dump(mode="json")
        },
    }
    for variant, (catalog_handler, orders_handler) in handlers.items():
        calls[ROUTES[0]][variant] = serving(catalog_handler, lambda: product_event, 200)
        calls[ROUTES[1]][variant] = serving(catalog_handler, lambda: fresh_event, 200)
        calls[ROUTES[2]][variant] = serving(orders_handler, order_request, 202)
    return calls


def _timed(call: Call, requests: int) -> list[float]:
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _measure(
    calls: dict[str, dict[str, Call]], requests: int, rounds: int
) -> dict[str, dict[str, list[float]]]:
    samples: dict[str, dict[str, list[float]]] = {
        route: {name: [] for name in by_name} for route, by_name in calls.items()
    }
    for route, by_name in calls.items():
        for call in by_name.values():
            _timed(call, 20)  # warm: caches, lazily built models, the client
        # Rounds interleave the variants, so drift in the machine hits them alike.
        per_round = max(1, requests // rounds)
        for _ in range(rounds):
            for name, call in by_name.items():
                samples[route][name] += _timed(call, per_round)
    return samples


def _placement_usage(place: Call, orders: int = 20) -> dict[str, Any]:
    """What placing one order through the deployed handler asks of DynamoDB."""
    from bench.usage import Usage
    from stockroom import aws

    usage = Usage()
    usage.watch(aws.dynamodb())
    for _ in range(orders):
        place()
    return usage.per(orders)


def run(requests: int, rounds: int = 5) -> dict[str, Any]:
    bench_environment()
    from moto import mock_aws

    # log_metrics warns on requests that emit no metric (cache hits): expected here.
    warnings.filterwarnings("ignore", "No application metrics to publish")

    with mock_aws():
        from devtools.handlers import import_handler_module
        from devtools.provision import provision

        physical = provision()
        use_environment(physical, "CatalogFunction", "OrdersFunction")
        import_handler_module("OrdersFunction")  # the layer on the path
        add_products(["SKU-001", "SKU-002"], on_hand=10**9)
        calls = _calls()
        # Powertools flushes metrics every 100 values even when disabled: not our output.
        with contextlib.redirect_stdout(io.StringIO()):
            samples = _measure(calls, requests, rounds)
            placement = _placement_usage(calls[ROUTES[2]]["powertools"])
    summary: dict[str, Any] = {"requests": requests, "routes": {}, "per_order": placement}
    for route, timings in samples.items():
        figures = {name: percentiles(values) for name, values in timings.items()}
        logic = figures["logic"]["p50_ms"]
        for name in ("powertools", "fastapi"):
            figures[name]["overhead_p50_ms"] = round(figures[name]["p50_ms"] - logic, 3)
        summary["routes"][route] = figures
    return summary


def print_table(summary: dict[str, Any], out: Callable[[str], None] = print) -> None:
    out(f"warm API latency, {summary['requests']} requests each, moto in-process")
    out(f"{'route':<34} {'variant':<11} {'p50 ms':>8} {'p99 ms':>8} {'overhead p50':>13}")
    for route, figures in summary["routes"].items():
        for name, row in figures.items():
            overhead = row.get("overhead_p50_ms")
            extra = f"{overhead:>13.3f}" if overhead is not None else f"{'':>13}"
            out(f"{route:<34} {name:<11} {row['p50_ms']:>8.3f} {row['p99_ms']:>8.3f} {extra}")


def main() -> None:
    sized_command(run, print_table, "--requests", 1000)


if __name__ == "__main__":
    main()
