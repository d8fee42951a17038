"""Order relay: the orders table's stream (INSERTs only) to the order queue.

The order's one PutItem is the outbox entry; this function only forwards it, a batch's
orders ten to a SendMessageBatch request. A record it cannot forward is reported as a
batch item failure, retried from the stream, and after
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

import order_relay
from stockroom import container
from stockroom.observability import logger, metrics

container.prepare("sqs", settings=["order_queue_url"])

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def relay_batch(records: list[dict[str, Any]]) -> dict[str, Exception | None]:
    """Every record's outcome, by sequence number (what a batch item failure names): the
    batch's orders sent ten to a request."""
    parsed = [DynamoDBRecord(record) for record in records]
    images = [(r.dynamodb.new_image if r.dynamodb else None) or {} for r in parsed]
    outcomes = order_relay.relay_placed_orders(images)
    return {_sequence(r): outcome for r, outcome in zip(parsed, outcomes, strict=True)}


def _sequence(record: DynamoDBRecord) -> str:
    return str(record.dynamodb.sequence_number if record.dynamodb else record.event_id)


def relayed(outcomes: dict[str, Exception | None], record: DynamoDBRecord) -> None:
    """A record's outcome, sent with its batch; an exception fails the record alone."""
    outcome = outcomes[_sequence(record)]
    if outcome is not None:
        logger.error("record not relayed", event_id=record.event_id, error=str(outcome))
        raise outcome


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    outcomes = relay_batch(event.get("Records", []))

    def record_handler(record: DynamoDBRecord) -> None:
        relayed(outcomes, record)

    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
