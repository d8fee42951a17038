"""Hostile bodies sent to every API function: each answer is a small 4xx in the one
envelope, never a 5xx (which would feed the alarm that rolls a deployment back) and never
an answer of megabytes. The webhook's bodies are signed, so they reach its decoding.
Each shape is tested as written, then fuzzed (Hypothesis): wherever the hostile part
sits in a body and whatever its size, the answer is the same 4xx and code."""

import base64
import json
import re
import string
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

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


def _request(function: str, body: str | bytes, secret: str) -> tuple[Callable[..., Event], Event]:
    """The handler of `function` and an event carrying `body` to it: bytes base64-encoded,
    as API Gateway sends a body that is not UTF-8 text."""
    text = base64.b64encode(body).decode() if isinstance(body, bytes) else body
    if function == "orders":
        event = http_event("POST", "/orders", raw_body=text, headers=JSON)
        handler = orders_api.handler
    elif function == "recommendations":
        event = http_event("POST", "/me/views", raw_body=text, headers=JSON)
        handler = recommendations_api.handler
    elif function == "payment_webhook":
        event = webhook_event(text, sign(secret, body))
        handler = payment_webhook_api.handler
    else:  # No catalog route reads a body; one sent anyway goes through the same checks.
        event = http_event("GET", "/products", raw_body=text, headers=JSON, sub=None)
        handler = catalog_api.handler
    event["isBase64Encoded"] = isinstance(body, bytes)
    return handler, event


def _sender(function: str, stack, lambda_context) -> Callable[[str | bytes], HttpResult]:
    secret = webhook_secret(stack)

    def post(body: str | bytes) -> HttpResult:
        handler, event = _request(function, body, secret)
        return parse_response(handler(event, lambda_context))

    return post


@pytest.fixture(params=["orders", "recommendations", "payment_webhook"])
def send(request, stack, lambda_context) -> Callable[[str | bytes], HttpResult]:
    """POSTs a raw body to each function that reads one (the webhook's signed)."""
    return _sender(request.param, stack, lambda_context)


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
def send_any(request, stack, lambda_context) -> Callable[[str | bytes], HttpResult]:
    """Sends a raw body to each API function, whether its route reads one or not."""
    return _sender(request.param, stack, lambda_context)


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


# Fuzzed: the shapes above, varied by Hypothesis. One stack serves all of a test's
# examples: every body is refused before anything is written, so none sees another's.
FUZZED = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Where a value can sit: a quantity, a SKU, a list item, a field, under a key no model
# has, or the whole body.
PLACES = [
    '{"items": [{"sku": "SKU-001", "quantity": %s}]}',
    '{"items": [{"sku": %s, "quantity": 1}]}',
    '{"skus": ["MUG-1", %s]}',
    '{"id": "evt_1", "amount_cents": %s}',
    '{"note": {"deep": [1, [2, %s]]}, "items": []}',
    "%s",
]
places = st.sampled_from(PLACES)

too_long_integers = st.builds(
    lambda sign, first, zeros: f"{sign}{first}{'0' * zeros}",
    st.sampled_from(["", "-"]),
    st.integers(1, 9),
    st.integers(4_300, 12_000),  # 4,301 digits and more
)
floats_past_range = st.builds(
    lambda sign, first, fraction, e, exponent: f"{sign}{first}{fraction}{e}{exponent}",
    st.sampled_from(["", "-"]),
    st.integers(1, 9),
    st.sampled_from(["", ".0", ".5", ".999"]),
    st.sampled_from(["e", "E", "e+", "E+"]),
    st.integers(309, 100_000),  # 1e309 and up: past the largest double
)
numbers_json_cannot_hold = st.one_of(
    too_long_integers, floats_past_range, st.sampled_from(["NaN", "Infinity", "-Infinity"])
)


def _malformed(result: HttpResult) -> bool:
    return (result.status, result.error["code"], result.error_fields()) == (
        400,
        "MALFORMED_JSON",
        ["body"],
    )


@FUZZED
@given(place=places, number=numbers_json_cannot_hold)
@example(place=PLACES[0], number="9" * 5000)
@example(place=PLACES[2], number="-1e400")
@example(place=PLACES[5], number="NaN")
def test_fuzzed_numbers_json_cannot_hold_are_400(send, place, number):
    result = send(place % number)
    assert _malformed(result), (place, number[:12], result.status, str(result.body)[:200])


