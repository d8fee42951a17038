"""Hold expiry (scheduled, every minute): CONFIRMED orders unpaid at their
hold_expires_at become EXPIRED and their units return to stock."""

import time
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

import hold_expiry
from stockroom import container
from stockroom.observability import logger, metrics

container.prepare(
    "dynamodb", settings=["products_table_name", "orders_table_name", "allowances_table_name"]
)

# Releases still being started this close to the timeout are left to the next run.
_MARGIN_SECONDS = 10


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    left = context.get_remaining_time_in_millis() / 1000 - _MARGIN_SECONDS
    expired = hold_expiry.expire_due_holds(datetime.now(UTC), time.monotonic() + left)
    return {"expired": len(expired)}
