"""POST /orders, GET /orders/{order_id}, GET /orders through the orders handler."""

import json
from collections.abc import Collection
from typing import Any

import boto3
import pytest

import orders
import orders_api
from stockroom.dal import stock_flags
from support.catalog_data import add_product
from support.events import HttpResult, http_event, load_event, parse_response


def call(event, lambda_context) -> HttpResult:
    return parse_response(orders_api.handler(event, lambda_context))


def place(
    lambda_context,
    body: Any,
    *,
    sub: str | None = "customer-123",
    key: str | None = None,
) -> HttpResult:
    headers = {"Idempotency-Key": key} if key else None
    return call(http_event("POST", "/orders", body=body, headers=headers, sub=sub), lambda_context)


def line(sku: str, quantity: int = 1) -> dict[str, Any]:
    return {"sku": sku, "quantity": quantity}


def stored_orders(stack) -> list[dict[str, Any]]:
    return boto3.client("dynamodb").scan(TableName=stack["OrdersTable"])["Items"]


@pytest.fixture
def catalog(stack):
    add_product("SKU-001", price=1299, currency="EUR")
    add_product("SKU-002", price=450, currency="EUR")
    add_product("SKU-USD", price=999, currency="USD")


# ---------------------------------------------------------------------- placing
def test_sample_event_places_a_pending_order_priced_from_the_catalog(
    stack, catalog, lambda_context
):
    result = call(load_event("place_order"), lambda_context)

    assert result.status == 202
    order = result.body
    assert result.headers["location"] == f"/orders/{order['order_id']}"
    assert order["status"] == "PENDING"
    assert order["customer_id"] == "customer-123"
    assert order["items"] == [
        {"sku": "SKU-001", "quantity": 2, "unit_price_cents": 1299},
        {"sku": "SKU-002", "quantity": 1, "unit_price_cents": 450},
    ]
    assert order["total_cents"] == 2 * 1299 + 450
    assert order["currency"] == "EUR"
    assert order["created_at"] == order["updated_at"]
    assert "reason" not in order
    assert [item["order_id"]["S"] for item in stored_orders(stack)] == [order["order_id"]]


def test_unit_prices_are_snapshotted_at_placement(stack, catalog, lambda_context):
    placed = place(lambda_context, {"items": [line("SKU-001", 3)]}).body
    add_product("SKU-001", price=5000, currency="EUR")

    read = call(
        http_event("GET", "/orders/{order_id}", path_parameters={"order_id": placed["order_id"]}),
        lambda_context,
    )
    assert read.body["items"][0]["unit_price_cents"] == 1299
    assert read.body["total_cents"] == 3 * 1299


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"items": []}, "items"),
        ({"items": [line(f"SKU-{n}") for n in range(51)]}, "items"),
        ({"items": [line("SKU-001", 0)]}, "items[0].quantity"),
        ({"items": [line("SKU-001", 1001)]}, "items[0].quantity"),
        ({"items": [line("SKU-001"), {"sku": "SKU-002", "quantity": "2"}]}, "items[1].quantity"),
        ({"items": [{"sku": "SKU-001", "quantity": 1.5}]}, "items[0].quantity"),
        ({"items": [{"sku": "SKU-001"}]}, "items[0].quantity"),
        ({"items": [{"sku": "bad sku", "quantity": 1}]}, "items[0].sku"),
        ({"items": [line("SKU-001"), line("SKU-001")]}, "items"),
        ({"items": [line("SKU-001")], "coupon": "FREE"}, "coupon"),
        ({"items": "SKU-001"}, "items"),
        ({}, "items"),
        ([line("SKU-001")], "items"),
    ],
)
def test_invalid_body_is_422_naming_the_field_and_stores_nothing(
    stack, catalog, lambda_context, body, field
):
    result = place(lambda_context, body)
    assert result.status == 422, result.body
    assert result.error["code"] == "VALIDATION_FAILED"
    assert field in result.error_fields()
    assert stored_orders(stack) == []


