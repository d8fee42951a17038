"""The read side of a sale day, for `make load`'s `sale-reads` scenario: product pages
viewed 20 to an order, mostly the hot SKU's, the rest a long tail's, run with the
per-container cache alone (L1) and with the shared tier behind it (L1+L2) side by side.

What it tells apart is what reaches DynamoDB: the local runtime counts each key the
catalog function's environments read from the products table (STOCKROOM_COUNT_READS_OF,
devtools/runtime.py). From those: read units per 1,000 page views (an eventually
consistent read of an item up to 4 KB is 0.5 read unit; products are well under), the
hot SKU's reads per L1 TTL window across every environment, and how many environments
served. The catalog's page views less its reads are the views a cache answered; the L2
server's own counters (INFO keyspace hits and misses) say what reached L2 and what it
answered, the rest L1 did.

`cold_burst` is the sale's first second: every environment cold at once, each asked for
the hot SKU; with L2 the first one to read it fills the tier for the others."""

import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

READ_UNITS_PER_READ = 0.5  # eventually consistent, item up to 4 KB
CATALOG = "CatalogFunction"
WATCHED_TABLE = "ProductsTable"  # the local stack names a table by its logical id


def cold_burst(api: str, sku: str, requests: int) -> dict[str, Any]:
    """`requests` reads of `sku`'s page at once, on environments not yet started: their
    answers by status."""

    def view(_: int) -> int:
        try:
            with urllib.request.urlopen(f"{api}/products/{sku}", timeout=60) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    with ThreadPoolExecutor(requests) as pool:
        statuses = Counter(pool.map(view, range(requests)))
    return {str(status): n for status, n in sorted(statuses.items())}


def reads(counts: Counter[str], hot: str) -> tuple[int, int]:
    """The products table's reads in `counts` (a function's request counts): every
    key's, and the hot SKU's."""
    total = sum(n for name, n in counts.items() if name.startswith("reads."))
    return total, counts.get(f"reads.{hot}", 0)


def environments(folder: Path, function: str) -> int:
    """How many environments of `function` ran (each saves its counts in a file of its
    own: <function>-<pid>.json)."""
    return sum(1 for file in folder.glob(f"{function}-*.json"))


def figures(
    views: int,
    seconds: float,
    ttl_seconds: float,
    counts: Counter[str],
    hot: str,
    served_by: int,
) -> dict[str, Any]:
    """The DynamoDB side of `views` page views over `seconds`."""
    total, hot_reads = reads(counts, hot)
    windows = max(seconds / ttl_seconds, 1)
    return {
        "page_views": views,
        "catalog_environments": served_by,
        "dynamodb_reads": total,
        "read_units_per_1000_views": round(total * READ_UNITS_PER_READ * 1000 / max(views, 1), 2),
        "hot_sku_reads": hot_reads,
        "hot_sku_reads_per_ttl": round(hot_reads / windows, 2),
    }


def l2_stats(cache_url: str | None) -> dict[str, int]:
    """The L2 server's lookups so far (INFO stats: keyspace hits and misses), if any."""
    if not cache_url:
        return {}
    import redis

    info = redis.Redis.from_url(cache_url, socket_timeout=5).info("stats")
    return {"hits": int(info["keyspace_hits"]), "misses": int(info["keyspace_misses"])}


def hit_ratios(
    views: int, dynamodb_reads: int, l2_before: dict[str, int], l2_after: dict[str, int]
) -> dict[str, Any]:
    """Page views answered by a cache (not read from DynamoDB), and per tier: what did
    not reach L2 was answered by L1. The server's counters are every function's: the
    orders API's own product reads (one an order, 1 in 21 lookups here) are in them."""
    figures: dict[str, Any] = {"cache_hit_ratio": round(1 - dynamodb_reads / max(views, 1), 4)}
    if l2_after:
        hits = l2_after["hits"] - l2_before["hits"]
        l2_lookups = hits + l2_after["misses"] - l2_before["misses"]
        figures["l1_hit_ratio"] = round(1 - l2_lookups / max(views, 1), 4)
        figures["l2_hit_ratio"] = round(hits / max(l2_lookups, 1), 4)
    else:
        figures["l1_hit_ratio"] = figures["cache_hit_ratio"]
    return figures


def tier_latency(cache_url: str, lookups: int = 2000) -> dict[str, float]:
    """p50 and p99 microseconds of a product found in L1 (the container's TtlCache) and
    in L2 (the layer's SharedTier over the stack's server, decoding included), the same
    product, side by side in this process."""
    import os
    import sys
    import time

    # The layer's own tiers, in this process; their hit counts, which Powertools would
    # print here every 100, are not wanted.
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Stockroom")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers" / "common"))
    from stockroom import shared_cache
    from stockroom.cache import TtlCache
    from stockroom.models import Product
    from stockroom.shared_cache import PRODUCTS, SharedCache, SharedTier, _connect

    setattr(shared_cache, "count", lambda name, value=1: None)  # noqa: B010

    product = Product.model_validate(
        {
            "sku": "LATENCY-1",
            "name": "A product of a usual size",
            "unit_price_cents": 1299,
            "currency": "EUR",
            "on_hand": 100,
            "available": 100,
            "updated_at": "2026-12-05T00:00:00.000000Z",
        }
    )
    l1: TtlCache[Product] = TtlCache(60)
    l1.put_many({product.sku: product})
    l2 = SharedTier(SharedCache(*_connect(cache_url, 0.05), 5), PRODUCTS, 60)
    l2.put_many({product.sku: product})
    timings: dict[str, list[float]] = {"l1": [], "l2": []}
    for _ in range(lookups):
        for tier, lookup in (("l1", l1.get_many), ("l2", l2.get_many)):
            started = time.perf_counter()
            assert lookup([product.sku]), tier
            timings[tier].append((time.perf_counter() - started) * 1e6)
    figures = {}
    for tier, values in timings.items():
        values.sort()
        figures[f"{tier}_hit_p50_us"] = round(values[len(values) // 2], 1)
        figures[f"{tier}_hit_p99_us"] = round(values[int(len(values) * 0.99) - 1], 1)
    return figures
