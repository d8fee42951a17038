"""The local stack's parts against moto in-process: outputs, the JWT parameters, the
stream poller's retries, and asynchronous invocation's retries and destination. A plain
Python function stands in for the Lambda function being invoked."""

import json
import threading
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from devtools.http_api import LOCAL_AUDIENCE, LOCAL_ISSUER
from devtools.local_stack import authorizer_parameters, local_outputs
from devtools.template import event_sources, load_template
from devtools.triggers import AsyncInvoker, StreamPoller, queue_pollers, schedule_interval
from devtools.workers import FunctionError
from support.streams import put_order_item


def test_outputs_are_the_templates_resolved_with_the_api_at_its_local_url(stack):
    outputs = local_outputs(stack, "http://127.0.0.1:3000", "http://127.0.0.1:4566")

    # The alarm topic, the dashboard and the edge cache (CloudFront) are not provisioned
    # locally, so neither are their outputs.
    not_local = {"AlarmTopicArn", "DashboardUrl", "EdgeUrl"}
    # Secrets' values are outputs here alone, by logical id (never in the template's).
    local_only = {"AwsEndpointUrl", "PaymentWebhookSecret", "CursorSigningSecret"}
    assert set(load_template()["Outputs"]) - not_local | local_only == set(outputs)
    assert outputs["ApiUrl"] == "http://127.0.0.1:3000"
    assert outputs["ImportBucketName"] == stack["ImportBucket"]
    assert outputs["OrderQueueUrl"] == stack["OrderQueue"]
    assert outputs["AwsEndpointUrl"] == "http://127.0.0.1:4566"
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=stack["PaymentWebhookSecret"])
    assert outputs["PaymentWebhookSecret"] == secret["SecretString"]
    assert len(secret["SecretString"]) == 64  # as the template's GenerateSecretString asks


def test_schedules_fire_every_30_s_locally_unless_their_function_asks_for_sooner(monkeypatch):
    monkeypatch.delenv("STOCKROOM_SCHEDULE_SECONDS", raising=False)
    assert schedule_interval("OrderReconcilerFunction") == 30
    # Holds expire within 10 s locally: a run every 5 s, plus the run itself.
    assert schedule_interval("HoldExpiryFunction") == 5
    monkeypatch.setenv("STOCKROOM_SCHEDULE_SECONDS", "1")  # the e2e tier's
    assert (
        schedule_interval("HoldExpiryFunction") == schedule_interval("OrderReconcilerFunction") == 1
    )


def test_the_authorizers_issuer_and_audience_parameters_take_the_local_issuers_values():
    overrides = authorizer_parameters()
    assert overrides == {"JwtIssuer": LOCAL_ISSUER, "JwtAudience": LOCAL_AUDIENCE}


def test_each_sqs_source_gets_a_poller_a_unit_of_its_maximum_concurrency_up_to_five(stack):
    expected = sum(
        min(5, properties.get("ScalingConfig", {}).get("MaximumConcurrency", 5))
        for _, properties in event_sources("SQS")
    )
    assert len(queue_pollers(stack, lambda *_: None, threading.Event())) == expected


def stream_records(count: int) -> list[dict[str, Any]]:
    return [
        {
            "eventName": "INSERT",
            "dynamodb": {
                "SequenceNumber": f"{n:021d}",
                "ApproximateCreationDateTime": 1_800_000_000,
            },
        }
        for n in range(1, count + 1)
    ]


def relay_poller(stack, invoke) -> StreamPoller:
    ((function, properties),) = [
        source for source in event_sources("DynamoDB") if source[0] == "OrderRelayFunction"
    ]
    # These tests run on moto's in-process streams.
    return StreamPoller(stack, invoke, function, properties, fresh_iterators=True)


def destination_messages(stack, queue: str) -> list[dict[str, Any]]:
    messages = (
        boto3.client("sqs")
        .receive_message(QueueUrl=stack[queue], MaxNumberOfMessages=10)
        .get("Messages", [])
    )
    return [json.loads(message["Body"]) for message in messages]