def _nested(depth: int, shape: tuple[str, str, str], place: str) -> str:
    opening, inner, closing = shape
    # Deep, yet under the size limit: past it the answer is 413 before any decoding.
    room = MAX_BODY_BYTES - len(place) - len(inner)
    depth = min(depth, room // (len(opening) + len(closing)))
    return place % (opening * depth + inner + closing * depth)


nestings = st.builds(
    _nested,
    st.integers(1_000, 40_000),
    st.sampled_from([("[", "", "]"), ('{"a":', "1", "}"), ('[{"k":', "[]", "}]")]),
    places,
)


@FUZZED
@given(body=nestings)
@example(body="[" * 30_000 + "]" * 30_000)
def test_fuzzed_nesting_is_400_past_what_python_decodes_and_422_short_of_it(send, body):
    try:
        json.loads(body)
    except RecursionError:
        too_deep = True
    else:  # a value, which no model takes
        too_deep = False
    result = send(body)
    if too_deep:
        assert _malformed(result), (len(body), result.status, str(result.body)[:200])
    else:
        assert (result.status, result.error["code"]) == (422, "VALIDATION_FAILED"), (
            len(body),
            result.status,
            str(result.body)[:200],
        )


# Bytes no UTF-8 text holds: a lone continuation byte, a truncated sequence, an overlong
# encoding, a UTF-16 surrogate, a code point past U+10FFFF, bytes UTF-8 never uses.
NOT_UTF8 = [b"\x80", b"\xe2\x82", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xff"]
text_around = st.text(alphabet=string.ascii_letters + " é€𝄞", max_size=12)


def _with_bytes(place: str, before: str, bad: bytes, after: str) -> bytes:
    head, tail = (place % '"\0"').split("\0")
    return (head + before).encode() + bad + (after + tail).encode()


not_utf8_bodies = st.builds(
    _with_bytes, places, text_around, st.sampled_from(NOT_UTF8), text_around
)


@FUZZED
@given(body=not_utf8_bodies)
@example(body=b'{"items": "\xff\xfe"}')
def test_fuzzed_bodies_that_are_not_utf8_are_400(send, body):
    result = send(body)
    assert _malformed(result), (body[:80], result.status, str(result.body)[:200])


def _oversized(kind: str, size: int) -> str | bytes:
    """A body of at least `size` bytes (UTF-8) of `kind`."""
    order = '{"items": [{"sku": "SKU-001", "quantity": 1}]}'
    if kind == "spaces":
        return order + " " * (size - len(order))
    if kind == "spaces, base64":
        return (order + " " * (size - len(order))).encode()
    if kind == "keys":
        return json.dumps({f"k{n}": n for n in range(size // 9)})
    character = "é" if kind == "2-byte characters" else "𝄞"
    count = -(-size // len(character.encode()))
    return '{"items": "' + character * count + '"}'


oversized = st.builds(
    _oversized,
    st.sampled_from(["spaces", "spaces, base64", "keys", "2-byte characters", "4-byte characters"]),
    st.integers(MAX_BODY_BYTES + 1, 4 * MAX_BODY_BYTES),
)


@FUZZED
@given(body=oversized)
@example(body=" " * MAX_BODY_BYTES + "{}")
def test_fuzzed_bodies_over_the_limit_are_413(send_any, body):
    assert len(body if isinstance(body, bytes) else body.encode()) > MAX_BODY_BYTES
    result = send_any(body)
    assert (result.status, result.error["code"], result.error_fields()) == (
        413,
        "PAYLOAD_TOO_LARGE",
        ["body"],
    ), (len(body), result.status)


@pytest.fixture(params=["orders", "recommendations"])
def send_strict(request, stack, lambda_context) -> Callable[[str], HttpResult]:
    """POSTs a body to each route whose model forbids keys it does not name and has one
    required field (the webhook ignores unknown keys: a provider may add some)."""

    def post(body: str) -> HttpResult:
        handler, event = _request(request.param, body, "")
        return parse_response(handler(event, lambda_context))

    return post


unknown_keys = st.builds(
    lambda prefix, count, value: (
        "{" + ", ".join(f'"{prefix}{n}": {value}' for n in range(count)) + "}"
    ),
    st.text(alphabet=string.ascii_letters + "_-", min_size=1, max_size=4),
    st.integers(MAX_PROBLEMS, 4_000),  # under 64 KB; and the missing field: one more
    st.sampled_from(["0", "null", '"x"', "[]", "{}", "1.5"]),
)


@FUZZED
@given(body=unknown_keys)
@example(body=json.dumps({f"k{n}": 0 for n in range(MAX_PROBLEMS)}))
def test_fuzzed_bodies_of_many_problems_list_the_first_and_count_them_all(send_strict, body):
    problems = len(json.loads(body)) + 1  # each key, and the missing required field
    result = send_strict(body)
    assert (result.status, result.error["code"]) == (422, "VALIDATION_FAILED"), result.body
    assert len(result.error["details"]) == MAX_PROBLEMS
    counted = re.search(r"\(the first (\d+) of (\d+) problems\)$", result.error["message"])
    assert counted is not None, result.error["message"][-200:]
    assert counted.groups() == (str(MAX_PROBLEMS), str(problems))


@pytest.fixture
def cursor_of_a_page(stack, lambda_context) -> str:
    """The next_cursor of the catalog's first page of one product."""
    for sku in ("SKU-001", "SKU-002"):
        add_product(sku)
    event = http_event("GET", "/products", query={"limit": "1"}, sub=None)
    cursor: str = parse_response(catalog_api.handler(event, lambda_context)).body["next_cursor"]
    return cursor


CURSOR_ALPHABET = string.ascii_letters + string.digits + "-_.="
edits = st.lists(
    st.tuples(
        st.sampled_from(["replace", "insert", "delete"]),
        st.integers(0, 1_000),
        st.one_of(st.sampled_from(CURSOR_ALPHABET), st.characters(codec="utf-8")),
    ),
    min_size=1,
    max_size=3,
)


def _edited(cursor: str, changes: list[tuple[str, int, str]]) -> str:
    for change, at, character in changes:
        at %= len(cursor) + (change == "insert")
        rest = cursor[at:] if change == "insert" else cursor[at + 1 :]
        cursor = cursor[:at] + ("" if change == "delete" else character) + rest
        if not cursor:
            break
    return cursor


@FUZZED
@given(changes=edits)
@example(changes=[("replace", 1_000, "A")])  # the MAC's last character
@example(changes=[("delete", 1_000, "")])
def test_fuzzed_edits_of_a_cursor_are_422_invalid_cursor(cursor_of_a_page, lambda_context, changes):
    edited = _edited(cursor_of_a_page, changes)
    if not edited or edited == cursor_of_a_page:
        return  # no cursor, or the one issued
    event = http_event("GET", "/products", query={"limit": "1", "cursor": edited}, sub=None)
    result = parse_response(catalog_api.handler(event, lambda_context))
    assert (result.status, result.error["code"], result.error_fields()) == (
        422,
        "INVALID_CURSOR",
        ["cursor"],
    ), (edited, result.body)
