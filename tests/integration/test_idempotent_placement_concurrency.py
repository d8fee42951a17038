"""The same Idempotency-Key arriving at once in several containers creates one order.

Lambda runs one event per execution environment, so concurrency is between containers
sharing the tables; threads calling the logic (not one shared handler) model that.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import boto3

from orders import idempotency_config, place_order
from stockroom.errors import ConflictError
from stockroom.models import Order, PlaceOrderRequest
from support.catalog_data import add_product
from support.context import FakeLambdaContext

ATTEMPTS = 8


def test_concurrent_placements_with_one_key_create_exactly_one_order(stack):
    add_product("SKU-001")
    # As the handler does; the fake has every field Powertools reads.
    idempotency_config().register_lambda_context(FakeLambdaContext())  # type: ignore[arg-type]
    request = PlaceOrderRequest.model_validate({"items": [{"sku": "SKU-001", "quantity": 1}]})
    start = threading.Barrier(ATTEMPTS)

    def attempt(_: int) -> Order | ConflictError:
        start.wait()
        try:
            return place_order("alice", request, idempotency_key="burst")
        except ConflictError as conflict:
            return conflict

    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        outcomes = list(pool.map(attempt, range(ATTEMPTS)))

    orders = [outcome for outcome in outcomes if isinstance(outcome, Order)]
    conflicts = [outcome for outcome in outcomes if isinstance(outcome, ConflictError)]
    assert len(orders) + len(conflicts) == ATTEMPTS
    assert orders
    assert {order.order_id for order in orders} == {orders[0].order_id}
    assert {conflict.code for conflict in conflicts} <= {"IDEMPOTENCY_KEY_IN_PROGRESS"}
    stored = boto3.client("dynamodb").scan(TableName=stack["OrdersTable"])["Items"]
    assert [item["order_id"]["S"] for item in stored] == [orders[0].order_id]
