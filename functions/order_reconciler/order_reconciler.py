"""The outbox's safety net: PENDING orders that never reached the worker are sent to it
again. The orders table's stream is the outbox; if a record never becomes a message (a
relay bug, a bad deployment, a filter mistake, a record past the stream's 24-hour
retention), its order would stay PENDING unnoticed. A duplicate message is harmless: the
worker decides an order only while it is PENDING."""

from datetime import UTC, datetime, timedelta

from stockroom.dal import order_queue
from stockroom.dal import orders as orders_table
from stockroom.models import OrderPlacedMessage
from stockroom.observability import count, logger


def requeue_stuck_orders(now: datetime, stuck_after_seconds: int) -> list[str]:
    """Sends every order PENDING since before `now - stuck_after_seconds` to the order
    queue again, counts them (StuckOrdersRequeued) and returns their ids.

    Each one sent has its clock restarted, so an order that is only slow (behind a long
    queue) gets one more message per bound, not one per run. It is sent before its clock
    restarts: a run that stops in between sends it again next time, never not at all."""
    stuck = orders_table.pending_order_ids(_timestamp(now - timedelta(seconds=stuck_after_seconds)))
    if stuck:
        logger.warning(
            "PENDING orders found past the bound; sending them to the order queue again",
            stuck_after_seconds=stuck_after_seconds,
            order_ids=stuck,
        )
        order_queue.send_orders_placed(
            [OrderPlacedMessage(order_id=order_id) for order_id in stuck]
        )
        for order_id in stuck:
            orders_table.mark_requeued(order_id, _timestamp(now))
    count("StuckOrdersRequeued", len(stuck))
    return stuck


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
