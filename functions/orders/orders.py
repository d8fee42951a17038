"""Order logic: placing an order (optionally idempotent; refused at once when a SKU is
flagged sold out), reading, listing and cancelling."""

import uuid
from collections.abc import Callable

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from pydantic import BaseModel

from stockroom import catalog
from stockroom.cache import RefreshedValue
from stockroom.dal import idempotency, stock, stock_flags
from stockroom.dal import orders as orders_table
from stockroom.errors import (
    ConflictError,
    FieldProblem,
    InvalidRequestError,
    NotFoundError,
    RetryLaterError,
)
from stockroom.identity import Caller
from stockroom.models import (
    Order,
    OrderLine,
    OrderLineRequest,
    OrderPage,
    OrderReason,
    OrderStatus,
    PlaceOrderRequest,
    utc_now,
)
from stockroom.observability import count, logger
from stockroom.once import per_container
from stockroom.pagination import decode_cursor, encode_cursor
from stockroom.retry import with_retries
from stockroom.settings import get_settings


class _IdempotentPlacement(BaseModel):
    """What an Idempotency-Key guards: the caller and key name the record, the items
    are the payload that must match on a replay."""

    customer_id: str
    idempotency_key: str
    items: list[OrderLineRequest]


@per_container
def idempotency_config() -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="[customer_id, idempotency_key]",
        payload_validation_jmespath="items",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=get_settings().idempotency_ttl_seconds,
    )


def place_order(
    customer_id: str, request: PlaceOrderRequest, idempotency_key: str | None = None
) -> Order:
    """Stores a PENDING order priced from the catalog. With an idempotency key, a repeat
    of the same request returns the first order; a different body under the key conflicts."""
    if idempotency_key is None:
        return _place_order(customer_id, request.items)
    placement = _IdempotentPlacement(
        customer_id=customer_id, idempotency_key=idempotency_key, items=request.items
    )
    try:
        return _idempotent_placement()(placement=placement)
    except IdempotencyValidationError as error:
        raise _key_conflict(
            "this Idempotency-Key was already used with a different request body",
            "IDEMPOTENCY_KEY_REUSED",
            "already used with a different body",
        ) from error
    except IdempotencyAlreadyInProgressError as error:
        raise _key_conflict(
            "a request with this Idempotency-Key is still being processed; retry shortly",
            "IDEMPOTENCY_KEY_IN_PROGRESS",
            "request in progress",
        ) from error


def _key_conflict(message: str, code: str, problem: str) -> ConflictError:
    """A conflict over the Idempotency-Key header, which the details name."""
    return ConflictError(message, code=code, details=[FieldProblem("Idempotency-Key", problem)])


@per_container
def _idempotent_placement() -> Callable[..., Order]:
    def place(placement: _IdempotentPlacement) -> Order:
        return _place_order(placement.customer_id, placement.items)

    return idempotency.once_per_key(place, "placement", Order, idempotency_config())


# The sold-out set is read at most once a second per container: one GetItem a second,
# whatever the requests, and a flag cleared on the table is seen within a second here.
SOLD_OUT_REFRESH_SECONDS = 1.0


def _sold_out_unknown(error: Exception) -> None:
    logger.warning("sold-out set unreadable; orders go to the worker", error=str(error))


@per_container
def sold_out_flags() -> RefreshedValue[frozenset[str]]:
    """The SKUs flagged sold out, as last read. No item yet, or a failed read: none (fail
    open: the worker decides, as it always may)."""
    return RefreshedValue(
        stock_flags.sold_out_skus,
        SOLD_OUT_REFRESH_SECONDS,
        frozenset(),
        on_failure=_sold_out_unknown,
    )


def _refuse_sold_out(lines: list[OrderLineRequest]) -> None:
    """ConflictError (SOLD_OUT) naming each line whose SKU is flagged sold out."""
    flagged = sold_out_flags().get()
    sold_out = [
        FieldProblem(f"items[{index}].sku", f"SKU {line.sku!r} is sold out")
        for index, line in enumerate(lines)
        if line.sku in flagged
    ]
    if sold_out:
        count("OrdersRefusedSoldOut")
        skus = ", ".join(line.sku for line in lines if line.sku in flagged)
        raise ConflictError(f"sold out: {skus}", code="SOLD_OUT", details=sold_out)


