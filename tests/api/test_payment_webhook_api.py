"""POST /payments/webhook through its handler: the signature checked before anything
else, a payment applied once per event id, payments an order cannot take recorded as
due a refund, and the secret read once per container."""

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

import hold_expiry
import order_worker
import payment_webhook_api
from orders import cancel_order
from stockroom import aws, container
from stockroom.dal import orders as orders_table
from stockroom.dal import products as products_table
from stockroom.identity import Caller
from stockroom.models import Order, OrderStatus
from support.catalog_data import add_product
from support.events import HttpResult, parse_response
from support.orders import place
from support.payments import payment, sign, signed_event, webhook_event, webhook_secret


@pytest.fixture
def secret(stack) -> str:
    return webhook_secret(stack)


@pytest.fixture
def holds(stack, monkeypatch) -> None:
    """Orders confirmed from now on hold their units 15 minutes unless paid."""
    monkeypatch.setenv("HOLD_MINUTES", "15")
    container.reset()


def confirmed_order(quantity: int = 2) -> Order:
    add_product("MUG-1", price=1234, on_hand=5)
    order = place("alice", {"MUG-1": quantity})
    assert order_worker.decide_order(order.order_id) is order_worker.Decision.CONFIRMED
    return stored(order.order_id)


@pytest.fixture
def confirmed(holds) -> Order:
    return confirmed_order()


def stored(order_id: str) -> Order:
    order = orders_table.get_order(order_id)
    assert order is not None
    return order


def raw_item(stack, order_id: str) -> dict[str, Any]:
    item: dict[str, Any] = boto3.client("dynamodb").get_item(
        TableName=stack["OrdersTable"], Key={"order_id": {"S": order_id}}
    )["Item"]
    return item


def stock(sku: str = "MUG-1") -> tuple[int, int]:
    product = products_table.get_product(sku)
    assert product is not None
    return product.available, product.reserved


def call(event: dict[str, Any], lambda_context) -> HttpResult:
    return parse_response(payment_webhook_api.handler(event, lambda_context))


# --------------------------------------------------------------------- signature
def test_a_signed_payment_of_the_total_pays_a_confirmed_order(
    stack, confirmed, secret, lambda_context
):
    assert confirmed.hold_expires_at is not None
    assert "hold_shard" in raw_item(stack, confirmed.order_id)
    event = payment(confirmed)

    result = call(signed_event(secret, event), lambda_context)

    assert result.status == 200, result.body
    assert result.body == {
        "event_id": event["id"],
        "order_id": confirmed.order_id,
        "outcome": "PAID",
    }
    paid = stored(confirmed.order_id)
    assert paid.status is OrderStatus.PAID
    assert paid.payment_id == event["id"]
    assert paid.paid_at == paid.updated_at
    assert paid.hold_expires_at is None
    assert paid.refunds_due == []
    item = raw_item(stack, confirmed.order_id)
    assert "hold_shard" not in item and "hold_expires_at" not in item  # out of the index
    assert stock() == (3, 2)  # the units stay reserved, now paid for


def _signature(kind: str, secret: str, body: str) -> str | None:
    now = int(time.time())
    return {
        "missing": None,
        "empty": "",
        "wrong secret": sign("not-the-secret", body),
        "older than 5 minutes": sign(secret, body, now - 301),
        "more than 5 minutes ahead": sign(secret, body, now + 301),
        "no timestamp": sign(secret, body).split(",", 1)[1],
        "no v1": sign(secret, body).split(",", 1)[0],
        "timestamp not a number": "t=soon," + sign(secret, body).split(",", 1)[1],
        "v1 not hex": f"t={now},v1=zz-not-hex",
        "v1 of another scheme": sign(secret, body).replace("v1=", "v0="),
    }[kind]


@pytest.mark.parametrize(
    "kind",
    [
        "missing",
        "empty",
        "wrong secret",
        "older than 5 minutes",
        "more than 5 minutes ahead",
        "no timestamp",
        "no v1",
        "timestamp not a number",
        "v1 not hex",
        "v1 of another scheme",
    ],
)
def test_a_request_not_signed_with_the_secret_just_now_is_401_and_changes_nothing(
    stack, confirmed, secret, lambda_context, kind
):
    body = json.dumps(payment(confirmed))

    result = call(webhook_event(body, _signature(kind, secret, body)), lambda_context)

    assert result.status == 401, result.body
    assert result.error["code"] == "INVALID_SIGNATURE"
    assert result.error_fields() == ["Stockroom-Signature"]
    assert stored(confirmed.order_id) == confirmed
    assert stock() == (3, 2)


