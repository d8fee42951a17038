"""Orders HTTP API (JWT): POST /orders, GET /orders, GET /orders/{order_id},
POST /orders/{order_id}/cancel, and the back office's GET /admin/orders/{order_id} and
POST /admin/orders/{order_id}/cancel (admin scope)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

import orders
from stockroom import container
from stockroom.http import (
    INVALID_CURSOR,
    answers,
    caller_of,
    create_resolver,
    cursor_query,
    json_response,
    resolve,
)
from stockroom.models import Order, OrderPage, PlaceOrderRequest
from stockroom.observability import logger, metrics

container.prepare(
    "dynamodb",
    "cache",
    settings=[
        "products_table_name",
        "orders_table_name",
        "idempotency_table_name",
        "allowances_table_name",
        "stock_flags_table_name",
        "cursor_secret_arn",  # its client made on the first page that needs it
    ],
)

app = create_resolver()


def order_id_path() -> Any:
    """The {order_id} parameter (a fresh one per route); the example is the local
    stack's seeded order (seed/OrdersTable/)."""
    return Path(min_length=1, max_length=64, examples=["5b0e3c1a-8f7d-4c2b-9a6e-1d2f3a4b5c6d"])


@app.post(
    "/orders",
    responses=answers(
        202,
        "Order accepted as PENDING; Location names it",
        Order,
        400,
        409,
        unprocessable="an order naming a SKU no product has (UNKNOWN_SKU), products "
        "priced in more than one currency (MIXED_CURRENCY), or a line of more units than "
        "its product's max_per_customer (LIMIT_EXCEEDED)",
        conflict="a SKU known to be sold out (SOLD_OUT, naming items[i].sku; nothing is "
        "stored, send it again once units are back), or an Idempotency-Key used with "
        "another body (IDEMPOTENCY_KEY_REUSED) or still in progress "
        "(IDEMPOTENCY_KEY_IN_PROGRESS)",
    ),
)
def place_order(
    request: Annotated[PlaceOrderRequest, Body()],
    idempotency_key: Annotated[
        str | None, Header(min_length=1, max_length=255, examples=["checkout-7f3a2c"])
    ] = None,
) -> Response[Order]:
    caller = caller_of(app)
    order = orders.place_order(caller.customer_id, request, idempotency_key)
    return json_response(202, order, {"Location": f"/orders/{order.order_id}"})


@app.get("/orders/<order_id>", responses=answers(200, "The order", Order, 404))
def get_order(order_id: Annotated[str, order_id_path()]) -> Order:
    return orders.get_order(caller_of(app), order_id)


@app.post(
    "/orders/<order_id>/cancel",
    responses=answers(
        200, "The cancelled order; reserved units are available again", Order, 404, 409, 503
    ),
)
def cancel_order(order_id: Annotated[str, order_id_path()]) -> Order:
    return orders.cancel_order(caller_of(app), order_id)


# The back office's routes: API Gateway's authorizer admits only tokens with the admin
# scope (template.yaml's AdminScope), so reaching them is what makes a caller an admin.
@app.get("/admin/orders/<order_id>", responses=answers(200, "Any customer's order", Order, 404))
def admin_get_order(order_id: Annotated[str, order_id_path()]) -> Order:
    return orders.get_order(caller_of(app), order_id, as_admin=True)


@app.post(
    "/admin/orders/<order_id>/cancel",
    responses=answers(
        200,
        "Any customer's order, cancelled; reserved units are available again",
        Order,
        404,
        409,
        503,
    ),
)
def admin_cancel_order(order_id: Annotated[str, order_id_path()]) -> Order:
    return orders.cancel_order(caller_of(app), order_id, as_admin=True)


@app.get(
    "/orders",
    responses=answers(
        200, "The caller's orders, newest first", OrderPage, unprocessable=INVALID_CURSOR
    ),
)
def list_orders(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, cursor_query()] = None,
) -> OrderPage:
    return orders.list_orders(caller_of(app).customer_id, limit, cursor)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Lets an idempotency record left by a timed-out invocation expire with it.
    orders.idempotency_config().register_lambda_context(context)
    return resolve(app, event, context)
