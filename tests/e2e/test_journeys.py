"""A customer's and a merchant's journeys over HTTP, against the local stack or a deployed
one (see conftest.py): catalog, orders through the outbox and the worker, imports."""

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from support.targets import Target

FRESH = {"Cache-Control": "no-cache"}  # past the catalog's few seconds of caching


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


def put_product(
    target: Target, sku: str, on_hand: int, max_per_customer: int | None = None
) -> None:
    item = {
        "sku": {"S": sku},
        "name": {"S": f"Product {sku}"},
        "unit_price_cents": {"N": "1299"},
        "currency": {"S": "EUR"},
        "on_hand": {"N": str(on_hand)},
        "reserved": {"N": "0"},
        "available": {"N": str(on_hand)},
        "updated_at": {"S": "2026-11-21T16:00:00.000000Z"},
    }
    if max_per_customer is not None:
        item["max_per_customer"] = {"N": str(max_per_customer)}
    target.client("dynamodb").put_item(TableName=target.outputs["ProductsTableName"], Item=item)


def settled(target: Target, order_id: str, token: str, timeout: float = 30) -> dict[str, Any]:
    """The order once the worker has decided it (stream -> relay -> queue -> worker)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _, order = request(f"{target.api}/orders/{order_id}", token=token)
        assert status == 200
        if order["status"] != "PENDING":
            return dict(order)
        time.sleep(0.2)
    pytest.fail(f"order {order_id} still PENDING after {timeout} s")


def upload_and_wait_for_report(target: Target, key: str, body: bytes) -> dict[str, Any]:
    target.client("s3").put_object(Bucket=target.outputs["ImportBucketName"], Key=key, Body=body)
    return wait_for_report(target, key)


def wait_for_report(target: Target, key: str) -> dict[str, Any]:
    """The import report of the file at `key`, once the importer has written it."""
    s3 = target.client("s3")
    bucket = target.outputs["ImportBucketName"]
    deadline = time.monotonic() + 60
    while True:
        try:
            report = s3.get_object(Bucket=bucket, Key=f"reports/{key}.json")["Body"].read()
            return dict(json.loads(report))
        except s3.exceptions.NoSuchKey:
            assert time.monotonic() < deadline, "no report within 60 s"
            time.sleep(0.5)


def test_products_orders_and_the_outbox_over_http(target):
    api, sku = target.api, f"E2E-MUG-{target.run_id}"
    assert request(f"{api}/health")[0] == 200
    put_product(target, sku, on_hand=5)

    status, headers, product = request(f"{api}/products/{sku}")
    assert status == 200
    assert product["available"] == 5
    assert headers["ETag"]

    order_body = {"items": [{"sku": sku, "quantity": 2}]}
    assert request(f"{api}/orders", "POST", order_body)[0] == 401
    assert request(f"{api}/orders", "POST", order_body, token="not.a.token")[0] == 401

    token = target.token_for("alice")
    status, headers, order = request(f"{api}/orders", "POST", order_body, token=token)
    assert status == 202
    assert headers["Location"] == f"/orders/{order['order_id']}"

    bad_status, _, bad = request(f"{api}/orders", "POST", {"items": []}, token=token)
    assert bad_status == 422
    assert bad["error"]["details"][0]["field"] == "items"

    assert settled(target, order["order_id"], token)["status"] == "CONFIRMED"


def test_concurrent_orders_for_scarce_stock_settle_and_cancel_returns_stock(target):
    api, sku = target.api, f"E2E-LAMP-{target.run_id}"
    put_product(target, sku, on_hand=3)
    tokens = [target.token_for(f"customer-{n}") for n in range(8)]
    body = {"items": [{"sku": sku, "quantity": 1}]}

    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        placed = list(pool.map(lambda t: request(f"{api}/orders", "POST", body, token=t), tokens))
    assert [status for status, _, _ in placed] == [202] * len(tokens)

    decided = [
        settled(target, order["order_id"], token)
        for (_, _, order), token in zip(placed, tokens, strict=True)
    ]
    confirmed = [order for order in decided if order["status"] == "CONFIRMED"]
    rejected = [order for order in decided if order["status"] == "REJECTED"]
    assert (len(confirmed), len(rejected)) == (3, 5)
    assert all(order["reason"] == {"code": "OUT_OF_STOCK", "skus": [sku]} for order in rejected)
    assert request(f"{api}/products/{sku}", headers=FRESH)[2]["available"] == 0

    owner = target.token_for(confirmed[0]["customer_id"])
    status, _, cancelled = request(
        f"{api}/orders/{confirmed[0]['order_id']}/cancel", "POST", token=owner
    )
    assert (status, cancelled["status"]) == (200, "CANCELLED")
    again = request(f"{api}/orders/{confirmed[0]['order_id']}/cancel", "POST", token=owner)
    assert again[0] == 409
    assert request(f"{api}/products/{sku}", headers=FRESH)[2]["available"] == 1


def test_a_file_uploaded_under_imports_is_imported_and_reported(target):
    sku = f"E2E-IMPORT-{target.run_id}"
    summary = upload_and_wait_for_report(
        target,
        f"imports/e2e/e2e catalog {target.run_id}.csv",
        b"sku,name,unit_price_cents,currency,on_hand\n"
        + f"{sku},Teapot,2500,EUR,4\n".encode()
        + b"bad,,1,EUR,1\n",
    )

    assert (summary["status"], summary["imported"], summary["rejected"]) == ("PARTIAL", 1, 1)
    status, _, product = request(f"{target.api}/products/{sku}", headers=FRESH)
    assert (status, product["name"], product["available"]) == (200, "Teapot", 4)


def test_a_restock_import_keeps_what_confirmed_orders_reserved(target):
    api, sku = target.api, f"E2E-KETTLE-{target.run_id}"
    put_product(target, sku, on_hand=1)
    token = target.token_for("restock-customer")
    body = {"items": [{"sku": sku, "quantity": 1}]}
    _, _, order = request(f"{api}/orders", "POST", body, token=token)
    assert settled(target, order["order_id"], token)["status"] == "CONFIRMED"

    report = upload_and_wait_for_report(
        target,
        f"imports/e2e/restock {target.run_id}.csv",
        f"sku,name,unit_price_cents,currency,on_hand\n{sku},Product {sku},1299,EUR,5\n".encode(),
    )

    assert (report["status"], report["imported"]) == ("SUCCEEDED", 1)
    assert request(f"{api}/products/{sku}", headers=FRESH)[2]["available"] == 4


def test_orders_teach_related_products_and_views_steer_recommendations(target):
    """Confirmed orders reach /related through the stream, the feed and the trainer's
    next run (every 5 minutes deployed, every second here, plus its 30 s settle)."""
    api = target.api
    mug, tea, other = (f"E2E-{name}-{target.run_id}" for name in ("MUG", "TEA", "OTHER"))
    for sku in (mug, tea, other):
        put_product(target, sku, on_hand=50)
    # Against a deployed stack every token is the one customer's, who has bought what
    # the other journeys bought: those SKUs pair with the mug too, so the tea is among
    # the mug's related products, not necessarily first.
    one_customer = target.token_for("a") == target.token_for("b")
    for customer in ("rec-1", "rec-2"):
        token = target.token_for(f"{customer}-{target.run_id}")
        body = {"items": [{"sku": mug, "quantity": 1}, {"sku": tea, "quantity": 1}]}
        status, _, order = request(f"{api}/orders", "POST", body, token=token)
        assert status == 202
        assert settled(target, order["order_id"], token)["status"] == "CONFIRMED"

    deadline = time.monotonic() + (420 if target.endpoint is None else 120)
    while True:
        status, headers, related = request(f"{api}/products/{mug}/related", headers=FRESH)
        assert status == 200
        learned = [item["sku"] for item in related["items"] if item["score"] > 0]
        if (tea in learned) if one_customer else learned[:1] == [tea]:
            break
        assert time.monotonic() < deadline, f"/related never learned {tea}: {related}"
        time.sleep(1)
    assert other not in learned and mug not in learned
    assert headers["ETag"] and headers["Cache-Control"].startswith("public")
    assert request(f"{api}/products/NOPE-{target.run_id}/related")[0] == 404

    browser = target.token_for(f"browser-{target.run_id}")
    status, _, accepted = request(f"{api}/me/views", "POST", {"skus": [mug]}, token=browser)
    assert status == 202 and accepted["kept"] >= 1
    status, _, suggested = request(f"{api}/recommendations?limit=1", token=browser)
    assert status == 200
    if not one_customer:  # a new customer who viewed the mug: offered the tea, because of it
        assert suggested["items"][0]["sku"] == tea
        assert suggested["items"][0]["because"] == mug
    else:  # the one customer bought both: neither is offered again
        assert not {mug, tea} & {item["sku"] for item in suggested["items"]}
    status, _, refused = request(f"{api}/me/views", "POST", {"skus": []}, token=browser)
    assert status == 422 and refused["error"]["details"][0]["field"] == "skus"
