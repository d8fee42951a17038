"""Orders table access (key: order_id; indexes ByCustomer: customer_id + created_at,
Pending: pending_shard + pending_since, which holds only PENDING orders, and Holds:
hold_shard + hold_expires_at, which holds only CONFIRMED orders under a hold).

Every conditional write here is safe to send twice. botocore resends a write whose answer
was lost (a read timeout); if the first copy took effect, the second fails its condition
against our own write. Each such failure reads the item as it stands
(ReturnValuesOnConditionCheckFailure) and counts as success when it is our write.
"""

import uuid
import zlib
from collections.abc import Mapping
from typing import Any, cast

from botocore.exceptions import ClientError

from stockroom import aws, retry
from stockroom.dal.items import Item, batch_get, from_item, read_page, to_item
from stockroom.models import Order, OrderReason, OrderStatus, RefundDue
from stockroom.settings import get_settings

BY_CUSTOMER_INDEX = "ByCustomer"
PENDING_INDEX = "Pending"
# A PENDING order's index entry goes to one of this many partitions of the Pending index,
# so that no single index key takes every placed order's write (DynamoDB serves about
# 1,000 writes a second per partition key value); the reconciler reads every shard.
PENDING_SHARDS = 16
HOLDS_INDEX = "Holds"
# A held order's entry in the Holds index, spread as the Pending index's are: a sale
# confirms thousands of orders a second, each one index write.
HOLD_SHARDS = 16


def _table() -> str:
    return get_settings().require("orders_table_name")


def pending_shard(order_id: str) -> str:
    return str(zlib.crc32(order_id.encode()) % PENDING_SHARDS)


def hold_shard(order_id: str) -> str:
    return str(zlib.crc32(order_id.encode()) % HOLD_SHARDS)


def create_order(order: Order) -> None:
    """Stores a new order. This single write is also the outbox entry: the table's
    stream carries it to the order queue, so there is no second write to lose. A PENDING
    order is also entered in the Pending index, which the reconciler reads."""
    item = to_item(order)
    if order.status is OrderStatus.PENDING:
        item["pending_shard"] = {"S": pending_shard(order.order_id)}
        item["pending_since"] = {"S": order.created_at}
    try:
        aws.dynamodb().put_item(
            TableName=_table(),
            Item=item,
            ConditionExpression="attribute_not_exists(order_id)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        # The id is new, so an item already under it is our own put, resent.
        if aws.error_code(error) == "ConditionalCheckFailedException" and _current(error) == item:
            return
        raise


def get_order(order_id: str) -> Order | None:
    response = aws.dynamodb().get_item(
        TableName=_table(), Key={"order_id": {"S": order_id}}, ConsistentRead=True
    )
    item = response.get("Item")
    return Order.model_validate(from_item(item)) if item else None


def get_orders(order_ids: list[str]) -> dict[str, Order]:
    """The orders that exist among `order_ids`, by id, read strongly consistent."""
    items = batch_get(_table(), "order_id", order_ids, consistent=True)
    orders = (Order.model_validate(from_item(item)) for item in items)
    return {order.order_id: order for order in orders}


def pending_order_ids(since_before: str) -> list[str]:
    """Ids of orders PENDING since before the timestamp (placed, or last sent to the queue
    again, before it), from every shard of the Pending index. Eventually consistent: an
    order decided moments ago may still show."""
    order_ids = []
    paginator = aws.dynamodb().get_paginator("query")
    for shard in range(PENDING_SHARDS):
        pages = paginator.paginate(
            TableName=_table(),
            IndexName=PENDING_INDEX,
            KeyConditionExpression="pending_shard = :shard AND pending_since < :before",
            ExpressionAttributeValues={
                ":shard": {"S": str(shard)},
                ":before": {"S": since_before},
            },
        )
        order_ids += [item["order_id"]["S"] for page in pages for item in page.get("Items", [])]
    return order_ids


def due_hold_ids(expires_by: str) -> list[str]:
    """Ids of CONFIRMED orders whose hold expires at or before the timestamp, from every
    shard of the Holds index. Eventually consistent: an order paid or cancelled moments
    ago may still show, so read it before acting on it."""
    order_ids = []
    paginator = aws.dynamodb().get_paginator("query")
    for shard in range(HOLD_SHARDS):
        pages = paginator.paginate(
            TableName=_table(),
            IndexName=HOLDS_INDEX,
            KeyConditionExpression="hold_shard = :shard AND hold_expires_at <= :by",
            ExpressionAttributeValues={":shard": {"S": str(shard)}, ":by": {"S": expires_by}},
        )
        order_ids += [item["order_id"]["S"] for page in pages for item in page.get("Items", [])]
    return order_ids


def mark_requeued(order_id: str, now: str) -> None:
    """Restarts a PENDING order's clock in the Pending index, so the reconciler sends it
    again only after another full bound; an order decided meanwhile is left alone."""
    try:
        aws.dynamodb().update_item(
            TableName=_table(),
            Key={"order_id": {"S": order_id}},
            UpdateExpression="SET pending_since = :now",
            ConditionExpression="#status = :pending",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":now": {"S": now}, ":pending": {"S": "PENDING"}},
        )
    except ClientError as error:
        if aws.error_code(error) != "ConditionalCheckFailedException":
            raise


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
        code = aws.error_code(error)
        if code == "ConditionalCheckFailedException":
            return is_own_transition(_current(error), target, now)
        failure = retry.failure_of(error)
        if failure is not None:
            raise failure from error
        raise
    return True


