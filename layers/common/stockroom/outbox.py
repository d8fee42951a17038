"""The order outbox: a newly stored order becomes a message for the order worker."""

from collections.abc import Mapping
from typing import Any

from stockroom.dal import order_queue
from stockroom.models import OrderPlacedMessage
from stockroom.observability import count, logger


class MalformedOutboxRecordError(ValueError):
    """A stream record that does not carry an order id: retried, then sent to the DLQ."""


def relay_placed_order(new_image: Mapping[str, Any]) -> None:
    order_id = new_image.get("order_id")
    if not isinstance(order_id, str) or not order_id:
        raise MalformedOutboxRecordError(f"stream record has no order_id: keys {sorted(new_image)}")
    order_queue.send_order_placed(OrderPlacedMessage(order_id=order_id))
    logger.debug("relayed placed order", order_id=order_id)
    count("OrdersRelayed")
