"""The order worker's per-order design, kept as the benchmarks' baseline: each record of a
batch decided alone, side by side in threads, one transaction an order
(`order_worker.decide_order`). The product decides a batch's orders together (group
commit, functions/order_worker/order_worker_sqs.py); this is what that is measured
against, by `bench/worker_batch.py` in process and by `make load --workers group,per-order`
through the local stack, which runs `handler` in place of the template's
(STOCKROOM_HANDLER_OVERRIDES="OrderWorkerFunction=bench.per_order_worker.handler").

Imported with the order worker's folder and the layer on the path, as its handler is. A
record that fails is reported as a batch item failure, as the product's are.
"""

import asyncio
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

import order_worker
from stockroom import container
from stockroom.errors import RetryLaterError
from stockroom.models import OrderPlacedMessage
from stockroom.observability import logger, metrics

container.prepare(
    "dynamodb", settings=["products_table_name", "orders_table_name", "allowances_table_name"]
)

# A batch whose every record failed is still reported record by record, not raised as
# a function error: the queue retries each one either way, and the report names them.
processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def decide_message(record: SQSRecord) -> order_worker.Decision:
    """One message's decision; any exception makes it a batch item failure."""
    # Records are decided side by side in threads: each thread's log lines name its message.
    logger.thread_safe_append_keys(correlation_id=record.message_id)
    try:
        message = OrderPlacedMessage.model_validate_json(record.body)
        logger.thread_safe_append_keys(order_id=message.order_id)
        return order_worker.decide_order(message.order_id)
    except RetryLaterError:
        logger.warning(
            "order message deferred: contention outlasted retries", message_id=record.message_id
        )
        raise
    except Exception:
        logger.exception(
            "order message failed; it returns to the queue and, past the redrive limit, "
            "goes to the dead-letter queue",
            message_id=record.message_id,
            receive_count=record.attributes.approximate_receive_count,
        )
        raise
    finally:
        logger.thread_safe_clear_keys()


async def decide_record(record: SQSRecord) -> str:
    return (await asyncio.to_thread(decide_message, record)).value


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return async_process_partial_response(
        event=event, record_handler=decide_record, processor=processor, context=context
    )
