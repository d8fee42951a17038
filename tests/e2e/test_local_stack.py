"""Starts the local stack as `make run` does and walks a customer's journey over HTTP."""

import csv
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from devtools.http_api import make_token
from devtools.local_stack import start_in_background
from devtools.template import ROOT


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    # A folder of its own for the key, outputs and state: a developer's `make run` is
    # left alone, and tokens made here are signed with this stack's key.
    local_dir = tmp_path_factory.mktemp("local-dir")
    os.environ["STOCKROOM_LOCAL_DIR"] = str(local_dir)
    log = tmp_path_factory.mktemp("local-stack") / "output.log"
    stack = start_in_background(local_dir, log)
    deadline = time.monotonic() + 90
    # Ready means serving, with the sample catalog under seed/ imported.
    while "ready in" not in log.read_text():
        assert stack.process.poll() is None, log.read_text()
        if time.monotonic() > deadline:
            stack.process.kill()
            pytest.fail(f"the local stack was not ready within 90 s:\n{log.read_text()}")
        time.sleep(0.2)
    outputs = json.loads((local_dir / "outputs.json").read_text())
    try:
        yield {
            "api": stack.api,
            "endpoint": stack.endpoint,
            "outputs": outputs,
            "log": log,
            "local_dir": local_dir,
        }
    finally:
        stack.stop()
        del os.environ["STOCKROOM_LOCAL_DIR"]


def request(
    url: str,
    method: str = "GET",
    body: Any = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=data, method=method, headers=headers), timeout=10
        ) as response:
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, dict(error.headers), json.loads(raw) if raw else None


def put_product(local_stack, sku: str, on_hand: int) -> None:
    boto3.client("dynamodb", endpoint_url=local_stack["endpoint"]).put_item(
        TableName=local_stack["outputs"]["ProductsTableName"],
        Item={
            "sku": {"S": sku},
            "name": {"S": f"Product {sku}"},
            "unit_price_cents": {"N": "1299"},
            "currency": {"S": "EUR"},
            "on_hand": {"N": str(on_hand)},
            "reserved": {"N": "0"},
            "available": {"N": str(on_hand)},
            "updated_at": {"S": "2026-11-21T16:00:00.000000Z"},
        },
    )


