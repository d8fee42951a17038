"""The FastAPI + Mangum variant the benchmarks compare the API functions with
(bench/fastapi) answers as the deployed handlers do: one conversation of requests, every
route and every kind of refusal, sent to each in a fresh stack, the answers compared.

One difference is left so: a JSON array as an order's body is a 422 naming `items` from
Powertools and `body` from FastAPI (the array is not an object)."""

import asyncio
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# Mangum serves each request on the thread's current event loop, making one if there is
# none. One loop for this module, closed at its end: a loop left to the garbage collector
# warns of its unclosed sockets in whichever test happens to collect it.
_LOOP = asyncio.new_event_loop()
asyncio.set_event_loop(_LOOP)

import bench.fastapi.catalog  # noqa: E402  (after the loop exists)
import bench.fastapi.orders  # noqa: E402
import catalog_api  # noqa: E402
import orders_api  # noqa: E402
from support.aws_stack import provisioned  # noqa: E402
from support.catalog_data import add_product  # noqa: E402
from support.events import HttpResult, http_event, parse_response  # noqa: E402

type Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
VARIANTS: dict[str, tuple[Handler, Handler]] = {
    "powertools": (catalog_api.handler, orders_api.handler),
    "fastapi": (bench.fastapi.catalog.handler, bench.fastapi.orders.handler),
}


CATALOG = [("SKU-001", 1299, "EUR"), ("SKU-002", 450, "EUR"), ("SKU-USD", 999, "USD")]
UPDATED_AT = "2026-01-01T00:00:00Z"  # the same in both stacks, and so the ETags


@pytest.fixture(scope="module", autouse=True)
def _event_loop_closed_at_the_end() -> Iterator[None]:
    yield
    asyncio.set_event_loop(None)
    _LOOP.close()


