"""Orders and stock for worker tests: placing orders through the logic, delivering them
to the worker as SQS events shaped like events/order_placed_sqs.json, checking stock."""

import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.endpoint
from botocore.awsrequest import AWSResponse

from orders import place_order
from stockroom import aws as stockroom_aws
from stockroom.dal import allowances
from stockroom.dal import orders as orders_table
from stockroom.dal import products as products_table
from stockroom.dal.items import from_item
from stockroom.models import (
    HOLDING_STATUSES,
    Order,
    OrderLine,
    OrderStatus,
    PlaceOrderRequest,
    utc_now,
)
from stockroom.settings import get_settings
from support.aws_stack import REFUSALS
from support.events import load_event


def place(customer_id: str, quantities: dict[str, int]) -> Order:
    """A PENDING order with one line per SKU and quantity."""
    request = PlaceOrderRequest.model_validate(
        {"items": [{"sku": sku, "quantity": quantity} for sku, quantity in quantities.items()]}
    )
    return place_order(customer_id, request)


def stored_pending_order(customer_id: str, sku: str) -> Order:
    """A PENDING order of one unit of `sku` at 100 cents, written straight to the orders
    table (no catalog read: for tests whose tables hold only what the worker needs)."""
    now = utc_now()
    order = Order(
        order_id=str(uuid.uuid4()),
        customer_id=customer_id,
        status=OrderStatus.PENDING,
        items=[OrderLine(sku=sku, quantity=1, unit_price_cents=100)],
        total_cents=100,
        currency="EUR",
        created_at=now,
        updated_at=now,
    )
    orders_table.create_order(order)
    return order


def sqs_event(*bodies: str | dict[str, Any]) -> dict[str, Any]:
    """An SQS event with one record per body (a dict is sent as JSON); each record
    gets a fresh message id."""
    sample = load_event("order_placed_sqs")
    template = sample["Records"][0]
    records = []
    for body in bodies:
        record = json.loads(json.dumps(template))
        record["messageId"] = str(uuid.uuid4())
        record["body"] = body if isinstance(body, str) else json.dumps(body)
        records.append(record)
    return {"Records": records}


def message_for(order: Order | str) -> dict[str, str]:
    return {"order_id": order if isinstance(order, str) else order.order_id}


def status_of(order: Order) -> OrderStatus:
    stored = orders_table.get_order(order.order_id)
    assert stored is not None
    return stored.status


def all_orders() -> list[Order]:
    pages = (
        boto3.client("dynamodb")
        .get_paginator("scan")
        .paginate(TableName=get_settings().require("orders_table_name"))
    )
    return [Order.model_validate(from_item(item)) for page in pages for item in page["Items"]]


def assert_stock_adds_up(*skus: str) -> None:
    """For each SKU: available + reserved == on_hand, nothing negative, and reserved is
    exactly the units of the orders holding units (CONFIRMED, PAID)."""
    confirmed: Counter[str] = Counter()
    for order in all_orders():
        if order.status in HOLDING_STATUSES:
            for line in order.items:
                confirmed[line.sku] += line.quantity
    for sku in skus:
        product = products_table.get_product(sku)
        assert product is not None, sku
        assert product.available + product.reserved == product.on_hand, product
        assert product.available >= 0, product
        assert product.reserved == confirmed[sku], (product, confirmed[sku])


def allowance(customer_id: str, sku: str) -> int:
    """The units of `sku` the customer's allowance holds."""
    return allowances.held([(customer_id, sku)])[customer_id, sku]


def assert_allowances_add_up() -> None:
    """Every allowance holds exactly the units of its customer's orders in a holding
    status that count its SKU, and none holds more than its SKU's current limit."""
    counted: Counter[tuple[str, str]] = Counter()
    for order in all_orders():
        if order.status in HOLDING_STATUSES:
            for line in order.items:
                if line.sku in (order.limited_skus or []):
                    counted[order.customer_id, line.sku] += line.quantity
    pages = (
        boto3.client("dynamodb")
        .get_paginator("scan")
        .paginate(TableName=get_settings().require("allowances_table_name"))
    )
    stored = {
        (item["customer_id"]["S"], item["sku"]["S"]): int(item["units"]["N"])
        for page in pages
        for item in page["Items"]
    }
    assert {key: units for key, units in stored.items() if units} == dict(counted)
    for (customer, sku), units in counted.items():
        product = products_table.get_product(sku)
        limit = product.max_per_customer if product else None
        assert limit is None or units <= limit, (customer, sku, units, limit)


type Injection = Callable[[dict[str, Any]], dict[str, Any] | None]


@contextmanager
def dynamodb_failures(
    injection: Injection, operation: str = "TransactWriteItems"
) -> Iterator[list[dict[str, Any]]]:
    """Answers each `operation` call for which `injection(request)` returns an error
    response with that error, as botocore would have parsed it from DynamoDB, without
    sending it; other calls reach moto. Yields the requests answered so."""
    injected: list[dict[str, Any]] = []

    def intercept(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        body = json.loads(params["body"])
        error = injection(body)
        if error is None:
            return None
        injected.append(body)
        http = AWSResponse(params["url"], 400, {}, None)  # type: ignore[arg-type]  # never read
        return http, error

    events = stockroom_aws.dynamodb().meta.events
    # botocore's stubs type handlers as returning None; before-call handlers may answer.
    events.register_first(f"before-call.dynamodb.{operation}", intercept)  # type: ignore[arg-type]
    try:
        yield injected
    finally:
        events.unregister(f"before-call.dynamodb.{operation}", intercept)  # type: ignore[arg-type]  # as above


@contextmanager
def dynamodb_refusals(
    refuse: Callable[[dict[str, Any]], str | None], operation: str
) -> Iterator[list[dict[str, Any]]]:
    """moto answers each `operation` request for which `refuse(request)` gives an error
    code with DynamoDB's HTTP 400 of that code, and does nothing else: botocore parses
    and retries it as it would DynamoDB's (its backoff waits skipped). Yields the requests
    answered so, each attempt counted."""
    refused: list[dict[str, Any]] = []
    target = f"DynamoDB_20120810.{operation}"

    def answer(request: Any) -> tuple[int, dict[str, str], bytes] | None:
        if request.headers.get("X-Amz-Target", b"").decode() != target:
            return None
        body = json.loads(request.body)
        code = refuse(body)
        if code is None:
            return None
        refused.append(body)
        error = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected"}
        return 400, {"x-amzn-requestid": "injected"}, json.dumps(error).encode()

    REFUSALS.append(answer)
    endpoint = vars(botocore.endpoint)
    clock = endpoint["time"]  # what botocore sleeps with between attempts
    endpoint["time"] = SimpleNamespace(sleep=lambda _: None)
    try:
        yield refused
    finally:
        endpoint["time"] = clock
        REFUSALS.remove(answer)


def cancelled_transaction(body: dict[str, Any], reason: str) -> dict[str, Any]:
    """DynamoDB's answer when `reason` (e.g. TransactionConflict) cancels the
    transaction in `body`: that reason on the first item, None on the others."""
    reasons = [{"Code": "None"} for _ in body["TransactItems"]]
    reasons[0] = {"Code": reason, "Message": f"injected {reason}"}
    return {
        "Error": {
            "Code": "TransactionCanceledException",
            "Message": f"Transaction cancelled, please refer cancellation reasons [{reason}]",
        },
        "CancellationReasons": reasons,
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }


def names_order(body: dict[str, Any], order: Order) -> bool:
    return order.order_id in json.dumps(body)
