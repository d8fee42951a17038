"""Every answer's Cache-Control, for the routes the template gives the HTTP API: a public
read's answer to an anonymous caller may be kept by any cache (the edge included) for its
max-age and served stale while it is fetched again; every other answer, a public read's to
a caller who sent Authorization included, is `private, no-store` (docs/caching.md)."""

from typing import Any

import pytest

from devtools.handlers import import_handler_module
from devtools.template import http_routes
from stockroom.http_rules import NOT_CACHEABLE, STALE_WHILE_REVALIDATE_SECONDS
from support.catalog_data import add_product
from support.events import HttpResult, http_event, parse_response
from support.orders import place
from support.payments import payment, signed_event, webhook_event, webhook_secret

ROUTES = http_routes()
# The public reads: the catalog's public GETs. /health is public too, but a health check
# must reach the functions, so it is never cached.
PUBLIC_READS = sorted(
    route
    for route, (_, secured) in ROUTES.items()
    if route[0] == "GET" and not secured and route[1].startswith("/products")
)
PRIVATE = sorted(route for route, (_, secured) in ROUTES.items() if secured)
SKU = "MUG-1"
CUSTOMER = "customer-123"
# Bodies of the routes that read one, so that each answers its success.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/orders"): {"items": [{"sku": SKU, "quantity": 1}]},
    ("POST", "/me/views"): {"skus": [SKU]},
}


def ask(route: tuple[str, str], lambda_context: Any, **kwargs: Any) -> HttpResult:
    """The answer of the route's function (its deployed handler) to one request."""
    method, path = route
    handler = import_handler_module(ROUTES[route][0]).handler
    return parse_response(handler(http_event(method, path, **kwargs), lambda_context))


@pytest.fixture
def mug(stack):
    add_product(SKU)
    return stack


def test_the_routes_split_into_public_reads_and_private_ones():
    assert PUBLIC_READS == [
        ("GET", "/products"),
        ("GET", "/products/{sku}"),
        ("GET", "/products/{sku}/related"),
    ]
    assert len(PRIVATE) >= 6  # orders (4), recommendations, views


@pytest.mark.parametrize("route", PRIVATE, ids=" ".join)
def test_every_private_answer_is_private_no_store(route, mug, lambda_context):
    order = place(CUSTOMER, {SKU: 1})
    values = {"sku": SKU, "order_id": order.order_id}
    parameters = {name: value for name, value in values.items() if f"{{{name}}}" in route[1]}

    result = ask(
        route, lambda_context, path_parameters=parameters, body=BODIES.get(route), sub=CUSTOMER
    )

    assert 200 <= result.status < 300, result.body
    assert result.headers["cache-control"] == NOT_CACHEABLE


def test_a_refused_private_request_is_private_no_store_too(mug, lambda_context):
    unknown = ask(
        ("GET", "/orders/{order_id}"),
        lambda_context,
        path_parameters={"order_id": "no-such-order"},
        sub=CUSTOMER,
    )
    malformed = ask(("POST", "/orders"), lambda_context, raw_body="{", sub=CUSTOMER)

    assert (unknown.status, malformed.status) == (404, 400)
    assert unknown.headers["cache-control"] == malformed.headers["cache-control"] == NOT_CACHEABLE


def test_the_payment_webhook_answers_private_no_store_signed_or_not(mug, lambda_context):
    webhook = import_handler_module(ROUTES[("POST", "/payments/webhook")][0]).handler
    order = place(CUSTOMER, {SKU: 1})
    body = payment(order)

    unsigned = parse_response(webhook(webhook_event("{}", None), lambda_context))
    signed = parse_response(webhook(signed_event(webhook_secret(mug), body), lambda_context))

    assert unsigned.status == 401
    assert signed.status == 409  # PENDING: the provider sends it again later
    assert unsigned.headers["cache-control"] == signed.headers["cache-control"] == NOT_CACHEABLE


@pytest.mark.parametrize("route", PUBLIC_READS, ids=" ".join)
def test_a_public_read_is_cacheable_by_anyone_unless_the_caller_sent_authorization(
    route, mug, lambda_context
):
    parameters = {"sku": SKU} if "{sku}" in route[1] else None

    anonymous = ask(route, lambda_context, path_parameters=parameters, sub=None)
    etag = anonymous.headers["etag"]
    not_modified = ask(
        route, lambda_context, path_parameters=parameters, headers={"If-None-Match": etag}, sub=None
    )
    authorized = {"Authorization": "Bearer anything"}
    with_token = ask(
        route, lambda_context, path_parameters=parameters, headers=authorized, sub=None
    )
    not_modified_with_token = ask(
        route,
        lambda_context,
        path_parameters=parameters,
        headers=authorized | {"If-None-Match": etag},
        sub=None,
    )

    public = f"public, max-age=5, stale-while-revalidate={STALE_WHILE_REVALIDATE_SECONDS}"
    assert (anonymous.status, not_modified.status) == (200, 304)
    assert anonymous.headers["cache-control"] == not_modified.headers["cache-control"] == public
    assert (with_token.status, not_modified_with_token.status) == (200, 304)
    assert with_token.body == anonymous.body  # the same answer, kept by no shared cache
    assert with_token.headers["cache-control"] == NOT_CACHEABLE
    assert not_modified_with_token.headers["cache-control"] == NOT_CACHEABLE


def test_a_public_reads_errors_and_the_health_check_are_never_cached(mug, lambda_context):
    unknown = ask(
        ("GET", "/products/{sku}"), lambda_context, path_parameters={"sku": "NOPE-1"}, sub=None
    )
    health = ask(("GET", "/health"), lambda_context, sub=None)

    assert (unknown.status, health.status) == (404, 200)
    assert unknown.headers["cache-control"] == health.headers["cache-control"] == NOT_CACHEABLE
