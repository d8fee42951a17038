"""Hostile bodies sent to every API function: each answer is a small 4xx in the one
envelope, never a 5xx (which would feed the alarm that rolls a deployment back) and never
an answer of megabytes. The webhook's bodies are signed, so they reach its decoding."""

import base64
from collections.abc import Callable
from typing import Any

import pytest

import catalog_api
import orders_api
import payment_webhook_api
import recommendations_api
from support.events import HttpResult, http_event, parse_response
from support.payments import sign, webhook_event, webhook_secret

type Event = dict[str, Any]
JSON = {"content-type": "application/json"}


def _request(function: str, body: str, secret: str) -> tuple[Callable[..., Event], Event]:
    """The handler of `function` and an event carrying `body` to it."""
    if function == "orders":
        return orders_api.handler, http_event("POST", "/orders", raw_body=body, headers=JSON)
    if function == "recommendations":
        event = http_event("POST", "/me/views", raw_body=body, headers=JSON)
        return recommendations_api.handler, event
    if function == "payment_webhook":
        return payment_webhook_api.handler, webhook_event(body, sign(secret, body))
    # No catalog route reads a body; one sent anyway goes through the same checks.
    event = http_event("GET", "/products", raw_body=body, headers=JSON, sub=None)
    return catalog_api.handler, event


@pytest.fixture(params=["orders", "recommendations", "payment_webhook"])
def send(request, stack, lambda_context) -> Callable[[str], HttpResult]:
    """POSTs a raw body to each function that reads one (the webhook's signed)."""
    secret = webhook_secret(stack)

    def post(body: str) -> HttpResult:
        handler, event = _request(request.param, body, secret)
        return parse_response(handler(event, lambda_context))

    return post


# What Python's json module takes and JSON has not, or cannot turn into a value:
# integers past Python's 4,300-digit limit, floats past range, NaN and the infinities.
UNREADABLE_NUMBERS = ["9" * 5000, "-" + "9" * 5000, "1e400", "-1e400", "NaN", "Infinity"]


@pytest.mark.parametrize("number", UNREADABLE_NUMBERS, ids=lambda n: n[:8])
def test_a_number_json_cannot_hold_is_400_malformed_json(send, number):
    result = send('{"items": [{"sku": "SKU-001", "quantity": ' + number + "}]}")
    assert result.status == 400, result.body
    assert result.error["code"] == "MALFORMED_JSON"
    assert result.error_fields() == ["body"]


def test_a_base64_body_that_is_not_utf8_is_400(stack, lambda_context):
    event = http_event("POST", "/orders", raw_body="", headers=JSON)
    event["body"] = base64.b64encode(b'{"items": "\xff\xfe"}').decode()
    event["isBase64Encoded"] = True
    result = parse_response(orders_api.handler(event, lambda_context))
    assert result.status == 400, result.body
    assert result.error["code"] == "MALFORMED_JSON"
