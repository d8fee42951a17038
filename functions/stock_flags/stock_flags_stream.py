"""Stock flags: the products table's stream to the set of sold-out SKUs the orders API
reads, and to the shared cache tier's products (where CACHE_URL names one).

Every change of a product reaches the function (no filter: each is written through to
the shared tier, so that it holds a product's latest state within the stream's lag, not
its TTL). Only the records whose old or new image has `available` 0 change the set: a
product selling out, coming back (cancel, restock, import), created without stock, or
removed while sold out. A batch is applied as one change of the set, each SKU's last
record winning: a shard holds each product's changes in order, and re-applying a batch
after a failure sets the same state. A batch that fails is retried whole (halved first),
then its range lands in the function's on-failure queue; a shared tier that fails only
leaves its entries to their TTL.
"""

from decimal import Decimal
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

import stock_flags
from stockroom import container
from stockroom.dal.items import Item, from_item
from stockroom.observability import logger, metrics

container.prepare("dynamodb", "cache", settings=["stock_flags_table_name"])

IMAGES = ("OldImage", "NewImage")


def change_of(record: dict[str, Any]) -> tuple[str, int | None]:
    """(sku, available after the change); None when the product or its count is gone."""
    change = record["dynamodb"]
    sku = str(change["Keys"]["sku"]["S"])
    available = (change.get("NewImage") or {}).get("available", {}).get("N")
    return sku, int(Decimal(available)) if available is not None else None


def crosses_zero(record: dict[str, Any]) -> bool:
    """Whether the change's old or new image has `available` 0."""
    change = record["dynamodb"]
    counts = [(change.get(image) or {}).get("available", {}).get("N") for image in IMAGES]
    return any(count is not None and Decimal(count) == 0 for count in counts)


def image_of(record: dict[str, Any]) -> tuple[str, Item | None]:
    """(sku, the product as it now stands); None when it was removed."""
    change = record["dynamodb"]
    image = change.get("NewImage")
    return str(change["Keys"]["sku"]["S"]), from_item(image) if image else None


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    records = event.get("Records", [])
    flagged, cleared = stock_flags.apply_changes(change_of(r) for r in records if crosses_zero(r))
    written = stock_flags.write_through(image_of(record) for record in records)
    return {"flagged": flagged, "cleared": cleared, "written": written}
