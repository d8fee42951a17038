"""Orders table access (key: order_id; index ByCustomer: customer_id + created_at)."""

from typing import Any

from botocore.exceptions import ClientError

from stockroom import aws
from stockroom.dal.items import Item, from_item, read_page, to_item
from stockroom.models import Order, OrderReason, OrderStatus
from stockroom.retry import TRANSIENT_ERROR_CODES, TransientWriteError
from stockroom.settings import get_settings

BY_CUSTOMER_INDEX = "ByCustomer"


def _table() -> str:
    return get_settings().require("orders_table_name")


def create_order(order: Order) -> None:
    """Stores a new order. This single write is also the outbox entry: the table's
    stream carries it to the order queue, so there is no second write to lose."""
    aws.dynamodb().put_item(
        TableName=_table(),
        Item=to_item(order),
        ConditionExpression="attribute_not_exists(order_id)",
    )


def get_order(order_id: str) -> Order | None:
    response = aws.dynamodb().get_item(
        TableName=_table(), Key={"order_id": {"S": order_id}}, ConsistentRead=True
    )
    item = response.get("Item")
    return Order.model_validate(from_item(item)) if item else None


def list_customer_orders(
    customer_id: str, limit: int, after: tuple[str, str] | None
) -> tuple[list[Order], tuple[str, str] | None]:
    """A customer's orders newest first, and the (created_at, order_id) to continue after."""

    def query(start: Item | None, count: int) -> tuple[list[Item], Item | None]:
        kwargs: dict[str, Any] = {
            "TableName": _table(),
            "IndexName": BY_CUSTOMER_INDEX,
            "KeyConditionExpression": "customer_id = :customer",
            "ExpressionAttributeValues": {":customer": {"S": customer_id}},
            "ScanIndexForward": False,
            "Limit": count,
        }
        if start is not None:
            kwargs["ExclusiveStartKey"] = start
        response = aws.dynamodb().query(**kwargs)
        return response.get("Items", []), response.get("LastEvaluatedKey")

    start = None
    if after is not None:
        created_at, order_id = after
        # The customer comes from the caller, never from the cursor: a cursor cannot
        # be edited into someone else's orders.
        start = {
            "customer_id": {"S": customer_id},
            "created_at": {"S": created_at},
            "order_id": {"S": order_id},
        }
    items, last = read_page(query, limit, start)
    orders = [Order.model_validate(from_item(item)) for item in items]
    return orders, ((last["created_at"]["S"], last["order_id"]["S"]) if last else None)


def set_status(
    order_id: str,
    expected: OrderStatus,
    target: OrderStatus,
    now: str,
    reason: OrderReason | None = None,
) -> bool:
    """expected -> target for an order whose stock does not move; False when the order
    was not in `expected` (someone else decided it first)."""
    try:
        aws.dynamodb().update_item(**status_update(order_id, expected, target, now, reason))
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code == "ConditionalCheckFailedException":
            return False
        if code in TRANSIENT_ERROR_CODES:
            raise TransientWriteError(code) from error
        raise
    return True


def status_update(
    order_id: str,
    expected: OrderStatus,
    target: OrderStatus,
    now: str,
    reason: OrderReason | None,
) -> Any:
    """An Update (for UpdateItem or a transaction) that moves the order from `expected`
    to `target`, and fails its condition if the order is in any other status."""
    values: dict[str, Any] = {
        ":expected": {"S": expected.value},
        ":target": {"S": target.value},
        ":now": {"S": now},
    }
    assignments = "#status = :target, updated_at = :now"
    if reason is not None:
        values[":reason"] = {"M": to_item(reason)}
        assignments += ", reason = :reason"
    return {
        "TableName": _table(),
        "Key": {"order_id": {"S": order_id}},
        "UpdateExpression": f"SET {assignments}",
        "ConditionExpression": "#status = :expected",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": values,
    }
