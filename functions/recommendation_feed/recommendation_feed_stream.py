"""Recommendation feed: the orders table's stream (orders turned CONFIRMED, CANCELLED or
EXPIRED) to each customer's purchase history and the trainer's baskets.

Records are handled in stream order, one at a time: a shard holds each order's changes in
order, so a cancellation is never handled before the confirmation it takes back. A record
that fails is reported as a batch item failure and retried from the stream; after the
event source's retries its range lands in the feed's on-failure queue.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from stockroom import container, recommendations
from stockroom.dal.items import from_item
from stockroom.models import Order
from stockroom.observability import logger, metrics

container.prepare("dynamodb", settings=["recommendations_table_name"])

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def learn(record: DynamoDBRecord) -> None:
    """One record's order learned from; any exception makes it a batch item failure."""
    image = record.raw_event.get("dynamodb", {}).get("NewImage") or {}
    order = Order.model_validate(from_item(image))
    if recommendations.learn_from_order(order):
        logger.debug("learned from order", order_id=order.order_id, status=order.status)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=learn, processor=processor, context=context
    )
