"""Stock flags: which SKUs are sold out, from the changes of each product's `available`;
and each changed product written through to the shared cache tier.

The orders API answers SOLD_OUT from this set without a table read per request. A flag
only ever refuses an order at the door; the worker still decides every order it lets
through, so a flag that is late (set or cleared) never oversells.
"""

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from stockroom import shared_cache
from stockroom.dal import stock_flags
from stockroom.models import Product, utc_now
from stockroom.observability import count, logger


def flag_changes(changes: Iterable[tuple[str, int | None]]) -> tuple[set[str], set[str]]:
    """The SKUs to flag sold out and the SKUs to clear, from (sku, available after the
    change) in stream order, None for a product removed: each SKU's last change wins."""
    latest: dict[str, int | None] = {}
    for sku, available in changes:
        latest[sku] = available
    sold_out = {
        sku for sku, available in latest.items() if available is not None and available <= 0
    }
    return sold_out, set(latest) - sold_out


def apply_changes(changes: Iterable[tuple[str, int | None]]) -> tuple[int, int]:
    """The sold-out set brought up to date with a batch of changes; returns how many SKUs
    were flagged and cleared. An item too full to flag more leaves them unflagged (the
    worker decides their orders, as before): a clearing is never held back by it."""
    sold_out, back = flag_changes(changes)
    try:
        stock_flags.update_sold_out(sold_out, back, utc_now())
    except stock_flags.FlagsItemFullError as error:
        logger.error(
            "sold-out set is full; SKUs left unflagged", skus=sorted(sold_out), error=str(error)
        )
        sold_out = set()
    count("SkusFlaggedSoldOut", len(sold_out))
    count("SkusFlagCleared", len(back))
    return len(sold_out), len(back)


def write_through(changes: Iterable[tuple[str, dict[str, Any] | None]]) -> int:
    """Each changed product's latest state stored in the shared cache tier over what it
    holds, and a removed one deleted, from (sku, the product as it now stands or None) in
    stream order: each SKU's last change wins. A state that is not a valid product is
    deleted too, so readers go to the table. Returns how many SKUs were written; 0
    without the tier or when it failed (its entries then age out within their TTL)."""
    latest = dict(changes)
    if not latest or shared_cache.client() is None:
        return 0
    products: dict[str, Product] = {}
    for sku, image in latest.items():
        try:
            if image is not None:
                products[sku] = Product.model_validate(image)
        except ValidationError as error:
            logger.warning("product not written through", sku=sku, error=str(error)[:200])
    gone = [sku for sku in latest if sku not in products]
    if not shared_cache.write_through(shared_cache.PRODUCTS, products, gone):
        return 0
    return len(latest)
