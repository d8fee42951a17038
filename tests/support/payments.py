"""Signed payment webhook requests, as the payment provider sends them. The signature is
computed here from its definition, apart from the code that checks it."""

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import boto3

from support.events import http_event


def webhook_secret(stack: Any) -> str:
    """The secret the stack generated (what the provider is given)."""
    secrets = boto3.client("secretsmanager")
    value: str = secrets.get_secret_value(SecretId=stack["PaymentWebhookSecret"])["SecretString"]
    return value


def sign(secret: str, body: str | bytes, timestamp: int | None = None) -> str:
    """t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">; a str body as UTF-8."""
    signed_at = int(time.time()) if timestamp is None else timestamp
    raw = body.encode() if isinstance(body, str) else body
    digest = hmac.new(secret.encode(), f"{signed_at}.".encode() + raw, hashlib.sha256).hexdigest()
    return f"t={signed_at},v1={digest}"


def payment(order: Any, **changes: Any) -> dict[str, Any]:
    """A payment.succeeded event for `order` (an Order or its JSON), its total by default."""
    fields = order if isinstance(order, dict) else order.model_dump(mode="json")
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "payment.succeeded",
        "order_id": fields["order_id"],
        "amount_cents": fields["total_cents"],
        "currency": fields["currency"],
    }
    return event | changes


def webhook_event(body: str, signature: str | None) -> dict[str, Any]:
    """POST /payments/webhook with `body` as sent and, unless None, its signature
    header; no bearer token (the route is not behind the JWT authorizer)."""
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["stockroom-signature"] = signature
    return http_event("POST", "/payments/webhook", raw_body=body, headers=headers, sub=None)


def signed_event(
    secret: str, event: dict[str, Any], timestamp: int | None = None
) -> dict[str, Any]:
    body = json.dumps(event)
    return webhook_event(body, sign(secret, body, timestamp))
