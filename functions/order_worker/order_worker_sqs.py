"""Order worker: decides each placed order from the order queue, CONFIRMED with its stock
reserved or REJECTED as out of stock or over a per-customer limit.

A batch's orders are decided together (`order_worker.decide_orders`: group commit, a
transaction for many orders of a SKU). A record that fails is reported as a batch item
failure and comes back after the visibility timeout; after the queue's maxReceiveCount it
moves to the dead-letter queue.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

import order_worker
from stockroom import container
from stockroom.models import OrderPlacedMessage
from stockroom.observability import logger, measure, metrics

container.prepare(
    "dynamodb", settings=["products_table_name", "orders_table_name", "allowances_table_name"]
)


def decide_batch(
    records: list[dict[str, Any]],
) -> dict[str, tuple[str | None, order_worker.Outcome]]:
    """Every record's order id (None: unreadable) and outcome, by message id, its batch's
    orders decided together; a second record for an order already in the batch is
    SKIPPED."""
    measure("WorkerBatchSize", len(records))
    outcomes: dict[str, tuple[str | None, order_worker.Outcome]] = {}
    order_of: dict[str, str] = {}
    for record in records:
        try:
            order_of[record["messageId"]] = OrderPlacedMessage.model_validate_json(
                record["body"]
            ).order_id
        except ValidationError as error:
            outcomes[record["messageId"]] = (None, error)
    decided = order_worker.decide_orders(list(order_of.values()))
    first_record: dict[str, str] = {}
    for message_id, order_id in order_of.items():
        first_record.setdefault(order_id, message_id)
        outcome = decided[order_id] if first_record[order_id] == message_id else None
        outcomes[message_id] = (order_id, outcome or order_worker.Decision.SKIPPED)
    return outcomes


# A batch whose every record failed is still reported record by record, not raised as
# a function error: the queue retries each one either way, and the report names them.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def grouped_outcome(
    outcomes: dict[str, tuple[str | None, order_worker.Outcome]], record: SQSRecord
) -> str:
    """A record's outcome, decided with its batch; an exception fails the record alone."""
    order_id, outcome = outcomes[record.message_id]
    if isinstance(outcome, Exception):
        logger.append_keys(correlation_id=record.message_id)
        if order_id:
            logger.append_keys(order_id=order_id)
        logger.error(
            "order message failed; it returns to the queue and, past the redrive limit, "
            "goes to the dead-letter queue",
            message_id=record.message_id,
            receive_count=record.attributes.approximate_receive_count,
            error=f"{type(outcome).__name__}: {outcome}",
        )
        logger.remove_keys(["correlation_id", "order_id"])
        raise outcome
    return outcome.value


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    outcomes = decide_batch(event.get("Records", []))

    def record_handler(record: SQSRecord) -> str:
        return grouped_outcome(outcomes, record)

    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
