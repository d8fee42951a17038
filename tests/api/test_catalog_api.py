"""GET /health, GET /products/{sku}, GET /products through the catalog handler."""

import base64
import json

import pytest
from moto.dynamodb.models import table as moto_table

import catalog_api
from stockroom import container
from support.catalog_data import add_product
from support.events import HttpResult, http_event, load_event, parse_response


def call(event, lambda_context) -> HttpResult:
    return parse_response(catalog_api.handler(event, lambda_context))


def get_product(lambda_context, sku: str, headers: dict[str, str] | None = None) -> HttpResult:
    event = http_event(
        "GET", "/products/{sku}", path_parameters={"sku": sku}, headers=headers, sub=None
    )
    return call(event, lambda_context)


def test_health_sample_event_is_ok(stack, lambda_context):
    result = call(load_event("health"), lambda_context)
    assert result.status == 200
    assert result.body == {"status": "ok"}


def test_get_product_sample_event_returns_the_product_with_cache_headers(stack, lambda_context):
    add_product("SKU-001", price=1299, currency="EUR", on_hand=7, name="Enamel mug")

    result = call(load_event("get_product"), lambda_context)

    assert result.status == 200
    assert set(result.body) == {
        "sku",
        "name",
        "unit_price_cents",
        "currency",
        "available",
        "updated_at",
        "max_per_customer",
    }
    assert result.body["max_per_customer"] is None  # no limit
    assert result.body["sku"] == "SKU-001"
    assert result.body["name"] == "Enamel mug"
    assert result.body["unit_price_cents"] == 1299
    assert result.body["available"] == 7
    assert result.headers["cache-control"] == "public, max-age=5, stale-while-revalidate=30"
    assert result.headers["etag"].startswith('"') and result.headers["etag"].endswith('"')


def test_a_products_per_customer_limit_is_shown_by_both_routes(stack, lambda_context):
    add_product("LIMITED", max_per_customer=2)

    single = get_product(lambda_context, "LIMITED")
    listed = call(http_event("GET", "/products", sub=None), lambda_context)

    assert single.body["max_per_customer"] == 2
    assert [item["max_per_customer"] for item in listed.body["items"]] == [2]


def test_unknown_sku_is_404_in_the_error_envelope(stack, lambda_context):
    result = get_product(lambda_context, "NOPE-1")
    assert result.status == 404
    assert result.error["code"] == "PRODUCT_NOT_FOUND"
    assert "NOPE-1" in result.error["message"]
    assert result.error["details"] == []


def test_sku_outside_the_allowed_alphabet_is_422_naming_sku(stack, lambda_context):
    result = get_product(lambda_context, "bad*sku")
    assert result.status == 422
    assert result.error_fields() == ["sku"]


def test_if_none_match_with_current_etag_is_304_without_body(stack, lambda_context):
    add_product("SKU-001")
    etag = get_product(lambda_context, "SKU-001").headers["etag"]

    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        result = get_product(lambda_context, "SKU-001", {"If-None-Match": header})
        assert result.status == 304, header
        assert result.body is None
        assert result.headers["etag"] == etag


def test_if_none_match_with_stale_etag_returns_the_product(stack, lambda_context):
    add_product("SKU-001")
    result = get_product(lambda_context, "SKU-001", {"If-None-Match": '"stale"'})
    assert result.status == 200
    assert result.body["sku"] == "SKU-001"


def test_product_change_is_served_from_cache_until_no_cache_is_asked(stack, lambda_context):
    add_product("SKU-001", price=1000)
    first = get_product(lambda_context, "SKU-001")
    add_product("SKU-001", price=2000)  # changed behind the container's cache

    cached = get_product(lambda_context, "SKU-001")
    fresh = get_product(lambda_context, "SKU-001", {"Cache-Control": "no-cache"})
    after_refresh = get_product(lambda_context, "SKU-001")

    assert first.body["unit_price_cents"] == 1000
    assert cached.body["unit_price_cents"] == 1000
    assert cached.headers["etag"] == first.headers["etag"]
    assert fresh.body["unit_price_cents"] == 2000
    assert fresh.headers["etag"] != first.headers["etag"]
    assert after_refresh.body["unit_price_cents"] == 2000