def _place_order(customer_id: str, lines: list[OrderLineRequest]) -> Order:
    products = catalog.require_products(
        [line.sku for line in lines], "items[{}].sku", "order names"
    )
    currencies = sorted({products[line.sku].currency for line in lines})
    if len(currencies) > 1:
        raise InvalidRequestError(
            f"an order must be in one currency; these items are in {', '.join(currencies)}",
            code="MIXED_CURRENCY",
            details=[FieldProblem("items", "items are priced in more than one currency")],
        )
    over = [
        FieldProblem(
            f"items[{index}].quantity",
            f"at most {limit} units of {line.sku!r} per customer",
        )
        for index, line in enumerate(lines)
        if (limit := products[line.sku].max_per_customer) is not None and line.quantity > limit
    ]
    if over:
        raise InvalidRequestError(
            "an order line asks for more units than its product allows one customer",
            code="LIMIT_EXCEEDED",
            details=over,
        )
    # After the request's own faults (422), inside the idempotent placement: a replay of
    # an order placed before its SKU sold out still answers that order.
    _refuse_sold_out(lines)
    order_lines = [
        OrderLine(
            sku=line.sku,
            quantity=line.quantity,
            unit_price_cents=products[line.sku].unit_price_cents,
        )
        for line in lines
    ]
    now = utc_now()
    order = Order(
        order_id=str(uuid.uuid4()),
        customer_id=customer_id,
        status=OrderStatus.PENDING,
        items=order_lines,
        total_cents=sum(line.quantity * line.unit_price_cents for line in order_lines),
        currency=currencies[0],
        created_at=now,
        updated_at=now,
    )
    orders_table.create_order(order)
    count("OrdersPlaced")
    return order


def get_order(caller: Caller, order_id: str, as_admin: bool = False) -> Order:
    """The order, if the caller owns it or asks as an admin (by an /admin route, which the
    authorizer admits with the admin scope alone); otherwise it does not exist for them."""
    order = orders_table.get_order(order_id)
    if order is None or not (as_admin or order.customer_id == caller.customer_id):
        raise NotFoundError(f"no order with id {order_id!r}", code="ORDER_NOT_FOUND")
    return order


def list_orders(customer_id: str, limit: int, cursor: str | None) -> OrderPage:
    after = None
    if cursor:
        position = decode_cursor(cursor, ("created_at", "order_id"))
        after = (position["created_at"], position["order_id"])
    orders, last = orders_table.list_customer_orders(customer_id, limit, after)
    next_cursor = encode_cursor({"created_at": last[0], "order_id": last[1]}) if last else None
    return OrderPage(items=orders, next_cursor=next_cursor)


# A PENDING order can be confirmed by the worker while we cancel it, once; a third
# look always finds a settled status.
_CANCEL_ATTEMPTS = 3


def cancel_order(caller: Caller, order_id: str, as_admin: bool = False) -> Order:
    """PENDING -> CANCELLED; CONFIRMED -> CANCELLED with its reserved units returned to
    available, and to the customer's allowances of SKUs with a limit, in the same
    transaction. A REJECTED, CANCELLED or EXPIRED order conflicts, and so does a PAID
    one: there is no refund flow to give the payment back."""
    for _ in range(_CANCEL_ATTEMPTS):
        order = get_order(caller, order_id, as_admin)
        reason = OrderReason(code="CANCELLED_BY_ADMIN" if as_admin else "CANCELLED_BY_CUSTOMER")
        cancelled = _cancel(order, reason)
        if cancelled is not None:
            count("OrdersCancelled")
            return cancelled
    raise RetryLaterError(f"order {order_id} kept changing while being cancelled; try again")


def _cancel(order: Order, reason: OrderReason) -> Order | None:
    """The order cancelled, or None when it changed status under us (look again)."""
    now = utc_now()
    what = f"cancel order {order.order_id}"
    if order.status is OrderStatus.PENDING:
        if not with_retries(
            lambda: orders_table.set_status(
                order.order_id, OrderStatus.PENDING, OrderStatus.CANCELLED, now, reason
            ),
            what,
        ):
            return None  # the worker decided it meanwhile
    elif order.status is OrderStatus.CONFIRMED:
        try:
            with_retries(lambda: stock.release(order, now, reason), what)
        except stock.OrderStatusChangedError:
            return None  # a concurrent cancel got there first
    else:
        final = order.status is OrderStatus.PAID
        paid = " (a paid order is final: there is no refund flow)" if final else ""
        raise ConflictError(
            f"order {order.order_id} is {order.status.value}; only PENDING or CONFIRMED "
            f"orders can be cancelled{paid}",
            code="ORDER_NOT_CANCELLABLE",
            details=[FieldProblem("order_id", f"order is {order.status.value}")],
        )
    return order.model_copy(
        update={
            "status": OrderStatus.CANCELLED,
            "updated_at": now,
            "reason": reason,
            "hold_expires_at": None,  # the hold ends with the order
        }
    )
