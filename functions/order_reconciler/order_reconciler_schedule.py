"""Order reconciler (scheduled): PENDING orders older than STUCK_ORDER_SECONDS go to the
order queue again, in case the outbox lost them; each one is counted and alarmed on."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

import order_reconciler
from stockroom import container
from stockroom.observability import logger, metrics
from stockroom.settings import get_settings

container.prepare("dynamodb", "sqs", settings=["orders_table_name", "order_queue_url"])


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    stuck = order_reconciler.requeue_stuck_orders(
        datetime.now(UTC), get_settings().stuck_order_seconds
    )
    return {"requeued": len(stuck)}
