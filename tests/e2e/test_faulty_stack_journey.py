"""A journey through a local stack told to fail (devtools/faults.py): the queue refuses a
share of the messages sent to it and a share of DynamoDB writes lose their answers after
taking effect. Every order is still decided, once, and none is left PENDING."""

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from devtools.http_api import make_token
from e2e.test_journeys import request
from e2e.test_local_stack import _started

pytestmark = pytest.mark.local_only

ORDERS = 24
ON_HAND = 15
FAULTS = "refused-sends=0.4,lost-answers=0.2"


def place(api: str, customer: str, sku: str) -> str:
    """One order of one unit, sent as a client that retries does: again with the same
    Idempotency-Key after a 5xx, and once more after it succeeded."""
    headers = {"Idempotency-Key": f"key-{customer}"}
    body = {"items": [{"sku": sku, "quantity": 1}]}
    token = make_token(customer)
    answers: list[tuple[int, Any]] = []
    while len([status for status, _ in answers if status == 202]) < 2:
        status, _, answer = request(f"{api}/orders", "POST", body, token, headers)
        # A 5xx, or the key still held by an attempt that failed: the client tries again.
        in_progress = status == 409 and answer["error"]["code"] == "IDEMPOTENCY_KEY_IN_PROGRESS"
        assert status == 202 or status >= 500 or in_progress, (status, answer)
        answers.append((status, answer))
        assert len(answers) < 10, answers
    ids = {str(answer["order_id"]) for status, answer in answers if status == 202}
    assert len(ids) == 1, answers
    return ids.pop()


def test_orders_through_refused_sends_and_lost_answers_are_each_decided_once(tmp_path, monkeypatch):
    monkeypatch.setenv("STOCKROOM_LOCAL_DIR", str(tmp_path))  # its tokens, signed by its key
    stack = _started(
        tmp_path,
        {
            "STOCKROOM_FAULTS": FAULTS,
            "STOCKROOM_DYNAMODB": "moto",  # no JVM to start: the journey is the point
            "STOCKROOM_CACHE_TIER": "none",
            "STOCKROOM_SCHEDULE_SECONDS": "1",
            "STOCKROOM_PARAMETER_OVERRIDES": "StuckOrderSeconds=5",
        },
    )
    try:
        dynamodb = boto3.client("dynamodb", endpoint_url=stack.endpoint)
        outputs = request_outputs(tmp_path)
        sku = f"FAULTY-{uuid.uuid4().hex[:8]}"
        put_product(dynamodb, outputs["ProductsTableName"], sku)
        customers = [f"faulty-{n}" for n in range(ORDERS)]

        with ThreadPoolExecutor(8) as pool:
            placed = list(pool.map(lambda c: place(stack.api, c, sku), customers))

        decided = [
            decided_order(stack.api, order_id, customer)
            for order_id, customer in zip(placed, customers, strict=True)
        ]
        statuses = [order["status"] for order in decided]
        assert (statuses.count("CONFIRMED"), statuses.count("REJECTED")) == (
            ON_HAND,
            ORDERS - ON_HAND,
        )
        stored = dynamodb.scan(TableName=outputs["OrdersTableName"])["Items"]
        mine = [item for item in stored if item["customer_id"]["S"] in customers]
        assert len(mine) == ORDERS  # one order per key, however often it was sent
        product = dynamodb.get_item(
            TableName=outputs["ProductsTableName"], Key={"sku": {"S": sku}}
        )["Item"]
        assert (product["available"]["N"], product["reserved"]["N"]) == ("0", str(ON_HAND))
        log = stack.log.read_text()
        assert "messages refused" in log and "lost after it took effect" in log, log[-3000:]
    finally:
        stack.stop()


def request_outputs(folder) -> dict[str, str]:
    outputs: dict[str, str] = json.loads((folder / "outputs.json").read_text())
    return outputs


def put_product(dynamodb: Any, table: str, sku: str) -> None:
    dynamodb.put_item(
        TableName=table,
        Item={
            "sku": {"S": sku},
            "name": {"S": f"Product {sku}"},
            "unit_price_cents": {"N": "1299"},
            "currency": {"S": "EUR"},
            "on_hand": {"N": str(ON_HAND)},
            "reserved": {"N": "0"},
            "available": {"N": str(ON_HAND)},
            "updated_at": {"S": "2026-12-05T08:00:00.000000Z"},
        },
    )


def decided_order(api: str, order_id: str, customer: str) -> dict[str, Any]:
    token = make_token(customer)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, _, order = request(f"{api}/orders/{order_id}", token=token)
        if status == 200 and order["status"] != "PENDING":
            return dict(order)
        time.sleep(0.2)
    pytest.fail(f"order {order_id} still PENDING after 60 s")
