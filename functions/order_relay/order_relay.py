"""Order relay: the orders table's stream (INSERTs only) to the order queue.

The order's one PutItem is the outbox entry; this function only forwards it. A record it
cannot forward is reported as a batch item failure, retried from the stream, and after
the event source's retries its range lands in the relay's on-failure queue.
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

from stockroom import outbox
from stockroom.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def relay_record(record: DynamoDBRecord) -> None:
    logger.set_correlation_id(record.event_id)
    image = record.dynamodb.new_image if record.dynamodb else None
    outbox.relay_placed_order(image or {})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=relay_record, processor=processor, context=context
    )
