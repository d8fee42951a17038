"""Starts the local stack as `make run` does and walks a customer's journey over HTTP."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from devtools.local_stack import make_token
from devtools.template import ROOT


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    aws_port, api_port = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "POWERTOOLS_"))
    }
    env |= {"STOCKROOM_AWS_PORT": str(aws_port), "STOCKROOM_API_PORT": str(api_port)}
    log = tmp_path_factory.mktemp("local-stack") / "output.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "devtools.local_stack"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    api = f"http://127.0.0.1:{api_port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{api}/health", timeout=1)
            break
        except OSError:
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the local stack did not serve /health within 60 s")
    outputs = json.loads((ROOT / ".local" / "outputs.json").read_text())
    try:
        yield {"api": api, "endpoint": f"http://127.0.0.1:{aws_port}", "outputs": outputs}
    finally:
        process.terminate()
        process.wait(timeout=10)


def request(
    url: str, method: str = "GET", body: Any = None, token: str | None = None
) -> tuple[int, dict[str, str], Any]:
    headers = {"Content-Type": "application/json"}
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


def test_products_orders_and_the_outbox_over_http(local_stack):
    api = local_stack["api"]
    boto3.client("dynamodb", endpoint_url=local_stack["endpoint"]).put_item(
        TableName=local_stack["outputs"]["ProductsTableName"],
        Item={
            "sku": {"S": "MUG-1"},
            "name": {"S": "Mug"},
            "unit_price_cents": {"N": "1299"},
            "currency": {"S": "EUR"},
            "on_hand": {"N": "5"},
            "reserved": {"N": "0"},
            "available": {"N": "5"},
            "updated_at": {"S": "2026-11-21T16:00:00.000000Z"},
        },
    )

    status, headers, product = request(f"{api}/products/MUG-1")
    assert status == 200
    assert product["available"] == 5
    assert headers["ETag"]

    order_body = {"items": [{"sku": "MUG-1", "quantity": 2}]}
    assert request(f"{api}/orders", "POST", order_body)[0] == 401
    assert request(f"{api}/orders", "POST", order_body, token="not.a.token")[0] == 401

    token = make_token("alice")
    status, headers, order = request(f"{api}/orders", "POST", order_body, token=token)
    assert status == 202
    assert headers["Location"] == f"/orders/{order['order_id']}"

    bad_status, _, bad = request(f"{api}/orders", "POST", {"items": []}, token=token)
    assert bad_status == 422
    assert bad["error"]["details"][0]["field"] == "items"

    sqs = boto3.client("sqs", endpoint_url=local_stack["endpoint"])
    deadline = time.monotonic() + 15
    bodies: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not bodies:
        received = sqs.receive_message(
            QueueUrl=local_stack["outputs"]["OrderQueueUrl"], WaitTimeSeconds=1
        )
        bodies = [json.loads(message["Body"]) for message in received.get("Messages", [])]
    assert bodies == [{"order_id": order["order_id"]}]


def test_an_expired_token_is_refused(local_stack):
    expired = make_token("alice", ttl_seconds=-60)
    assert request(f"{local_stack['api']}/orders", token=expired)[0] == 401
