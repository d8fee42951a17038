"""The order outbox: a newly stored order becomes a message for the order worker."""

from collections.abc import Mapping, Sequence
from typing import Any

from stockroom.dal import order_queue
from stockroom.models import OrderPlacedMessage
from stockroom.observability import count, logger


class MalformedOutboxRecordError(ValueError):
    """A stream record that does not carry an order id: retried, then sent to the DLQ."""


def relay_placed_orders(new_images: Sequence[Mapping[str, Any]]) -> list[Exception | None]:
    """Each newly stored order as a message on the order queue, ten to a request; for each
    image, in order, None once sent or why it was not."""
    outcomes: list[Exception | None] = []
    messages: list[OrderPlacedMessage] = []
    positions: list[int] = []
    for position, image in enumerate(new_images):
        order_id = image.get("order_id")
        if not isinstance(order_id, str) or not order_id:
            outcomes.append(
                MalformedOutboxRecordError(f"stream record has no order_id: keys {sorted(image)}")
            )
            continue
        outcomes.append(None)
        messages.append(OrderPlacedMessage(order_id=order_id))
        positions.append(position)
    try:
        refused = set(order_queue.send_in_batches(messages)) if messages else set()
    except Exception as error:  # the queue unreachable: none counts as sent (duplicates
        # of those that were are no-ops for the worker)
        return [outcome or error for outcome in outcomes]
    for index, (message, position) in enumerate(zip(messages, positions, strict=True)):
        if index in refused:
            outcomes[position] = order_queue.QueueSendError(
                f"the order queue refused the message for order {message.order_id}"
            )
        else:
            logger.debug("relayed placed order", order_id=message.order_id)
    count("OrdersRelayed", len(messages) - len(refused))
    return outcomes
