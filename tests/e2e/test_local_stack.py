"""What only the local stack has: its token signer, the seed catalog, CORS as the local
API emulates it, its invocation log, `make invoke` against it, and the journeys run as
they run against a deployed stack, given only its outputs."""

import contextlib
import csv
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis

from devtools import cache_server
from devtools.http_api import make_token
from devtools.pay import SIGNATURE_HEADER, signature_header
from devtools.template import ROOT
from e2e.test_journeys import put_product, request, settled
from support.processes import gone_within, running_in_group
from support.streams import put_order_item
from support.targets import OUTPUTS_VARIABLE, TOKEN_VARIABLE

if TYPE_CHECKING:
    from devtools.local_stack import BackgroundStack

pytestmark = pytest.mark.local_only


def test_an_expired_token_is_refused(local_stack):
    expired = make_token("alice", ttl_seconds=-60)
    assert request(f"{local_stack['api']}/orders", token=expired)[0] == 401


def test_the_sample_catalog_under_seed_is_served_as_soon_as_the_stack_is_ready(local_stack):
    seed = ROOT / "seed" / "ImportBucket" / "imports" / "demo-merchant" / "sample-catalog.csv"
    with seed.open() as rows:
        expected = {row["sku"]: int(row["on_hand"]) for row in csv.DictReader(rows)}
    served = {}
    for sku in expected:
        status, _, product = request(f"{local_stack['api']}/products/{sku}")
        assert status == 200, sku
        served[sku] = product["available"]
    assert served == expected


# CorsAllowOrigins' default: the local stack allows what a deployment would.
ORIGIN = "http://localhost:3000"


def test_a_cors_preflight_is_answered_by_the_api_even_for_a_secured_route(local_stack):
    api = local_stack["api"]
    status, headers, _ = request(
        f"{api}/orders",
        "OPTIONS",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,idempotency-key",
        },
    )
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in headers["Access-Control-Allow-Methods"].split(",")
    assert "idempotency-key" in headers["Access-Control-Allow-Headers"].split(",")

    _, headers, _ = request(f"{api}/health", headers={"Origin": ORIGIN})
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "etag" in headers["Access-Control-Expose-Headers"].split(",")
    assert "Access-Control-Allow-Origin" not in request(f"{api}/health")[1]
    # An origin the stack does not name gets no CORS headers.
    other = request(f"{api}/health", headers={"Origin": "https://elsewhere.example"})[1]
    assert "Access-Control-Allow-Origin" not in other


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


