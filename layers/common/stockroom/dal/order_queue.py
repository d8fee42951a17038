"""The order queue: placed orders waiting for the order worker."""

from collections.abc import Sequence

from stockroom import aws
from stockroom.models import OrderPlacedMessage
from stockroom.settings import get_settings

_BATCH_LIMIT = 10  # SendMessageBatch's entries per call


class QueueSendError(RuntimeError):
    """The queue refused some messages of a batch; they were not sent."""


def send_orders_placed(messages: Sequence[OrderPlacedMessage]) -> None:
    """Every message, ten to a SendMessageBatch call; QueueSendError naming the orders
    the queue refused (after every batch was tried)."""
    refused = [messages[index].order_id for index in send_in_batches(messages)]
    if refused:
        raise QueueSendError(f"the order queue refused {len(refused)} message(s): {refused}")


def send_in_batches(messages: Sequence[OrderPlacedMessage]) -> list[int]:
    """Every message, ten to a SendMessageBatch call; the positions of those the queue
    refused (every batch is tried)."""
    queue_url = get_settings().require("order_queue_url")
    refused: list[int] = []
    for start in range(0, len(messages), _BATCH_LIMIT):
        batch = messages[start : start + _BATCH_LIMIT]
        response = aws.sqs().send_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(index), "MessageBody": message.model_dump_json()}
                for index, message in enumerate(batch)
            ],
        )
        refused += [start + int(failure["Id"]) for failure in response.get("Failed", [])]
    return refused
