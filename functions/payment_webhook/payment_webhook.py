"""Payments from the payment provider's signed webhook: the signature checked, then the
payment applied to its order once per event id.

A matching payment for a CONFIRMED order makes it PAID in one conditional write (which
also takes it out of the Holds index, so it never expires). A payment the order cannot
take (wrong amount or currency, an order EXPIRED, CANCELLED, REJECTED or already PAID by
another event) is recorded on the order as due a refund, and the order is left as it
is. Either write adds the event id to the order in the same step, so the same event
again finds itself there and changes nothing. A payment for an order still PENDING is
refused (409) for the provider to send again once the worker has decided it.
"""

import hashlib
import hmac

from stockroom import aws
from stockroom.dal import orders as orders_table
from stockroom.errors import (
    ConflictError,
    FieldProblem,
    NotFoundError,
    RetryLaterError,
    UnauthorizedError,
)
from stockroom.models import (
    Order,
    OrderStatus,
    PaymentEvent,
    PaymentOutcome,
    PaymentReceipt,
    RefundDue,
    RefundReason,
    utc_now,
)
from stockroom.observability import count, logger
from stockroom.once import per_container
from stockroom.retry import with_retries
from stockroom.settings import get_settings

SIGNATURE_HEADER = "Stockroom-Signature"
# A signature older (or further ahead) than this is refused: a captured request cannot
# be replayed later.
TOLERANCE_SECONDS = 300


@per_container
def webhook_secret() -> bytes:
    """The shared secret, read from Secrets Manager once per container (on the first
    request, not at init: no request is sent at init). Never logged."""
    arn = get_settings().require("payment_webhook_secret_arn")
    return str(aws.secretsmanager().get_secret_value(SecretId=arn)["SecretString"]).encode()


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of "<timestamp>.<body>" under `secret`: what v1= carries."""
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify_signature(header: str | None, body: bytes, now: float, secret: bytes) -> None:
    """Returns when `header` (t=<unix seconds>,v1=<hex>[,v1=...]) signs `body` with
    `secret` at a time within TOLERANCE_SECONDS of `now`; UnauthorizedError otherwise.
    Any one v1 may match (a provider signs with the old and the new secret while one is
    rotated); each is compared in constant time."""
    if not header:
        raise _unsigned("the request carries no signature")
    timestamps: list[str] = []
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            candidates.append(value)
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not candidates:
        raise _unsigned("the signature is not t=<unix seconds>,v1=<hex HMAC-SHA256>")
    signed_at = int(timestamps[0])
    if abs(now - signed_at) > TOLERANCE_SECONDS:
        raise _unsigned(f"the signature's timestamp is more than {TOLERANCE_SECONDS} s from now")
    expected = signature(secret, signed_at, body).encode()
    # Every candidate compared, none skipped: the time taken says nothing about which.
    matches = [hmac.compare_digest(expected, candidate.encode()) for candidate in candidates]
    if not any(matches):
        raise _unsigned("the signature does not match the body")


def _unsigned(why: str) -> UnauthorizedError:
    return UnauthorizedError(
        f"payment webhook refused: {why}",
        code="INVALID_SIGNATURE",
        details=[FieldProblem(SIGNATURE_HEADER, why)],
    )


# An order changes status at most twice after a payment's first look (CONFIRMED ->
# EXPIRED or CANCELLED or PAID); a fourth look always finds it settled.
_ATTEMPTS = 4


def receive_payment(payment: PaymentEvent) -> PaymentReceipt:
    """Applies a verified payment event to its order, once (see the module docstring).
    NotFoundError for an unknown order, ConflictError while it is PENDING."""
    for _ in range(_ATTEMPTS):
        order = orders_table.get_order(payment.order_id)
        if order is None:
            logger.warning("payment for an unknown order", event_id=payment.id)
            raise NotFoundError(f"no order with id {payment.order_id!r}", code="ORDER_NOT_FOUND")
        receipt = _apply(payment, order)
        if receipt is not None:
            return receipt
    raise RetryLaterError(f"order {payment.order_id} kept changing; send the payment again")


def _apply(payment: PaymentEvent, order: Order) -> PaymentReceipt | None:
    """The payment applied to the order as read; None when the order changed status
    before the write (look again)."""
    applied = {order.payment_id, *(refund.payment_id for refund in order.refunds_due)}
    if payment.id in applied:
        return _receipt(payment, PaymentOutcome.ALREADY_RECORDED)
    if order.status is OrderStatus.PENDING:
        raise ConflictError(
            f"order {order.order_id} is not decided yet; send the payment again later",
            code="ORDER_NOT_DECIDED",
            details=[FieldProblem("order_id", "order is PENDING")],
        )
    refund = _refund_reason(order, payment)
    now = utc_now()
    if refund is None:
        paid = with_retries(
            lambda: orders_table.mark_paid(order.order_id, payment.id, now),
            f"pay order {order.order_id}",
        )
        if not paid:
            return None  # expired, cancelled or paid by another event meanwhile
        count("OrdersPaid")
        logger.info("order paid", order_id=order.order_id, event_id=payment.id)
        return _receipt(payment, PaymentOutcome.PAID)
    due = RefundDue(
        payment_id=payment.id,
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        reason=refund,
        received_at=now,
    )
    recorded = with_retries(
        lambda: orders_table.record_refund_due(order.order_id, due),
        f"record refund for order {order.order_id}",
    )
    if not recorded:  # the same event, delivered twice at once, got there first
        return _receipt(payment, PaymentOutcome.ALREADY_RECORDED)
    count("PaymentsRefundDue")
    logger.warning(
        "payment not taken; the order is due a refund",
        order_id=order.order_id,
        event_id=payment.id,
        reason=refund.value,
    )
    return _receipt(payment, PaymentOutcome.REFUND_DUE)


_REFUND_FOR_STATUS = {
    OrderStatus.EXPIRED: RefundReason.ORDER_EXPIRED,
    OrderStatus.CANCELLED: RefundReason.ORDER_CANCELLED,
    OrderStatus.REJECTED: RefundReason.ORDER_REJECTED,
    OrderStatus.PAID: RefundReason.ALREADY_PAID,
}


def _refund_reason(order: Order, payment: PaymentEvent) -> RefundReason | None:
    """Why the order cannot take this payment; None when it pays it."""
    if order.status in _REFUND_FOR_STATUS:
        return _REFUND_FOR_STATUS[order.status]
    if payment.currency != order.currency:
        return RefundReason.CURRENCY_MISMATCH
    if payment.amount_cents != order.total_cents:
        return RefundReason.AMOUNT_MISMATCH
    return None


def _receipt(payment: PaymentEvent, outcome: PaymentOutcome) -> PaymentReceipt:
    return PaymentReceipt(event_id=payment.id, order_id=payment.order_id, outcome=outcome)
