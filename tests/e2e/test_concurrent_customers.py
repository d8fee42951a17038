"""Customers at random, side by side: orders (some sent twice with the same
Idempotency-Key, as a client retrying would), cancels and restock imports, through the
API and the bucket, with real concurrency. However they interleave, the stock adds up,
no order stays PENDING, a retried request never doubles an order, and nothing is a 5xx."""

import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from e2e.test_journeys import put_product, request, wait_for_report
from support.targets import Target

# Customers of its own, each with a token: the local stack's signer makes them.
pytestmark = pytest.mark.local_only

CLIENTS = 16
SECONDS = 15
SKUS = 4


def _scan_orders(target: Target, customers: set[str]) -> list[dict[str, Any]]:
    pages = (
        target.client("dynamodb")
        .get_paginator("scan")
        .paginate(TableName=target.outputs["OrdersTableName"])
    )
    return [
        item for page in pages for item in page["Items"] if item["customer_id"]["S"] in customers
    ]


def test_random_concurrent_customers_leave_the_stock_exact(target):
    api = target.api
    skus = [f"E2E-RANDOM-{n}-{target.run_id}" for n in range(SKUS)]
    for sku in skus:
        put_product(target, sku, on_hand=15)
    customers = {
        f"random-{n}-{target.run_id}": target.token_for(f"random-{n}-{target.run_id}")
        for n in range(CLIENTS)
    }
    lock = threading.Lock()
    statuses: Counter[int] = Counter()
    placed: dict[str, str] = {}  # idempotency key -> order id
    restocks: list[str] = []
    deadline = time.monotonic() + SECONDS

    def customer(name: str) -> None:
        token, rng = customers[name], random.Random(name)
        mine: list[str] = []
        while time.monotonic() < deadline:
            roll = rng.random()
            if roll < 0.65 or not mine:
                lines = rng.sample(skus, rng.randint(1, 2))
                body = {"items": [{"sku": sku, "quantity": rng.randint(1, 3)} for sku in lines]}
                key = uuid.uuid4().hex
                for _ in range(2 if rng.random() < 0.3 else 1):  # a client retrying
                    status, _, order = request(
                        f"{api}/orders", "POST", body, token, {"Idempotency-Key": key}
                    )
                    with lock:
                        statuses[status] += 1
                        if status == 202:
                            assert placed.setdefault(key, order["order_id"]) == order["order_id"]
                    if status == 202:
                        mine.append(order["order_id"])
            elif roll < 0.9:
                status, _, _ = request(
                    f"{api}/orders/{rng.choice(mine)}/cancel", "POST", token=token
                )
                with lock:
                    statuses[status] += 1
            else:
                sku = rng.choice(skus)
                key = f"imports/random restock {uuid.uuid4().hex}.csv"
                row = f"{sku},Product {sku},1299,EUR,{rng.randint(5, 25)}\n"
                target.client("s3").put_object(
                    Bucket=target.outputs["ImportBucketName"],
                    Key=key,
                    Body=b"sku,name,unit_price_cents,currency,on_hand\n" + row.encode(),
                )
                with lock:
                    restocks.append(key)

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        for outcome in [pool.submit(customer, name) for name in customers]:
            outcome.result()  # re-raises a connection error or a failed assertion

    assert len(placed) >= 30, (statuses, len(placed))  # enough traffic to interleave
    assert not [status for status in statuses if status >= 500], statuses
    assert set(statuses) <= {202, 200, 409}, statuses  # 409: cancelled or decided already
    for key in restocks:  # every restock imported (or refused below the reserved units)
        assert wait_for_report(target, key)["status"] in ("SUCCEEDED", "PARTIAL")

    settle_by = time.monotonic() + 60
    while True:
        orders = _scan_orders(target, set(customers))
        pending = [item for item in orders if item["status"]["S"] == "PENDING"]
        if not pending or time.monotonic() > settle_by:
            break
        time.sleep(0.5)
    assert not pending, f"{len(pending)} orders still PENDING"
    # One order per idempotency key however often it was sent.
    assert sorted(item["order_id"]["S"] for item in orders) == sorted(placed.values())

    confirmed: Counter[str] = Counter()
    for item in orders:
        if item["status"]["S"] == "CONFIRMED":
            for line in item["items"]["L"]:
                confirmed[line["M"]["sku"]["S"]] += int(line["M"]["quantity"]["N"])
    for sku in skus:
        product = target.client("dynamodb").get_item(
            TableName=target.outputs["ProductsTableName"],
            Key={"sku": {"S": sku}},
            ConsistentRead=True,
        )["Item"]
        on_hand, available, reserved = (
            int(product[name]["N"]) for name in ("on_hand", "available", "reserved")
        )
        assert available + reserved == on_hand, (sku, product)
        assert available >= 0, (sku, product)
        assert reserved == confirmed[sku], (sku, product, confirmed[sku])
