"""What the benchmarks start from: the sample events in events/ and products in stock."""

import copy
import json
from functools import cache
from typing import Any

from devtools.template import ROOT


@cache
def _sample(name: str) -> dict[str, Any]:
    sample: dict[str, Any] = json.loads((ROOT / "events" / f"{name}.json").read_text())
    return sample


def sample_event(name: str) -> dict[str, Any]:
    """A copy of events/<name>.json, free to change."""
    return copy.deepcopy(_sample(name))


def use_environment(physical: Any, *functions: str) -> None:
    """This process given the functions' environment variables (their tables, queues),
    but not their POWERTOOLS_* ones: the benchmark sets those itself."""
    import os

    from devtools.provision import function_environments

    os.environ.update(function_environments(physical, functions))


def add_products(skus: list[str], on_hand: int, unit_price_cents: int = 1299) -> None:
    """Products in EUR with `on_hand` units, all available, written as an import writes
    them (the layer must be importable)."""
    from stockroom.dal import products
    from stockroom.models import CatalogEntry, utc_now

    now = utc_now()
    for sku in skus:
        entry = CatalogEntry(
            sku=sku, name=sku, unit_price_cents=unit_price_cents, currency="EUR", on_hand=on_hand
        )
        products.apply_catalog_entry(entry, now)
