"""The order queue: placed orders waiting for the order worker."""

from stockroom import aws
from stockroom.models import OrderPlacedMessage
from stockroom.settings import get_settings


def send_order_placed(message: OrderPlacedMessage) -> None:
    aws.sqs().send_message(
        QueueUrl=get_settings().require("order_queue_url"),
        MessageBody=message.model_dump_json(),
    )
