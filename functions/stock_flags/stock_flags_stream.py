"""Stock flags: the products table's stream (changes of `available` to or from 0) to the
set of sold-out SKUs the orders API reads.

The event source's filter passes only records whose old or new image has `available` 0:
a product selling out, coming back (cancel, restock, import), created without stock, or
removed while sold out. A batch is applied as one change of the set, each SKU's last
record winning: a shard holds each product's changes in order, and re-applying a batch
after a failure sets the same state. A batch that fails is retried whole (halved first),
then its range lands in the function's on-failure queue.
"""

from decimal import Decimal
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

import stock_flags
from stockroom import container
from stockroom.observability import logger, metrics

container.prepare("dynamodb", settings=["stock_flags_table_name"])


def change_of(record: dict[str, Any]) -> tuple[str, int | None]:
    """(sku, available after the change); None when the product or its count is gone."""
    change = record["dynamodb"]
    sku = str(change["Keys"]["sku"]["S"])
    available = (change.get("NewImage") or {}).get("available", {}).get("N")
    return sku, int(Decimal(available)) if available is not None else None


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    flagged, cleared = stock_flags.apply_changes(change_of(r) for r in event.get("Records", []))
    return {"flagged": flagged, "cleared": cleared}