def test_a_page_of_products_is_cacheable_and_answers_304_to_its_etag(stack, lambda_context):
    add_product("SKU-001")
    page = call(http_event("GET", "/products", sub=None), lambda_context)
    headers = {"If-None-Match": page.headers["etag"]}
    again = call(http_event("GET", "/products", headers=headers, sub=None), lambda_context)

    assert page.headers["cache-control"] == "public, max-age=5, stale-while-revalidate=30"
    assert (again.status, again.body) == (304, None)
    assert again.headers["etag"] == page.headers["etag"]


def test_with_no_product_cache_no_cache_may_serve_a_product_stale(
    stack, monkeypatch, lambda_context
):
    monkeypatch.setenv("PRODUCT_CACHE_TTL_SECONDS", "0")
    container.reset()
    add_product("SKU-001")

    assert get_product(lambda_context, "SKU-001").headers["cache-control"] == "public, max-age=0"


# DynamoDB ends a scan's page at 1 MB whatever its Limit, with a key to go on from; moto
# does too, at a size shrunk here so that 45 small products cross it.
@pytest.mark.parametrize("page_bytes", [None, 2_000], ids=["whole-scans", "scans-cut-by-size"])
def test_list_products_pages_through_everything_exactly_once(
    stack, lambda_context, monkeypatch, page_bytes
):
    if page_bytes:
        monkeypatch.setattr(moto_table, "RESULT_SIZE_LIMIT", page_bytes)
    skus = {f"SKU-{n:03d}" for n in range(45)}
    for sku in skus:
        add_product(sku)

    seen: list[str] = []
    page_sizes: list[int] = []
    cursor = None
    while True:
        query = {"limit": "20"} | ({"cursor": cursor} if cursor else {})
        result = call(http_event("GET", "/products", query=query, sub=None), lambda_context)
        assert result.status == 200
        page_sizes.append(len(result.body["items"]))
        seen.extend(item["sku"] for item in result.body["items"])
        cursor = result.body["next_cursor"]
        if cursor is None:
            break

    assert page_sizes == [20, 20, 5]
    assert sorted(seen) == sorted(skus)


def test_list_products_sample_event_and_default_limit(stack, lambda_context):
    for n in range(25):
        add_product(f"SKU-{n:03d}")
    sample = call(load_event("list_products"), lambda_context)
    default = call(http_event("GET", "/products", sub=None), lambda_context)
    assert sample.status == 200
    assert len(default.body["items"]) == 20
    assert default.body["next_cursor"] is not None


def test_exact_last_page_has_no_cursor(stack, lambda_context):
    for n in range(4):
        add_product(f"SKU-{n:03d}")
    result = call(http_event("GET", "/products", query={"limit": "4"}, sub=None), lambda_context)
    assert len(result.body["items"]) == 4
    assert result.body["next_cursor"] is None


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten"])
def test_out_of_range_limit_is_422_naming_limit(stack, lambda_context, limit):
    result = call(http_event("GET", "/products", query={"limit": limit}, sub=None), lambda_context)
    assert result.status == 422
    assert result.error["code"] == "VALIDATION_FAILED"
    assert result.error_fields() == ["limit"]


@pytest.mark.parametrize("cursor", ["garbage!", "eyJmb28iOiAiYmFyIn0", "W10"])
def test_cursor_not_from_this_api_is_422_naming_cursor(stack, lambda_context, cursor):
    result = call(
        http_event("GET", "/products", query={"cursor": cursor}, sub=None), lambda_context
    )
    assert result.status == 422
    assert result.error_fields() == ["cursor"]


def test_a_cursor_edited_to_another_position_is_422(stack, lambda_context):
    for sku in ("A-1", "B-1", "C-1"):
        add_product(sku)
    page = call(http_event("GET", "/products", query={"limit": "1"}, sub=None), lambda_context)
    # Well formed, naming a SKU that exists, as every cursor was before they were signed.
    forged = base64.urlsafe_b64encode(json.dumps({"sku": "B-1"}).encode()).decode()

    genuine = page.body["next_cursor"]
    edited = call(
        http_event("GET", "/products", query={"cursor": forged}, sub=None), lambda_context
    )
    followed = call(
        http_event("GET", "/products", query={"cursor": genuine}, sub=None), lambda_context
    )

    assert followed.status == 200
    assert edited.status == 422, edited.body
    assert edited.error["code"] == "INVALID_CURSOR"
    assert edited.error_fields() == ["cursor"]


def test_unknown_route_is_404_in_the_error_envelope(stack, lambda_context):
    result = call(http_event("GET", "/nothing-here", sub=None), lambda_context)
    assert result.status == 404
    assert result.error["code"] == "ROUTE_NOT_FOUND"