def test_a_failing_stream_batch_is_halved_retried_then_described_to_the_destination(stack):
    seen: list[list[str]] = []

    def always_failing(function: str, trigger: str, event: dict[str, Any]) -> Any:
        seen.append([record["dynamodb"]["SequenceNumber"] for record in event["Records"]])
        raise FunctionError({"errorType": "RuntimeError", "errorMessage": "broken"})

    poller = relay_poller(stack, always_failing)
    poller.pending = stream_records(4)
    while len(poller.pending) == 4:
        poller.deliver("shard-1")

    # 4 -> 2 -> 1 records (halving is free), then the first try and 10 retries of one record.
    assert [len(batch) for batch in seen] == [4, 2] + [1] * (1 + poller.max_retries)
    assert {batch[0] for batch in seen} == {f"{1:021d}"}
    (failure,) = destination_messages(stack, "OrderRelayFailureQueue")
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 1 + poller.max_retries
    info = failure["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["batchSize"], info["shardId"]) == (
        f"{1:021d}",
        1,
        "shard-1",
    )
    assert failure["responsePayload"]["errorMessage"] == "broken"
    assert [r["dynamodb"]["SequenceNumber"] for r in poller.pending] == [
        f"{n:021d}" for n in (2, 3, 4)
    ]


def test_a_reported_item_failure_resumes_the_stream_from_that_record(stack):
    batches: list[int] = []

    def fails_the_third_once(function: str, trigger: str, event: dict[str, Any]) -> Any:
        batches.append(len(event["Records"]))
        third = f"{3:021d}"
        numbers = [record["dynamodb"]["SequenceNumber"] for record in event["Records"]]
        if len(batches) == 1 and third in numbers:
            return {"batchItemFailures": [{"itemIdentifier": third}]}
        return {"batchItemFailures": []}

    poller = relay_poller(stack, fails_the_third_once)
    poller.pending = stream_records(5)
    poller.deliver("shard-1")
    assert poller.pending[0]["dynamodb"]["SequenceNumber"] == f"{3:021d}"
    while poller.pending:
        poller.deliver("shard-1")
    assert batches[0] == 5 and sum(batches[1:]) == 3  # records 3, 4, 5 again
    assert destination_messages(stack, "OrderRelayFailureQueue") == []


def test_an_async_event_is_tried_three_times_then_sent_to_the_on_failure_queue(stack):
    attempts: list[str] = []

    def failing(function: str, trigger: str, event: dict[str, Any]) -> Any:
        attempts.append(trigger)
        raise FunctionError({"errorType": "TransientWriteError", "errorMessage": "throttled"})

    invoker = AsyncInvoker(stack, failing)
    event = {"Records": [{"s3": {"object": {"key": "imports/x.csv"}}}]}
    invoker.submit("CatalogImportFunction", "s3", event)
    assert invoker.settle(timeout=15)

    assert attempts == [f"s3 (attempt {n})" for n in (1, 2, 3)]
    (failure,) = destination_messages(stack, "ImportDeadLetterQueue")
    assert failure["requestContext"]["condition"] == "RetriesExhausted"
    assert failure["requestPayload"] == event
    assert failure["responsePayload"]["errorType"] == "TransientWriteError"


def test_an_async_event_that_succeeds_on_a_retry_sends_nothing(stack):
    attempts: list[str] = []

    def fails_once(function: str, trigger: str, event: dict[str, Any]) -> Any:
        attempts.append(trigger)
        if len(attempts) == 1:
            raise FunctionError({"errorType": "RuntimeError", "errorMessage": "once"})
        return {"ok": True}

    invoker = AsyncInvoker(stack, fails_once)
    invoker.submit("CatalogImportFunction", "s3", {"Records": []})
    assert invoker.settle(timeout=10)
    assert len(attempts) == 2
    assert destination_messages(stack, "ImportDeadLetterQueue") == []