def test_a_body_changed_after_signing_is_401(stack, confirmed, secret, lambda_context):
    signed = json.dumps(payment(confirmed, amount_cents=1))
    sent = json.dumps(json.loads(signed) | {"amount_cents": confirmed.total_cents})

    result = call(webhook_event(sent, sign(secret, signed)), lambda_context)

    assert result.status == 401
    assert stored(confirmed.order_id) == confirmed


def test_a_signature_made_just_under_5_minutes_ago_is_accepted(
    stack, confirmed, secret, lambda_context
):
    event = signed_event(secret, payment(confirmed), int(time.time()) - 290)
    assert call(event, lambda_context).status == 200


def test_one_matching_signature_among_several_is_enough(stack, confirmed, secret, lambda_context):
    """While the secret is rotated, the provider signs with the old and the new one."""
    body = json.dumps(payment(confirmed))
    signature = sign(secret, body)
    with_old = signature + "," + sign("the-old-secret", body).split(",", 1)[1]
    assert call(webhook_event(body, with_old), lambda_context).status == 200


def test_an_invalid_body_without_a_signature_is_401_not_422(stack, lambda_context):
    result = call(webhook_event('{"id": 1}', None), lambda_context)
    assert result.status == 401


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount_cents": None}, "amount_cents"),
        ({"amount_cents": "24.68"}, "amount_cents"),
        ({"amount_cents": -1}, "amount_cents"),
        ({"currency": "eur"}, "currency"),
        ({"type": "payment.failed"}, "type"),
        ({"id": ""}, "id"),
        ({"order_id": 42}, "order_id"),
    ],
)
def test_a_signed_invalid_body_is_422_naming_the_field(
    stack, confirmed, secret, lambda_context, change, field
):
    event = {
        key: value for key, value in (payment(confirmed) | change).items() if value is not None
    }

    result = call(signed_event(secret, event), lambda_context)

    assert result.status == 422, result.body
    assert result.error["code"] == "VALIDATION_FAILED"
    assert field in result.error_fields()
    assert stored(confirmed.order_id) == confirmed


def test_signed_malformed_json_is_400(stack, secret, lambda_context):
    result = call(webhook_event("{", sign(secret, "{")), lambda_context)
    assert result.status == 400
    assert result.error["code"] == "MALFORMED_JSON"


def test_fields_the_provider_adds_are_ignored(stack, confirmed, secret, lambda_context):
    event = payment(confirmed) | {"livemode": False, "created": 1767225600}
    assert call(signed_event(secret, event), lambda_context).body["outcome"] == "PAID"


# ------------------------------------------------------------------- idempotency
def test_the_same_event_again_is_200_with_no_second_effect(
    stack, confirmed, secret, lambda_context
):
    event = payment(confirmed)
    assert call(signed_event(secret, event), lambda_context).body["outcome"] == "PAID"
    paid = stored(confirmed.order_id)

    again = call(signed_event(secret, event), lambda_context)

    assert again.status == 200
    assert again.body["outcome"] == "ALREADY_RECORDED"
    assert stored(confirmed.order_id) == paid  # not even updated_at moved
    assert stock() == (3, 2)


# ------------------------------------------------------------ refunds due
@pytest.mark.parametrize(
    ("change", "reason"),
    [({"amount_cents": 1}, "AMOUNT_MISMATCH"), ({"currency": "USD"}, "CURRENCY_MISMATCH")],
)
def test_a_payment_not_matching_the_order_is_200_and_recorded_as_due_a_refund(
    stack, confirmed, secret, lambda_context, change, reason
):
    event = payment(confirmed, **change)

    result = call(signed_event(secret, event), lambda_context)

    assert result.status == 200
    assert result.body["outcome"] == "REFUND_DUE"
    order = stored(confirmed.order_id)
    assert order.status is OrderStatus.CONFIRMED  # not paid
    assert order.hold_expires_at == confirmed.hold_expires_at  # still held, still due
    (refund,) = order.refunds_due
    assert (refund.payment_id, refund.amount_cents, refund.currency, refund.reason) == (
        event["id"],
        event["amount_cents"],
        event["currency"],
        reason,
    )
    # The same event again records nothing more; a matching payment still pays.
    assert call(signed_event(secret, event), lambda_context).body["outcome"] == "ALREADY_RECORDED"
    assert call(signed_event(secret, payment(confirmed)), lambda_context).body["outcome"] == "PAID"
    assert [r.payment_id for r in stored(confirmed.order_id).refunds_due] == [event["id"]]