def conversation(catalog: Handler, orders: Handler, context: Any) -> list[tuple[str, Any]]:
    """Every route, with what each refuses, in one order; each answer as compared."""
    answers: list[tuple[str, Any]] = []

    def ask(what: str, handler: Handler, *args: Any, **kwargs: Any) -> HttpResult:
        result = parse_response(handler(http_event(*args, **kwargs), context))
        answers.append((what, comparable(result)))
        return result

    def product(sku: str, **kwargs: Any) -> HttpResult:
        return ask(
            f"GET {sku}", catalog, "GET", "/products/{sku}", path_parameters={"sku": sku}, **kwargs
        )

    def place(what: str, body: Any = None, **kwargs: Any) -> HttpResult:
        return ask(what, orders, "POST", "/orders", body=body, **kwargs)

    def order(what: str, method: str, route: str, order_id: str, **kwargs: Any) -> HttpResult:
        return ask(what, orders, method, route, path_parameters={"order_id": order_id}, **kwargs)

    ask("health", catalog, "GET", "/health", sub=None)
    etag = product("SKU-001", sub=None).headers["etag"]
    product("SKU-001", sub=None, headers={"If-None-Match": etag})
    product("SKU-001", sub=None, headers={"If-None-Match": '"stale"'})
    product("NOPE-1", sub=None)
    product("bad sku!", sub=None)
    first = ask("page", catalog, "GET", "/products", query={"limit": "2"}, sub=None)
    cursor = first.body["next_cursor"]
    ask("next page", catalog, "GET", "/products", query={"limit": "2", "cursor": cursor}, sub=None)
    for query in ({"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"cursor": "not-ours"}):
        ask(f"products {query}", catalog, "GET", "/products", query=query, sub=None)
    ask("unknown route", catalog, "GET", "/nowhere", sub=None)

    placed = place("place", {"items": [{"sku": "SKU-001", "quantity": 2}]})
    refused: list[dict[str, Any]] = [
        {},
        {"items": []},
        {"items": [{"sku": "SKU-001", "quantity": 0}]},
        {"items": [{"sku": "SKU-001"}]},
        {"items": [{"sku": "SKU-001", "quantity": 1}], "extra": True},
        {"items": [{"sku": "NOPE-1", "quantity": 1}, {"sku": "NOPE-2", "quantity": 1}]},
        {"items": [{"sku": "SKU-001", "quantity": 1}, {"sku": "SKU-USD", "quantity": 1}]},
    ]
    for body in refused:
        place(f"refused {body}", body)
    json_type = {"content-type": "application/json"}
    place("malformed", raw_body="{", headers=json_type)
    place("too deep", raw_body="[" * 30_000 + "]" * 30_000, headers=json_type)
    place("number too long", raw_body='{"items": [' + "9" * 5000 + "]}", headers=json_type)
    place("over 64 KB", raw_body=" " * 70_000 + "{}", headers=json_type)
    place("5,000 problems", {f"k{n}": n for n in range(5000)})
    place("not JSON", raw_body='{"items": []}', headers={"content-type": "text/plain"})
    place("no body")
    place("no token", {"items": [{"sku": "SKU-001", "quantity": 1}]}, sub=None)
    keyed = {"Idempotency-Key": "checkout-1"}
    one_mug = {"items": [{"sku": "SKU-002", "quantity": 1}]}
    place("keyed", one_mug, headers=keyed)
    place("keyed again", one_mug, headers=keyed)
    place("key reused", {"items": [{"sku": "SKU-001", "quantity": 1}]}, headers=keyed)
    place("key too long", one_mug, headers={"Idempotency-Key": "k" * 256})

    order_id = placed.body["order_id"]
    order("read", "GET", "/orders/{order_id}", order_id)
    order("someone else's", "GET", "/orders/{order_id}", order_id, sub="customer-other")
    order(
        "admin scope, customer route",
        "GET",
        "/orders/{order_id}",
        order_id,
        sub="ops",
        scope="admin",
    )
    order("admin", "GET", "/admin/orders/{order_id}", order_id, sub="ops", scope="stockroom/admin")
    order("admin unknown", "GET", "/admin/orders/{order_id}", "no-such-order", sub="ops")
    order("unknown order", "GET", "/orders/{order_id}", "no-such-order")
    ask("list", orders, "GET", "/orders", query={"limit": "1"})
    ask("bad cursor", orders, "GET", "/orders", query={"cursor": "not-ours"})
    order("cancel", "POST", "/orders/{order_id}/cancel", order_id)
    order("cancel again", "POST", "/orders/{order_id}/cancel", order_id)
    order("cancel unknown", "POST", "/orders/{order_id}/cancel", "no-such-order")
    order("admin cancel", "POST", "/admin/orders/{order_id}/cancel", order_id, sub="ops")
    return answers


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def comparable(result: HttpResult) -> Any:
    """What must be the same: the status, the error's code and fields, or the body with
    its ids and times as placeholders, and the headers a client acts on."""
    headers = {
        name: _placeholders(result.headers[name])
        for name in ("etag", "cache-control", "location")
        if name in result.headers
    }
    if result.status >= 400:
        return result.status, result.error["code"], sorted(result.error_fields())
    body = _placeholders(result.body)
    if isinstance(body, dict) and body.get("next_cursor"):
        body["next_cursor"] = "<cursor>"  # encodes the page's last key: an id and a time
    return result.status, headers, body


def _placeholders(value: Any) -> Any:
    if isinstance(value, str):
        return _TIME.sub("<time>", _UUID.sub("<id>", value))
    if isinstance(value, list):
        return [_placeholders(element) for element in value]
    if isinstance(value, dict):
        return {key: _placeholders(element) for key, element in value.items()}
    return value


def test_the_fastapi_variant_answers_every_request_as_the_deployed_handlers(
    monkeypatch, lambda_context
):
    transcripts = {}
    # One cursor key for both stacks, as one UPDATED_AT: the same cursors, and so ETags.
    monkeypatch.setattr("stockroom.pagination.cursor_key", lambda: b"one key for both")
    for variant, (catalog, orders) in VARIANTS.items():
        with provisioned(monkeypatch):
            for sku, price, currency in CATALOG:
                add_product(sku, price=price, currency=currency, updated_at=UPDATED_AT)
            transcripts[variant] = conversation(catalog, orders, lambda_context)

    powertools, fastapi = transcripts["powertools"], transcripts["fastapi"]
    assert [what for what, _ in powertools] == [what for what, _ in fastapi]
    different = [
        (what, ours, theirs)
        for (what, ours), (_, theirs) in zip(powertools, fastapi, strict=True)
        if ours != theirs
    ]
    assert different == [], "\n".join(map(repr, different))
    # The conversation reached what it means to compare.
    statuses = {answer[0] for _, answer in powertools}
    assert {200, 202, 304, 400, 401, 404, 409, 415, 422} <= statuses