def settled(api: str, order_id: str, token: str, timeout: float = 20) -> dict[str, Any]:
    """The order once the worker has decided it (stream -> relay -> queue -> worker)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _, order = request(f"{api}/orders/{order_id}", token=token)
        assert status == 200
        if order["status"] != "PENDING":
            return dict(order)
        time.sleep(0.2)
    pytest.fail(f"order {order_id} still PENDING after {timeout} s")


def test_products_orders_and_the_outbox_over_http(local_stack):
    api = local_stack["api"]
    put_product(local_stack, "E2E-MUG", on_hand=5)

    status, headers, product = request(f"{api}/products/E2E-MUG")
    assert status == 200
    assert product["available"] == 5
    assert headers["ETag"]

    order_body = {"items": [{"sku": "E2E-MUG", "quantity": 2}]}
    assert request(f"{api}/orders", "POST", order_body)[0] == 401
    assert request(f"{api}/orders", "POST", order_body, token="not.a.token")[0] == 401

    token = make_token("alice")
    status, headers, order = request(f"{api}/orders", "POST", order_body, token=token)
    assert status == 202
    assert headers["Location"] == f"/orders/{order['order_id']}"

    bad_status, _, bad = request(f"{api}/orders", "POST", {"items": []}, token=token)
    assert bad_status == 422
    assert bad["error"]["details"][0]["field"] == "items"

    assert settled(api, order["order_id"], token)["status"] == "CONFIRMED"


def test_concurrent_orders_for_scarce_stock_settle_and_cancel_returns_stock(local_stack):
    api = local_stack["api"]
    put_product(local_stack, "E2E-LAMP", on_hand=3)
    tokens = [make_token(f"customer-{n}") for n in range(8)]
    body = {"items": [{"sku": "E2E-LAMP", "quantity": 1}]}

    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        placed = list(pool.map(lambda t: request(f"{api}/orders", "POST", body, token=t), tokens))
    assert [status for status, _, _ in placed] == [202] * len(tokens)

    decided = [
        settled(api, order["order_id"], token)
        for (_, _, order), token in zip(placed, tokens, strict=True)
    ]
    confirmed = [order for order in decided if order["status"] == "CONFIRMED"]
    rejected = [order for order in decided if order["status"] == "REJECTED"]
    assert (len(confirmed), len(rejected)) == (3, 5)
    assert all(
        order["reason"] == {"code": "OUT_OF_STOCK", "skus": ["E2E-LAMP"]} for order in rejected
    )
    # The catalog serves a product from a cache for a few seconds; bypass it as clients can.
    fresh = {"Cache-Control": "no-cache"}
    assert request(f"{api}/products/E2E-LAMP", headers=fresh)[2]["available"] == 0

    owner = make_token(confirmed[0]["customer_id"])
    status, _, cancelled = request(
        f"{api}/orders/{confirmed[0]['order_id']}/cancel", "POST", token=owner
    )
    assert (status, cancelled["status"]) == (200, "CANCELLED")
    again = request(f"{api}/orders/{confirmed[0]['order_id']}/cancel", "POST", token=owner)
    assert again[0] == 409
    assert request(f"{api}/products/E2E-LAMP", headers=fresh)[2]["available"] == 1


def test_an_expired_token_is_refused(local_stack):
    expired = make_token("alice", ttl_seconds=-60)
    assert request(f"{local_stack['api']}/orders", token=expired)[0] == 401


def test_a_file_uploaded_under_imports_is_imported_and_reported(local_stack):
    s3 = boto3.client("s3", endpoint_url=local_stack["endpoint"])
    bucket = local_stack["outputs"]["ImportBucketName"]
    key = "imports/e2e catalog.csv"
    body = (
        b"sku,name,unit_price_cents,currency,on_hand\n"
        b"E2E-IMPORT-1,Teapot,2500,EUR,4\n"
        b"bad,,1,EUR,1\n"
    )
    s3.put_object(Bucket=bucket, Key=key, Body=body)

    deadline = time.monotonic() + 20
    while True:
        try:
            summary = json.loads(
                s3.get_object(Bucket=bucket, Key=f"reports/{key}.json")["Body"].read()
            )
            break
        except s3.exceptions.NoSuchKey:
            assert time.monotonic() < deadline, "no report within 20 s"
            time.sleep(0.2)

    assert (summary["status"], summary["imported"], summary["rejected"]) == ("PARTIAL", 1, 1)
    status, _, product = request(
        f"{local_stack['api']}/products/E2E-IMPORT-1", headers={"Cache-Control": "no-cache"}
    )
    assert (status, product["name"], product["available"]) == (200, "Teapot", 4)


def test_the_sample_catalog_under_seed_is_served_as_soon_as_the_stack_is_ready(local_stack):
    seed = ROOT / "seed" / "ImportBucket" / "imports" / "sample-catalog.csv"
    with seed.open() as rows:
        expected = {row["sku"]: int(row["on_hand"]) for row in csv.DictReader(rows)}
    served = {}
    for sku in expected:
        status, _, product = request(f"{local_stack['api']}/products/{sku}")
        assert status == 200, sku
        served[sku] = product["available"]
    assert served == expected


def test_a_cors_preflight_is_answered_by_the_api_even_for_a_secured_route(local_stack):
    api = local_stack["api"]
    status, headers, _ = request(
        f"{api}/orders",
        "OPTIONS",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,idempotency-key",
        },
    )
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in headers["Access-Control-Allow-Methods"].split(",")
    assert "idempotency-key" in headers["Access-Control-Allow-Headers"].split(",")

    _, headers, _ = request(f"{api}/health", headers={"Origin": "https://shop.example"})
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "etag" in headers["Access-Control-Expose-Headers"].split(",")
    assert "Access-Control-Allow-Origin" not in request(f"{api}/health")[1]


def test_an_unknown_route_is_404_and_every_invocation_is_logged_on_one_line(local_stack):
    assert request(f"{local_stack['api']}/nothing-here")[0] == 404
    request(f"{local_stack['api']}/health")
    lines = local_stack["log"].read_text().splitlines()
    assert any(
        re.fullmatch(r"\[invoke\] CatalogFunction http GET /health [\d.]+ ms 200", line)
        for line in lines
    )
    assert any(
        re.fullmatch(r"\[invoke\] CatalogImportFunction s3 \(attempt 1\) [\d.]+ ms ok", line)
        for line in lines
    )


def test_make_invoke_uses_the_running_stack(local_stack, tmp_path):
    sku = "MUG-1"  # one of the sample catalog's
    event = json.loads((ROOT / "events" / "get_product.json").read_text())
    event["rawPath"] = f"/products/{sku}"
    event["pathParameters"] = {"sku": sku}
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event))

    completed = subprocess.run(
        [sys.executable, "-m", "devtools.invoke", "CatalogFunction", str(event_file)],
        cwd=ROOT,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["statusCode"] == 200
    assert json.loads(result["body"])["sku"] == sku
    assert "using the running stack" in completed.stderr


def upload_and_wait_for_report(local_stack, key: str, body: bytes) -> dict[str, Any]:
    s3 = boto3.client("s3", endpoint_url=local_stack["endpoint"])
    bucket = local_stack["outputs"]["ImportBucketName"]
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    deadline = time.monotonic() + 20
    while True:
        try:
            report = s3.get_object(Bucket=bucket, Key=f"reports/{key}.json")["Body"].read()
            return dict(json.loads(report))
        except s3.exceptions.NoSuchKey:
            assert time.monotonic() < deadline, "no report within 20 s"
            time.sleep(0.2)


def test_a_restock_import_keeps_what_confirmed_orders_reserved(local_stack):
    api = local_stack["api"]
    put_product(local_stack, "E2E-KETTLE", on_hand=1)
    token = make_token("restock-customer")
    body = {"items": [{"sku": "E2E-KETTLE", "quantity": 1}]}
    _, _, order = request(f"{api}/orders", "POST", body, token=token)
    assert settled(api, order["order_id"], token)["status"] == "CONFIRMED"

    report = upload_and_wait_for_report(
        local_stack,
        "imports/restock.csv",
        b"sku,name,unit_price_cents,currency,on_hand\nE2E-KETTLE,Product E2E-KETTLE,1299,EUR,5\n",
    )

    assert (report["status"], report["imported"]) == ("SUCCEEDED", 1)
    fresh = {"Cache-Control": "no-cache"}
    assert request(f"{api}/products/E2E-KETTLE", headers=fresh)[2]["available"] == 4