def set_statuses(
    reasons: Mapping[str, OrderReason],
    expected: OrderStatus,
    target: OrderStatus,
    now: str,
) -> bool:
    """expected -> target for every order of `reasons`, each with its reason, in one
    transaction (at most 100 orders): True when every order moved; False when none did,
    because the transaction was cancelled (an order not in `expected`, a conflict, a
    throttled item). The caller then moves them one by one with `set_status` and the
    same `now`, which tells each order's case apart (a write of ours whose answer was
    lost included). RetryLaterError when the request was throttled past botocore's
    retries: one by one would meet the same partition. One request where one an order
    costs a request each, at twice the write units an order."""
    transaction: list[Any] = [
        {"Update": status_update(order_id, expected, target, now, reason)}
        for order_id, reason in reasons.items()
    ]
    try:
        aws.dynamodb().transact_write_items(
            TransactItems=transaction, ClientRequestToken=str(uuid.uuid4())
        )
    except ClientError as error:
        if aws.error_code(error) == "TransactionCanceledException":
            return False
        failure = retry.failure_of(error)
        if isinstance(failure, retry.TransientWriteError):
            return False
        if failure is not None:
            raise failure from error
        raise
    return True


def status_update(
    order_id: str,
    expected: OrderStatus,
    target: OrderStatus,
    now: str,
    reason: OrderReason | None,
    limited_skus: list[str] | None = None,
    hold_expires_at: str | None = None,
) -> Any:
    """An Update (for UpdateItem or a transaction) that moves the order from `expected`
    to `target` (leaving the Pending index), and fails its condition if the order is in
    any other status; a failed condition returns the order as it stands. `limited_skus`,
    if any, are stored as the SKUs the order counts against its customer's allowances.
    With `hold_expires_at` the order enters the Holds index until then; without, it
    leaves it."""
    values: dict[str, Any] = {
        ":expected": {"S": expected.value},
        ":target": {"S": target.value},
        ":now": {"S": now},
    }
    assignments = "#status = :target, updated_at = :now"
    if reason is not None:
        values[":reason"] = {"M": to_item(reason)}
        assignments += ", reason = :reason"
    if limited_skus:
        values[":limited"] = {"L": [{"S": sku} for sku in limited_skus]}
        assignments += ", limited_skus = :limited"
    removed = "pending_shard, pending_since"
    if hold_expires_at is None:
        removed += ", hold_shard, hold_expires_at"
    else:
        values[":hold_shard"] = {"S": hold_shard(order_id)}
        values[":hold_expires_at"] = {"S": hold_expires_at}
        assignments += ", hold_shard = :hold_shard, hold_expires_at = :hold_expires_at"
    return {
        "TableName": _table(),
        "Key": {"order_id": {"S": order_id}},
        "UpdateExpression": f"SET {assignments} REMOVE {removed}",
        "ConditionExpression": "#status = :expected",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": values,
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def is_own_transition(current: Mapping[str, Any] | None, target: OrderStatus, now: str) -> bool:
    """True when the order as it stands (after a failed status condition) is in `target`
    with our own `now` (microseconds) as updated_at: an earlier copy of this very write took
    effect and its answer was lost, so the write succeeded once."""
    if not current:
        return False
    return bool(
        current.get("status", {}).get("S") == target.value
        and current.get("updated_at", {}).get("S") == now
    )


def _current(error: ClientError) -> Item | None:
    """The item as it stood when a write's condition failed, which
    ReturnValuesOnConditionCheckFailure puts in the error (botocore's types omit it)."""
    return cast(Item | None, cast(dict[str, Any], error.response).get("Item"))


# ------------------------------------------------------------------------ payments
# Every payment event applied to an order (paying it or recorded as due a refund) adds
# its id to the order's `payment_events` string set, in the same write: a condition on
# that set is what makes a redelivered event a no-op.


def mark_paid(order_id: str, payment_id: str, now: str) -> bool:
    """CONFIRMED -> PAID by payment event `payment_id`, leaving the Holds index, in one
    conditional write; False when the order was no longer CONFIRMED (expired, cancelled,
    or paid by another event first)."""
    try:
        aws.dynamodb().update_item(
            TableName=_table(),
            Key={"order_id": {"S": order_id}},
            UpdateExpression=(
                "SET #status = :paid, updated_at = :now, paid_at = :now, payment_id = :payment "
                "ADD payment_events :payments REMOVE hold_shard, hold_expires_at"
            ),
            ConditionExpression="#status = :confirmed",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":paid": {"S": OrderStatus.PAID.value},
                ":confirmed": {"S": OrderStatus.CONFIRMED.value},
                ":now": {"S": now},
                ":payment": {"S": payment_id},
                ":payments": {"SS": [payment_id]},
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if aws.error_code(error) == "ConditionalCheckFailedException":
            current = _current(error) or {}
            # Our own write, resent after its answer was lost: this event, at our `now`.
            # (The same event delivered twice at once finds it paid at another time.)
            return bool(
                current.get("payment_id", {}).get("S") == payment_id
                and current.get("paid_at", {}).get("S") == now
            )
        failure = retry.failure_of(error)
        if failure is not None:
            raise failure from error
        raise
    return True


def record_refund_due(order_id: str, refund: RefundDue) -> bool:
    """`refund` appended to the order's refunds_due, its status unchanged; False when
    its payment event was already applied to the order."""
    try:
        aws.dynamodb().update_item(
            TableName=_table(),
            Key={"order_id": {"S": order_id}},
            UpdateExpression=(
                "SET refunds_due = list_append(if_not_exists(refunds_due, :none), :refund), "
                "updated_at = :now ADD payment_events :payments"
            ),
            ConditionExpression="attribute_exists(order_id) AND NOT contains(payment_events, :id)",
            ExpressionAttributeValues={
                ":none": {"L": []},
                ":refund": {"L": [{"M": to_item(refund)}]},
                ":now": {"S": refund.received_at},
                ":id": {"S": refund.payment_id},
                ":payments": {"SS": [refund.payment_id]},
            },
        )
    except ClientError as error:
        if aws.error_code(error) == "ConditionalCheckFailedException":
            return False
        failure = retry.failure_of(error)
        if failure is not None:
            raise failure from error
        raise
    return True