@pytest.mark.parametrize("origin", ["http://localhost:3000", "https://elsewhere.example", None])
def test_cors_headers_follow_the_apis_configuration(stack, origin):
    from devtools.http_api import api_cors

    cors = api_cors(stack.resolve)
    assert cors is not None
    configuration = load_template()["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    preflight = cors.preflight_headers(origin)
    response = cors.response_headers(origin)
    if origin != "http://localhost:3000":  # not CORS, or an origin not allowed: nothing
        assert preflight == response == {}
        return
    assert preflight["Access-Control-Allow-Origin"] == origin  # CorsAllowOrigins' default
    assert preflight["Access-Control-Allow-Methods"].split(",") == configuration["AllowMethods"]
    assert preflight["Access-Control-Allow-Headers"].split(",") == configuration["AllowHeaders"]
    assert preflight["Access-Control-Max-Age"] == str(configuration["MaxAge"])
    assert response["Access-Control-Expose-Headers"].split(",") == configuration["ExposeHeaders"]


def test_the_sam_env_vars_file_sets_only_variables_the_template_declares(
    stack, tmp_path, monkeypatch
):
    from devtools.local_stack import SAM_ENV_VARS_FILE, write_sam_env_vars
    from devtools.template import function_properties, resources

    monkeypatch.setenv("STOCKROOM_LOCAL_DIR", str(tmp_path))
    write_sam_env_vars(stack, 4566, cache_port=6380)
    variables = json.loads((tmp_path / SAM_ENV_VARS_FILE).read_text())

    # SAM CLI overrides declared variables only: AWS_ENDPOINT_URL must be everywhere, and
    # CACHE_URL in the functions that use the shared tier (the others are told of none).
    assert variables["Parameters"] == {
        "AWS_ENDPOINT_URL": "http://host.docker.internal:4566",
        "CACHE_URL": "redis://host.docker.internal:6380",
    }
    for function in resources("AWS::Serverless::Function"):
        declared = function_properties(function)["Environment"]["Variables"]
        assert "AWS_ENDPOINT_URL" in declared
        assert set(variables[function]) <= set(declared)
        assert variables[function]["POWERTOOLS_SERVICE_NAME"] == "stockroom"
    assert variables["OrderRelayFunction"]["ORDER_QUEUE_URL"] == stack["OrderQueue"]
    using_the_tier = {
        function
        for function in resources("AWS::Serverless::Function")
        if "CACHE_URL" in function_properties(function)["Environment"]["Variables"]
    }
    assert using_the_tier == {
        "CatalogFunction",
        "OrdersFunction",
        "RecommendationsFunction",
        "StockFlagsFunction",
    }


def test_the_stream_poller_keeps_reading_after_a_cancelled_transaction(stack):
    """moto restores a copy of a table when a transaction is cancelled; a poller that
    followed its old shard iterator would never see another record."""
    dynamodb = boto3.client("dynamodb")
    table = stack["OrdersTable"]
    delivered: list[str] = []
    received = threading.Event()

    def relay(function: str, trigger: str, event: dict[str, Any]) -> Any:
        delivered.extend(r["dynamodb"]["NewImage"]["order_id"]["S"] for r in event["Records"])
        received.set()
        return {"batchItemFailures": []}

    def insert(order_id: str) -> None:
        put_order_item(
            dynamodb, table, order_id=order_id, customer_id="c", created_at="2026-11-21T00:00:00Z"
        )

    stop = threading.Event()
    poller = threading.Thread(target=relay_poller(stack, relay).run, args=(stop,), daemon=True)
    poller.start()
    try:
        insert("first")
        assert received.wait(10)
        with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
            dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": table,
                            "Key": {"order_id": {"S": "first"}},
                            "UpdateExpression": "SET #s = :s",
                            "ConditionExpression": "attribute_not_exists(order_id)",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {":s": {"S": "X"}},
                        }
                    }
                ]
            )
        received.clear()
        insert("second")
        assert received.wait(10)
    finally:
        stop.set()
        poller.join(5)
    assert delivered == ["first", "second"]


