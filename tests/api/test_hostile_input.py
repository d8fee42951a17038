"""Hostile bodies sent to every API function: each answer is a small 4xx in the one
envelope, never a 5xx (which would feed the alarm that rolls a deployment back) and never
an answer of megabytes. The webhook's bodies are signed, so they reach its decoding."""

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

import catalog_api
import orders_api
import payment_webhook_api
import recommendations_api
from stockroom.http_rules import MAX_BODY_BYTES, MAX_PROBLEMS
from support.catalog_data import add_product
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


def test_a_number_json_cannot_hold_is_400_malformed_json(send):
    # One stack for all the shapes: each is refused before anything is read or written.
    for number in UNREADABLE_NUMBERS:
        result = send('{"items": [{"sku": "SKU-001", "quantity": ' + number + "}]}")
        assert result.status == 400, (number[:8], result.body)
        assert result.error["code"] == "MALFORMED_JSON"
        assert result.error_fields() == ["body"]


def test_a_base64_body_that_is_not_utf8_is_400(stack, lambda_context):
    event = http_event("POST", "/orders", raw_body="", headers=JSON)
    event["body"] = base64.b64encode(b'{"items": "\xff\xfe"}').decode()
    event["isBase64Encoded"] = True
    result = parse_response(orders_api.handler(event, lambda_context))
    assert result.status == 400, result.body
    assert result.error["code"] == "MALFORMED_JSON"


@pytest.fixture(params=["orders", "recommendations", "payment_webhook", "catalog"])
def send_any(request, stack, lambda_context) -> Callable[[str], HttpResult]:
    """Sends a raw body to each API function, whether its route reads one or not."""
    secret = webhook_secret(stack)

    def post(body: str) -> HttpResult:
        handler, event = _request(request.param, body, secret)
        return parse_response(handler(event, lambda_context))

    return post


# 2 MB of 200,000 keys no model has: decoded and validated, each key was a problem listed
# twice (in `details` and in `message`), a 14 MB answer.
TWO_MB_OF_UNKNOWN_KEYS = json.dumps({f"key{n}": n for n in range(200_000)})


OVER_THE_LIMIT = {
    "2 MB of keys": TWO_MB_OF_UNKNOWN_KEYS,
    "64 KB and 2 bytes": " " * MAX_BODY_BYTES + "{}",
    "64 KB of 2-byte characters": "é" * (MAX_BODY_BYTES // 2 + 1),
}


def test_a_body_over_the_limit_is_413_before_it_is_decoded(send_any):
    for name, body in OVER_THE_LIMIT.items():
        result = send_any(body)
        assert result.status == 413, (name, str(result.body)[:200])
        assert result.error["code"] == "PAYLOAD_TOO_LARGE"
        assert result.error_fields() == ["body"]


def test_a_body_at_the_limit_is_taken(stack, lambda_context):
    add_product("SKU-001", price=100, currency="EUR")
    order = json.dumps({"items": [{"sku": "SKU-001", "quantity": 1}]})
    body = order + " " * (MAX_BODY_BYTES - len(order))
    event = http_event("POST", "/orders", raw_body=body, headers=JSON)
    assert parse_response(orders_api.handler(event, lambda_context)).status == 202


@pytest.mark.parametrize(
    ("route", "handler"),
    [("/orders", orders_api.handler), ("/me/views", recommendations_api.handler)],
)
def test_a_validation_answer_lists_the_first_problems_and_counts_them_all(
    stack, lambda_context, route, handler
):
    # Just under the size limit: 5,000 keys no model has, each a problem.
    body = json.dumps({f"k{n}": 0 for n in range(5_000)})
    assert len(body) < MAX_BODY_BYTES
    event = http_event("POST", route, raw_body=body, headers=JSON)

    result = parse_response(handler(event, lambda_context))

    assert result.status == 422
    assert len(result.error["details"]) == MAX_PROBLEMS
    message = result.error["message"]
    assert message.count(", ") == MAX_PROBLEMS - 1
    assert message.endswith(f"(the first {MAX_PROBLEMS} of 5001 problems)")  # and the missing one
