"""The orders function's routes with FastAPI + Mangum: POST /orders, GET /orders,
GET /orders/{order_id}, POST /orders/{order_id}/cancel and their /admin twins
(functions/orders/orders_api.py is the deployed version)."""

from typing import Annotated

from fastapi import Depends, Header, Path, Query
from fastapi.responses import JSONResponse
from pydantic import ConfigDict

import orders
from bench.fastapi.common import caller, create_app, lambda_handler
from stockroom.identity import Caller
from stockroom.models import Order, OrderPage, PlaceOrderRequest


class PlaceOrderBody(PlaceOrderRequest):
    """The body as FastAPI validates it: built at import. Stockroom's models build on
    first use, and pydantic warns on FastAPI's adapter of such a model (the parameter's
    alias, which FastAPI itself applies, "has no effect")."""

    model_config = ConfigDict(defer_build=False)


app = create_app()
OrderId = Annotated[str, Path(min_length=1, max_length=64)]
CallerOf = Annotated[Caller, Depends(caller)]


@app.post("/orders", status_code=202, response_model=Order)
def place_order(
    request: PlaceOrderBody,
    who: CallerOf,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=255)] = None,
) -> JSONResponse:
    order = orders.place_order(who.customer_id, request, idempotency_key)
    return JSONResponse(
        order.model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/orders/{order.order_id}"},
    )


@app.get("/orders/{order_id}")
def get_order(order_id: OrderId, who: CallerOf) -> Order:
    return orders.get_order(who, order_id)


@app.post("/orders/{order_id}/cancel")
def cancel_order(order_id: OrderId, who: CallerOf) -> Order:
    return orders.cancel_order(who, order_id)


# The back office's: the authorizer admits only tokens with the admin scope.
@app.get("/admin/orders/{order_id}")
def admin_get_order(order_id: OrderId, who: CallerOf) -> Order:
    return orders.get_order(who, order_id, as_admin=True)


@app.post("/admin/orders/{order_id}/cancel")
def admin_cancel_order(order_id: OrderId, who: CallerOf) -> Order:
    return orders.cancel_order(who, order_id, as_admin=True)


@app.get("/orders")
def list_orders(
    who: CallerOf,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(min_length=1, max_length=1024)] = None,
) -> OrderPage:
    return orders.list_orders(who.customer_id, limit, cursor)


# Lets an idempotency record left by a timed-out invocation expire with it.
handler = lambda_handler(
    app, before=lambda context: orders.idempotency_config().register_lambda_context(context)
)