@pytest.mark.parametrize("raw", ["{", "not json", '{"items": [}'])
def test_malformed_json_is_400(stack, catalog, lambda_context, raw):
    event = http_event(
        "POST", "/orders", raw_body=raw, headers={"content-type": "application/json"}
    )
    result = call(event, lambda_context)
    assert result.status == 400
    assert result.error["code"] == "MALFORMED_JSON"
    assert result.error_fields() == ["body"]


def post_json_as(lambda_context, content_type: str) -> HttpResult:
    """A valid order's JSON body, sent with `content_type`."""
    body = json.dumps({"items": [line("SKU-001")]})
    event = http_event("POST", "/orders", raw_body=body, headers={"content-type": content_type})
    return call(event, lambda_context)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/json",
        "application/xml",
        "application/vnd.api+json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ],
)
def test_a_body_that_is_not_json_is_415_naming_the_accepted_type(
    stack, catalog, lambda_context, content_type
):
    result = post_json_as(lambda_context, content_type)
    assert result.status == 415, result.body
    assert result.error["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert "application/json" in result.error["message"]
    assert result.error_fields() == ["Content-Type"]
    assert stored_orders(stack) == []


@pytest.mark.parametrize(
    "content_type", ["APPLICATION/JSON", "application/json; charset=utf-8", "Application/Json ;x=1"]
)
def test_json_is_accepted_whatever_the_case_and_parameters(
    stack, catalog, lambda_context, content_type
):
    result = post_json_as(lambda_context, content_type)
    assert result.status == 202, result.body
    assert len(stored_orders(stack)) == 1


@pytest.mark.parametrize("raw", ["[" * 30_000 + "]" * 30_000, '{"items": ' + "[" * 50_000])
def test_a_body_nested_too_deeply_is_400(stack, catalog, lambda_context, raw):
    event = http_event(
        "POST", "/orders", raw_body=raw, headers={"content-type": "application/json"}
    )
    result = call(event, lambda_context)
    assert result.status == 400, result.body
    assert result.error["code"] == "MALFORMED_JSON"
    assert result.error_fields() == ["body"]


def test_missing_body_is_a_4xx_naming_body(stack, catalog, lambda_context):
    result = call(http_event("POST", "/orders"), lambda_context)
    assert 400 <= result.status < 500
    assert result.error_fields() == ["body"]


def test_unknown_skus_are_422_naming_each_line(stack, catalog, lambda_context):
    result = place(lambda_context, {"items": [line("SKU-001"), line("GHOST-1"), line("GHOST-2")]})
    assert result.status == 422
    assert result.error["code"] == "UNKNOWN_SKU"
    assert result.error_fields() == ["items[1].sku", "items[2].sku"]
    assert stored_orders(stack) == []


def test_mixed_currencies_are_422(stack, catalog, lambda_context):
    result = place(lambda_context, {"items": [line("SKU-001"), line("SKU-USD")]})
    assert result.status == 422
    assert result.error["code"] == "MIXED_CURRENCY"
    assert result.error_fields() == ["items"]
    assert "EUR" in result.error["message"] and "USD" in result.error["message"]


def test_forty_nine_lines_of_one_thousand_are_accepted_and_fifty_refused(stack, lambda_context):
    for n in range(50):
        add_product(f"SKU-{n:02d}", price=1)
    result = place(lambda_context, {"items": [line(f"SKU-{n:02d}", 1000) for n in range(49)]})
    assert result.status == 202
    assert result.body["total_cents"] == 49 * 1000

    result = place(lambda_context, {"items": [line(f"SKU-{n:02d}") for n in range(50)]})
    assert result.status == 422
    assert result.error_fields() == ["items"]


def test_a_line_over_its_products_limit_is_422_naming_its_quantity(stack, lambda_context):
    add_product("LIMITED", max_per_customer=3)
    add_product("FREE")

    result = place(lambda_context, {"items": [line("FREE", 10), line("LIMITED", 4)]})

    assert result.status == 422
    assert result.error["code"] == "LIMIT_EXCEEDED"
    assert result.error_fields() == ["items[1].quantity"]
    assert "at most 3" in result.error["details"][0]["message"]
    assert stored_orders(stack) == []
    # At the limit, the line is accepted: the worker counts what the customer holds.
    assert place(lambda_context, {"items": [line("LIMITED", 3)]}).status == 202


# ------------------------------------------------------------------ idempotency
def test_same_key_and_body_returns_the_original_and_creates_nothing(stack, catalog, lambda_context):
    body = {"items": [line("SKU-001", 2)]}
    first = place(lambda_context, body, key="key-1")
    again = place(lambda_context, body, key="key-1")

    assert first.status == again.status == 202
    assert again.body == first.body
    assert again.headers["location"] == first.headers["location"]
    assert len(stored_orders(stack)) == 1


def test_same_key_with_a_different_body_is_409(stack, catalog, lambda_context):
    place(lambda_context, {"items": [line("SKU-001", 2)]}, key="key-1")
    result = place(lambda_context, {"items": [line("SKU-001", 3)]}, key="key-1")
    assert result.status == 409
    assert result.error["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(stored_orders(stack)) == 1


def test_the_same_key_from_another_caller_is_a_separate_order(stack, catalog, lambda_context):
    body = {"items": [line("SKU-001")]}
    mine = place(lambda_context, body, key="shared-key", sub="alice")
    theirs = place(lambda_context, body, key="shared-key", sub="bob")
    assert mine.status == theirs.status == 202
    assert mine.body["order_id"] != theirs.body["order_id"]
    assert theirs.body["customer_id"] == "bob"


def test_without_a_key_each_request_is_a_new_order(stack, catalog, lambda_context):
    body = {"items": [line("SKU-001")]}
    assert (
        place(lambda_context, body).body["order_id"] != place(lambda_context, body).body["order_id"]
    )
    assert len(stored_orders(stack)) == 2


def test_a_rejected_request_does_not_burn_its_key(stack, catalog, lambda_context):
    failed = place(lambda_context, {"items": [line("GHOST")]}, key="key-1")
    add_product("GHOST", price=100)
    retried = place(lambda_context, {"items": [line("GHOST")]}, key="key-1")
    assert failed.status == 422
    assert retried.status == 202


def test_overlong_idempotency_key_is_422_naming_it(stack, catalog, lambda_context):
    result = place(lambda_context, {"items": [line("SKU-001")]}, key="k" * 256)
    assert result.status == 422
    assert result.error_fields() == ["idempotency-key"]


# ------------------------------------------------------------ sold out at the door
def flag(sold_out: Collection[str], back: Collection[str] = ()) -> None:
    """The sold-out set changed as the stock flags function changes it, and this
    container's copy refreshed, as it is once a second."""
    stock_flags.update_sold_out(set(sold_out), set(back), "2026-12-01T00:00:00.000000Z")
    orders.sold_out_flags.cache_clear()


def test_an_order_naming_a_sold_out_sku_is_409_naming_its_line_and_stores_nothing(
    stack, catalog, lambda_context
):
    flag({"SKU-002"})
    result = place(lambda_context, {"items": [line("SKU-001"), line("SKU-002")]})

    assert result.status == 409
    assert result.error["code"] == "SOLD_OUT"
    assert "SKU-002" in result.error["message"]
    assert result.error_fields() == ["items[1].sku"]
    assert stored_orders(stack) == []  # no order, so no outbox record: nothing is queued


def test_orders_for_skus_not_flagged_go_through_while_another_is_sold_out(
    stack, catalog, lambda_context
):
    flag({"SKU-002"})
    assert place(lambda_context, {"items": [line("SKU-001")]}).status == 202
    assert len(stored_orders(stack)) == 1


def test_a_cleared_flag_lets_orders_through_again(stack, catalog, lambda_context):
    flag({"SKU-001", "SKU-002"})
    flag(set(), back={"SKU-001"})
    assert place(lambda_context, {"items": [line("SKU-001")]}).status == 202
    assert place(lambda_context, {"items": [line("SKU-002")]}).status == 409


def test_without_the_sold_out_item_every_order_goes_to_the_worker(stack, catalog, lambda_context):
    assert stock_flags.sold_out_skus() is None
    assert place(lambda_context, {"items": [line("SKU-001")]}).status == 202


def test_an_unreadable_sold_out_set_fails_open(stack, catalog, lambda_context, monkeypatch):
    flag({"SKU-001"})

    def unreadable() -> None:
        raise RuntimeError("throttled")

    monkeypatch.setattr(stock_flags, "sold_out_skus", unreadable)
    orders.sold_out_flags.cache_clear()
    assert place(lambda_context, {"items": [line("SKU-001")]}).status == 202


def test_the_set_is_read_once_per_interval_not_per_request(
    stack, catalog, lambda_context, monkeypatch
):
    reads: list[int] = []
    read = stock_flags.sold_out_skus

    def counted() -> frozenset[str] | None:
        reads.append(1)
        return read()

    monkeypatch.setattr(stock_flags, "sold_out_skus", counted)
    monkeypatch.setattr(orders, "SOLD_OUT_REFRESH_SECONDS", 3600)
    orders.sold_out_flags.cache_clear()
    for _ in range(5):
        assert place(lambda_context, {"items": [line("SKU-001")]}).status == 202
    stock_flags.update_sold_out({"SKU-001"}, set(), "2026-12-01T00:00:00.000000Z")
    # Flagged on the table, not yet in this container's copy: the worker decides.
    assert place(lambda_context, {"items": [line("SKU-001")]}).status == 202
    assert len(reads) == 1


def test_the_request_s_own_faults_come_before_sold_out(stack, catalog, lambda_context):
    flag({"SKU-001"})
    result = place(lambda_context, {"items": [line("SKU-001"), line("GHOST")]})
    assert result.status == 422
    assert result.error["code"] == "UNKNOWN_SKU"


def test_sold_out_does_not_burn_the_idempotency_key(stack, catalog, lambda_context):
    flag({"SKU-001"})
    refused = place(lambda_context, {"items": [line("SKU-001")]}, key="key-1")
    flag(set(), back={"SKU-001"})
    retried = place(lambda_context, {"items": [line("SKU-001")]}, key="key-1")
    assert (refused.status, retried.status) == (409, 202)


def test_a_replay_of_an_order_placed_before_the_sell_out_returns_that_order(
    stack, catalog, lambda_context
):
    body = {"items": [line("SKU-001")]}
    first = place(lambda_context, body, key="key-1")
    flag({"SKU-001"})
    again = place(lambda_context, body, key="key-1")
    assert (first.status, again.status) == (202, 202)
    assert again.body == first.body


# ----------------------------------------------------------------- reading back
def get_order(
    lambda_context, order_id: str, *, sub: str | None = "customer-123", scope: str = "orders"
):
    event = http_event(
        "GET", "/orders/{order_id}", path_parameters={"order_id": order_id}, sub=sub, scope=scope
    )
    return call(event, lambda_context)


def test_owner_reads_the_order(stack, catalog, lambda_context):
    placed = place(lambda_context, {"items": [line("SKU-002", 4)]}).body
    result = get_order(lambda_context, placed["order_id"])
    assert result.status == 200
    assert result.body == placed


def test_get_order_sample_event_for_an_unknown_order_is_404(stack, lambda_context):
    result = call(load_event("get_order"), lambda_context)
    assert result.status == 404
    assert result.error["code"] == "ORDER_NOT_FOUND"


def test_a_response_that_fails_its_model_is_500_and_logs_none_of_its_data(
    stack, lambda_context, monkeypatch, caplog
):
    leaked = {"order_id": "o-1", "customer_id": "alice@example.com", "status": "NOT-A-STATUS"}
    monkeypatch.setattr(orders, "get_order", lambda caller, order_id: leaked)

    result = get_order(lambda_context, "o-1")

    # Each record whole: its message and every field given to the logger.
    logged = " ".join(str(vars(record)) for record in caplog.records)
    assert result.status == 500
    assert "response failed its model" in logged
    assert "alice@example.com" not in logged
    assert "NOT-A-STATUS" not in logged


def test_another_customers_order_is_404(stack, catalog, lambda_context):
    placed = place(lambda_context, {"items": [line("SKU-001")]}, sub="alice").body
    result = get_order(lambda_context, placed["order_id"], sub="mallory")
    assert result.status == 404
    assert result.error["code"] == "ORDER_NOT_FOUND"


def test_an_admin_scope_opens_no_customers_order_on_the_customer_route(
    stack, catalog, lambda_context
):
    """Who is an admin is the authorizer's call, by route: a token's scope, whatever it
    says, gives nothing more on the customers' routes."""
    placed = place(lambda_context, {"items": [line("SKU-001")]}, sub="alice").body
    for scope in ("admin", "orders admin", "stockroom/admin"):
        result = get_order(lambda_context, placed["order_id"], sub="support-7", scope=scope)
        assert result.status == 404, scope
    event = http_event(
        "GET", "/orders/{order_id}", path_parameters={"order_id": placed["order_id"]}, sub="ops"
    )
    event["requestContext"]["authorizer"]["jwt"]["scopes"] = ["admin", "stockroom/admin"]
    assert call(event, lambda_context).status == 404


def test_the_admin_route_reads_any_order(stack, catalog, lambda_context):
    placed = place(lambda_context, {"items": [line("SKU-001")]}, sub="alice").body
    event = http_event(
        "GET",
        "/admin/orders/{order_id}",
        path_parameters={"order_id": placed["order_id"]},
        sub="ops",
    )
    result = call(event, lambda_context)
    assert result.status == 200
    assert result.body["customer_id"] == "alice"


def test_list_returns_only_my_orders_newest_first_in_pages(stack, catalog, lambda_context):
    mine = [
        place(lambda_context, {"items": [line("SKU-001", n)]}).body["order_id"] for n in range(1, 6)
    ]
    place(lambda_context, {"items": [line("SKU-001")]}, sub="someone-else")

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        result = call(http_event("GET", "/orders", query=query), lambda_context)
        assert result.status == 200
        pages += 1
        seen.extend(order["order_id"] for order in result.body["items"])
        cursor = result.body["next_cursor"]
        if cursor is None:
            break

    assert seen == list(reversed(mine))
    assert pages == 3


def test_list_orders_sample_event(stack, catalog, lambda_context):
    place(lambda_context, {"items": [line("SKU-001")]})
    result = call(load_event("list_orders"), lambda_context)
    assert result.status == 200
    assert len(result.body["items"]) == 1
    assert result.body["next_cursor"] is None


def test_a_cursor_cannot_be_edited_into_another_customers_orders(stack, catalog, lambda_context):
    import base64

    for _ in range(3):
        place(lambda_context, {"items": [line("SKU-001")]}, sub="alice")
    alice_cursor = call(
        http_event("GET", "/orders", query={"limit": "1"}, sub="alice"), lambda_context
    ).body["next_cursor"]
    forged = [
        base64.urlsafe_b64encode(json.dumps(position).encode()).decode()
        for position in (
            {"created_at": "9999", "order_id": "x", "customer_id": "alice"},
            {"created_at": "9999", "order_id": "x"},  # a cursor's shape, unsigned
        )
    ]

    replayed = call(
        http_event("GET", "/orders", query={"cursor": alice_cursor}, sub="mallory"), lambda_context
    )
    assert replayed.status == 200
    assert replayed.body["items"] == []
    for cursor in forged:
        edited = call(
            http_event("GET", "/orders", query={"cursor": cursor}, sub="mallory"), lambda_context
        )
        assert edited.status == 422, (cursor, edited.body)
        assert edited.error_fields() == ["cursor"]


@pytest.mark.parametrize(
    ("method", "route", "params"),
    [
        ("POST", "/orders", {}),
        ("GET", "/orders", {}),
        ("GET", "/orders/{order_id}", {"order_id": "any"}),
    ],
)
def test_every_orders_route_without_a_token_is_401(stack, lambda_context, method, route, params):
    body = {"items": [line("SKU-001")]} if method == "POST" else None
    event = http_event(method, route, path_parameters=params, body=body, sub=None)
    result = call(event, lambda_context)
    assert result.status == 401
    assert result.error["code"] == "UNAUTHORIZED"