def test_a_reported_failure_naming_no_record_of_the_batch_fails_the_whole_batch(stack):
    calls: list[int] = []

    def names_a_stranger(function: str, trigger: str, event: dict[str, Any]) -> Any:
        calls.append(len(event["Records"]))
        if len(calls) == 1:
            return {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]}
        return {"batchItemFailures": []}

    poller = relay_poller(stack, names_a_stranger)
    poller.pending = stream_records(2)
    poller.deliver("shard-1")
    assert len(poller.pending) == 2  # nothing moved past: the batch is retried
    while poller.pending:
        poller.deliver("shard-1")
    assert calls[0] == 2 and sum(calls[1:]) == 2


def test_the_seed_goes_to_buckets_only(stack, tmp_path, monkeypatch, capsys):
    import devtools.local_stack as local_stack

    (tmp_path / "ImportBucket" / "imports").mkdir(parents=True)
    (tmp_path / "ImportBucket" / "imports" / "a.csv").write_text("sku\n")
    (tmp_path / "ProductsTable").mkdir()  # a resource, but not a bucket
    (tmp_path / "ProductsTable" / "b.csv").write_text("sku\n")
    monkeypatch.setattr(local_stack, "SEED_DIR", tmp_path)

    uploaded = local_stack.upload_seed(stack)

    assert uploaded == [f"s3://{stack['ImportBucket']}/imports/a.csv"]
    assert "ProductsTable" not in capsys.readouterr().err  # put_table_seed's to put
    (tmp_path / "Nothing").mkdir()
    local_stack.upload_seed(stack)
    assert "Nothing: no such bucket, table or function" in capsys.readouterr().err


def test_table_seeds_are_put_as_they_are(stack, tmp_path, monkeypatch):
    import devtools.local_stack as local_stack

    (tmp_path / "OrdersTable").mkdir()
    item = {"order_id": {"S": "seeded-1"}, "status": {"S": "CANCELLED"}}
    (tmp_path / "OrdersTable" / "orders.json").write_text(json.dumps([item]))
    monkeypatch.setattr(local_stack, "SEED_DIR", tmp_path)

    assert local_stack.put_table_seed(stack) == [f"{stack['OrdersTable']}/seeded-1"]
    stored = boto3.client("dynamodb").get_item(
        TableName=stack["OrdersTable"], Key={"order_id": {"S": "seeded-1"}}
    )["Item"]
    assert stored == item


def _scan(table: str) -> list[dict[str, Any]]:
    pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=table)
    return sorted((item for page in pages for item in page["Items"]), key=json.dumps)


def test_the_seeded_history_is_the_same_at_every_start_and_seeding_twice_changes_nothing(
    stack,
):
    import runpy

    import devtools.local_stack as local_stack

    hour = datetime(2026, 12, 5, 9, tzinfo=UTC).timestamp()
    table = stack["RecommendationsTable"]
    local_stack.put_table_seed(stack, hour + 60)
    seeded = _scan(table)
    assert len(seeded) == 281 + 8 + 36 + 8  # baskets of orders and views, histories

    local_stack.put_table_seed(stack, hour + 50 * 60)  # started again within the hour
    assert _scan(table) == seeded

    history = runpy.run_path(str(local_stack.SEED_DIR / "RecommendationsTable/history.py"))
    stamps = {"pk", "sk", "at", "expires_at"}

    def unstamped(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: unstamped(v) for k, v in value.items() if k not in stamps}
        return [unstamped(v) for v in value] if isinstance(value, list) else value

    def content(now: float) -> Any:
        return unstamped(history["items"](now))

    assert content(hour + 3 * 3600) == content(hour)  # hours later: the same history