def _post_raw(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    sent = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(sent, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_hostile_bodies_are_small_4xx_answers_through_the_local_api(local_stack):
    api, secret = local_stack["api"], local_stack["outputs"]["PaymentWebhookSecret"]
    token = make_token("hostile-client")
    long_number = b'{"items": [{"sku": "MUG-1", "quantity": ' + b"9" * 5000 + b"}]}"
    keys = json.dumps({f"k{n}": 0 for n in range(200_000)}).encode()  # 2 MB
    some_keys = json.dumps({f"k{n}": 0 for n in range(5_000)}).encode()  # under 64 KB
    cases = [
        ("/orders", long_number, 400),
        ("/me/views", b'{"skus": [1e400]}', 400),
        ("/payments/webhook", long_number, 400),  # signed below, so it is decoded
        ("/orders", keys, 413),
        ("/me/views", keys, 413),
        ("/orders", some_keys, 422),
    ]
    for path, body, expected in cases:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        if path == "/payments/webhook":
            headers[SIGNATURE_HEADER] = signature_header(secret, body)
        status, answer = _post_raw(f"{api}{path}", body, headers)
        assert (path, len(body), status) == (path, len(body), expected), answer[:300]
        assert len(answer) < 4096, (path, len(answer))


def test_an_edited_cursor_is_refused_through_the_local_api(local_stack):
    api = local_stack["api"]
    status, _, page = request(f"{api}/products?limit=1")
    assert status == 200
    cursor = page["next_cursor"]
    edited = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
    assert request(f"{api}/products?limit=1&cursor={cursor}")[0] == 200
    status, _, refused = request(f"{api}/products?limit=1&cursor={edited}")
    assert status == 422
    assert refused["error"]["code"] == "INVALID_CURSOR"


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


def test_the_journeys_run_against_a_stack_given_only_its_outputs(local_stack, tmp_path):
    # What CI does after deploying: outputs as `sam list stack-outputs` prints them, a token
    # from the identity provider, boto3 configured by the environment alone.
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps([{"OutputKey": k, "OutputValue": v} for k, v in local_stack["outputs"].items()])
    )
    env = {
        **os.environ,
        OUTPUTS_VARIABLE: str(outputs),
        TOKEN_VARIABLE: make_token("deployed-customer"),
        "AWS_ENDPOINT_URL": local_stack["endpoint"],
        **(
            {"AWS_ENDPOINT_URL_DYNAMODB": local_stack["dynamodb_endpoint"]}
            if local_stack["dynamodb_endpoint"]
            else {}
        ),
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/e2e"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    journeys = len(
        re.findall(r"^def test_", (ROOT / "tests/e2e/test_journeys.py").read_text(), re.M)
    )
    summary = completed.stdout.strip().splitlines()[-1]
    assert re.match(rf"{journeys} passed, \d+ skipped", summary), summary


def _wait_for_log(local_stack, *fragments: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in local_stack["log"].read_text().splitlines():
            if all(fragment in line for fragment in fragments):
                return str(line)
        time.sleep(0.2)
    pytest.fail(f"no log line with {fragments} within {timeout} s")


def test_an_order_whose_stream_record_never_became_a_message_is_decided_anyway(local_stack, target):
    """A filter mistake in miniature: the order becomes PENDING through a MODIFY, which
    the relay's filter (INSERTs only) drops, so no message ever carries it."""
    sku = f"LOST-{target.run_id}"
    put_product(target, sku, on_hand=3)
    dynamodb, table = target.client("dynamodb"), target.outputs["OrdersTableName"]
    order_id = str(uuid.uuid4())
    put_order_item(
        dynamodb,
        table,
        order_id=order_id,
        customer_id="lost-customer",
        status="CANCELLED",
        items=[{"sku": sku, "quantity": 2, "unit_price_cents": 1299}],
        total_cents=2598,
        currency="EUR",
        created_at="2026-11-30T10:00:00.000000Z",
        updated_at="2026-11-30T10:00:00.000000Z",
    )
    # The INSERT's message reaches the worker, which leaves a CANCELLED order alone.
    _wait_for_log(local_stack, "order already decided; message skipped", order_id)
    dynamodb.update_item(
        TableName=table,
        Key={"order_id": {"S": order_id}},
        UpdateExpression="SET #status = :pending, pending_shard = :shard, pending_since = :since",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":pending": {"S": "PENDING"},
            ":shard": {"S": "0"},
            ":since": {"S": "2026-11-30T10:00:00.000000Z"},
        },
    )

    order = settled(target, order_id, make_token("lost-customer"), timeout=60)

    assert order["status"] == "CONFIRMED"
    assert _wait_for_log(local_stack, "sending them to the order queue again", order_id)
    _, _, product = request(f"{target.api}/products/{sku}", headers={"Cache-Control": "no-cache"})
    assert product["available"] == 1


def test_products_go_through_the_shared_cache_tier_which_the_stream_keeps_fresh(
    local_stack, target
):
    url = local_stack["outputs"]["CacheUrl"]
    assert re.fullmatch(r"redis://127\.0\.0\.1:\d+", url)
    cache = redis.Redis.from_url(url)
    sku = f"TIER-{target.run_id}"
    key = f"stockroom:product:v1:{sku}"

    def cached_available() -> int | None:
        raw = cache.get(key)
        return None if raw is None else int(json.loads(raw)["available"])

    def wait_for(available: int) -> None:
        deadline = time.monotonic() + 30
        while cached_available() != available:
            assert time.monotonic() < deadline, (available, cached_available())
            time.sleep(0.1)

    put_product(target, sku, on_hand=3)
    wait_for(3)  # written through from the products stream, before any read
    token = make_token("tier-customer")
    status, _, order = request(
        f"{target.api}/orders", "POST", {"items": [{"sku": sku, "quantity": 1}]}, token=token
    )
    assert status == 202, order
    assert settled(target, order["order_id"], token)["status"] == "CONFIRMED"
    wait_for(2)
    status, _, product = request(f"{target.api}/products/{sku}")
    assert (status, product["available"]) == (200, 2)
    cache.close()


def test_quiet_invocations_print_no_empty_metrics_warning(local_stack):
    assert request(f"{local_stack['api']}/health")[0] == 200
    assert "No application metrics to publish" not in local_stack["log"].read_text()


# Each sample in events/ with the function `make invoke` sends it to.
SAMPLES = {
    "health.json": "CatalogFunction",
    "get_product.json": "CatalogFunction",
    "list_products.json": "CatalogFunction",
    "place_order.json": "OrdersFunction",
    "get_order.json": "OrdersFunction",
    "list_orders.json": "OrdersFunction",
    "order_placed_stream.json": "OrderRelayFunction",
    "product_restocked_stream.json": "StockFlagsFunction",
    "order_placed_sqs.json": "OrderWorkerFunction",
    "order_reconciler_scheduled.json": "OrderReconcilerFunction",
    "hold_expiry_scheduled.json": "HoldExpiryFunction",
    "s3_put_import_generated.json": "CatalogImportFunction",
    "related_products.json": "RecommendationsFunction",
    "recommendations.json": "RecommendationsFunction",
    "record_views.json": "RecommendationsFunction",
    "order_confirmed_stream.json": "RecommendationFeedFunction",
    "recommendation_trainer_scheduled.json": "RecommendationTrainerFunction",
}


def test_every_sample_event_works_against_the_running_stack(local_stack):
    assert set(SAMPLES) | {"sqs_receive_message_generated.json"} == {
        path.name for path in (ROOT / "events").glob("*.json")
    }
    for sample, function in SAMPLES.items():
        completed = subprocess.run(
            [sys.executable, "-m", "devtools.invoke", function, f"events/{sample}"],
            cwd=ROOT,
            env={**os.environ},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert completed.returncode == 0, (sample, completed.stdout, completed.stderr)
        assert "Traceback" not in completed.stderr, (sample, completed.stderr)
        result = json.loads(completed.stdout)
        if "statusCode" in result:
            assert result["statusCode"] < 400, (sample, result)
        else:
            failures = result.get("batchItemFailures") or [
                item for item in result.get("objects", []) if item["outcome"] == "FAILED"
            ]
            assert not failures, (sample, result)


def _started(folder: Path, environment: dict[str, str] | None = None) -> "BackgroundStack":
    """A stack of its own in `folder`, once it is ready."""
    from devtools.local_stack import start_in_background

    log = folder / "output.log"
    stack = start_in_background(folder, log, environment)
    deadline = time.monotonic() + 90
    while "ready in" not in log.read_text():
        if stack.process.poll() is not None or time.monotonic() > deadline:
            stack.stop()
            pytest.fail(f"the stack did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return stack


@pytest.mark.skipif(sys.platform != "linux", reason="reads process groups from /proc")
def test_the_stack_runs_on_motos_dynamodb_and_stops_all_it_started(tmp_path):
    stack = _started(tmp_path, {"STOCKROOM_DYNAMODB": "moto"})
    group = stack.process.pid
    try:
        assert "dynamodb      moto (STOCKROOM_DYNAMODB=moto)" in stack.log.read_text()
        assert stack.dynamodb_endpoint is None
        status, _, product = request(f"{stack.api}/products/MUG-1")
        assert (status, product["sku"]) == (200, "MUG-1")
        cache = json.loads((tmp_path / "outputs.json").read_text())["CacheUrl"]
        assert redis.Redis.from_url(cache).exists("stockroom:product:v1:MUG-1") == 1
        stack.process.terminate()  # as Ctrl-C or a SIGTERM stops it, nothing killed
        stack.process.wait(timeout=30)
        assert gone_within(10, running_in_group(group)) == []  # the cache server, functions
    finally:
        stack.stop()


@pytest.mark.skipif(sys.platform != "linux", reason="reads process groups from /proc")
def test_a_stack_killed_outright_leaves_nothing_running(tmp_path):
    """SIGKILL: the stack stops nothing itself; its servers and function environments
    end with it all the same (`make run` kill -9'd, a crash)."""
    stack = _started(tmp_path)
    group = stack.process.pid
    try:
        started = running_in_group(group)
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in started]
        assert any(b"DynamoDBLocal.jar" in command for command in commands)
        assert any(b"runtime.py" in command for command in commands)
        stack.process.kill()
        stack.process.wait(timeout=10)
        assert gone_within(10, started) == []
    finally:
        stack.stop()


def test_the_parity_report_names_dynamodb_local(local_stack):
    assert "dynamodb      DynamoDB Local 1.25.1" in local_stack["log"].read_text()


def test_the_cache_server_killed_under_load_costs_no_error_and_is_used_again(
    local_stack, target, tmp_path
):
    """Product pages read side by side while the shared tier's server goes away and a new
    one takes its address: every answer is a 200 (the table answers in its place), and
    the running functions use the new server without a restart."""
    url = local_stack["outputs"]["CacheUrl"]
    port = int(url.rsplit(":", 1)[1])
    sku = f"KILLED-{target.run_id}"
    put_product(target, sku, on_hand=3)
    statuses: Counter[int] = Counter()
    lock, stop = threading.Lock(), threading.Event()

    def browse() -> None:
        while not stop.is_set():
            status = request(f"{target.api}/products/{sku}")[0]
            with lock:
                statuses[status] += 1

    readers = [threading.Thread(target=browse, daemon=True) for _ in range(4)]
    for reader in readers:
        reader.start()
    time.sleep(1)
    with contextlib.suppress(redis.ConnectionError):  # it closes the connection as it stops
        redis.Redis.from_url(url).shutdown(nosave=True)
    time.sleep(2)  # reads meanwhile: the tier passed over, the table answers
    back = cache_server.start("127.0.0.1", port, tmp_path / "cache.log")
    try:
        back.wait_until_serving()
        fresh = redis.Redis.from_url(url)
        deadline = time.monotonic() + 30  # the breaker's 5 s, then a read's fill
        while not fresh.exists(f"stockroom:product:v1:{sku}"):
            assert time.monotonic() < deadline, "no function used the new server"
            time.sleep(0.2)
        fresh.close()
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=30)
        back.stop()  # the last test of the stack's to use the tier
    assert set(statuses) == {200}, statuses
    assert statuses[200] > 20, statuses