def _cancel(order: Order) -> None:
    cancel_order(Caller(customer_id=order.customer_id), order.order_id)


def _expire(order: Order) -> None:
    later = datetime.now(UTC) + timedelta(minutes=16)
    assert hold_expiry.expire_due_holds(later) == [order.order_id]


@pytest.mark.parametrize(
    ("settle", "status", "reason"),
    [(_cancel, "CANCELLED", "ORDER_CANCELLED"), (_expire, "EXPIRED", "ORDER_EXPIRED")],
)
def test_a_payment_for_an_order_cancelled_or_expired_is_due_a_refund_and_revives_nothing(
    stack, confirmed, secret, lambda_context, settle, status, reason
):
    settle(confirmed)
    assert stock() == (5, 0)

    result = call(signed_event(secret, payment(confirmed)), lambda_context)

    assert result.status == 200
    assert result.body["outcome"] == "REFUND_DUE"
    order = stored(confirmed.order_id)
    assert order.status == status
    assert [refund.reason for refund in order.refunds_due] == [reason]
    assert stock() == (5, 0)


def test_a_second_payment_for_a_paid_order_is_due_a_refund(
    stack, confirmed, secret, lambda_context
):
    call(signed_event(secret, payment(confirmed)), lambda_context)

    result = call(signed_event(secret, payment(confirmed)), lambda_context)

    assert result.body["outcome"] == "REFUND_DUE"
    assert [r.reason for r in stored(confirmed.order_id).refunds_due] == ["ALREADY_PAID"]


def test_a_payment_for_a_rejected_order_is_due_a_refund(stack, holds, secret, lambda_context):
    add_product("MUG-1", price=1234, on_hand=1)
    order = place("alice", {"MUG-1": 2})
    assert order_worker.decide_order(order.order_id) is order_worker.Decision.REJECTED

    result = call(signed_event(secret, payment(order)), lambda_context)

    assert result.body["outcome"] == "REFUND_DUE"
    assert [r.reason for r in stored(order.order_id).refunds_due] == ["ORDER_REJECTED"]


def test_a_payment_for_a_pending_order_is_409_so_the_provider_sends_it_again(
    stack, holds, secret, lambda_context
):
    add_product("MUG-1", price=1234, on_hand=5)
    order = place("alice", {"MUG-1": 2})
    event = payment(order)

    early = call(signed_event(secret, event), lambda_context)

    assert early.status == 409
    assert early.error["code"] == "ORDER_NOT_DECIDED"
    assert stored(order.order_id) == order
    order_worker.decide_order(order.order_id)
    assert call(signed_event(secret, event), lambda_context).body["outcome"] == "PAID"


def test_a_payment_for_an_unknown_order_is_404(stack, secret, lambda_context):
    event = {
        "id": "evt_1",
        "type": "payment.succeeded",
        "order_id": "no-such-order",
        "amount_cents": 100,
        "currency": "EUR",
    }
    result = call(signed_event(secret, event), lambda_context)
    assert result.status == 404
    assert result.error["code"] == "ORDER_NOT_FOUND"


def test_without_holds_a_confirmed_order_is_paid_all_the_same(stack, secret, lambda_context):
    order = confirmed_order()
    assert order.hold_expires_at is None

    assert call(signed_event(secret, payment(order)), lambda_context).body["outcome"] == "PAID"
    assert stored(order.order_id).status is OrderStatus.PAID


# ------------------------------------------------------------------------ secret
def test_the_secret_is_read_once_per_container(
    stack, confirmed, secret, lambda_context, monkeypatch
):
    client = aws.secretsmanager()
    reads: list[str] = []
    read = client.get_secret_value

    def counted(**kwargs: Any) -> Any:
        reads.append(kwargs["SecretId"])
        return read(**kwargs)

    monkeypatch.setattr(client, "get_secret_value", counted)
    call(signed_event(secret, payment(confirmed)), lambda_context)
    call(webhook_event("{}", None), lambda_context)
    call(signed_event(secret, payment(confirmed)), lambda_context)

    assert reads == [stack["PaymentWebhookSecret"]]
