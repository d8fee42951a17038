"""Orders HTTP API (JWT): POST /orders, GET /orders, GET /orders/{order_id},
POST /orders/{order_id}/cancel."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from stockroom import ordering
from stockroom.http import (
    caller_of,
    create_resolver,
    described,
    documented,
    json_response,
    resolve,
)
from stockroom.models import Order, OrderPage, PlaceOrderRequest
from stockroom.observability import logger, metrics, tracer

app = create_resolver()


@app.post(
    "/orders",
    responses=documented(
        {202: described("Order accepted as PENDING; Location names it", Order)}, 400, 409
    ),
)
def place_order(
    request: Annotated[PlaceOrderRequest, Body()],
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=255)] = None,
) -> Response[Order]:
    caller = caller_of(app)
    order = ordering.place_order(caller.customer_id, request, idempotency_key)
    return json_response(202, order, {"Location": f"/orders/{order.order_id}"})


@app.get("/orders/<order_id>", responses=documented({200: described("The order", Order)}, 404))
def get_order(order_id: Annotated[str, Path(min_length=1, max_length=64)]) -> Order:
    return ordering.get_order(caller_of(app), order_id)


@app.post(
    "/orders/<order_id>/cancel",
    responses=documented(
        {200: described("The cancelled order; reserved units are available again", Order)},
        404,
        409,
        503,
    ),
)
def cancel_order(order_id: Annotated[str, Path(min_length=1, max_length=64)]) -> Order:
    return ordering.cancel_order(caller_of(app), order_id)


@app.get(
    "/orders",
    responses=documented({200: described("The caller's orders, newest first", OrderPage)}),
)
def list_orders(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(min_length=1, max_length=1024)] = None,
) -> OrderPage:
    return ordering.list_orders(caller_of(app).customer_id, limit, cursor)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Lets an idempotency record left by a timed-out invocation expire with it.
    ordering.idempotency_config().register_lambda_context(context)
    return resolve(app, event, context)
