"""The AWS limits mode's proxy in front of DynamoDB Local, through boto3: its refusals
reach a client in AWS's own shapes (botocore parses them as it parses AWS's), what it lets
through is DynamoDB Local's answer, and the order worker's own retries run against it
unchanged, with real threads racing for one SKU."""

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import order_worker
from devtools import dynamodb_local
from devtools.dynamodb_limits import Limits
from devtools.limits_proxy import ProxyServer, serve
from devtools.local_stack import free_port
from stockroom.errors import RetryLaterError
from support.catalog_data import add_product
from support.dynamodb_local import TABLE_VARIABLES, create_table
from support.orders import stored_pending_order

ORDERS = 24
UNITS = 10


@pytest.fixture(scope="module")
def backend(tmp_path_factory) -> Iterator[str]:
    """One DynamoDB Local for the module's proxies: its endpoint."""
    server = dynamodb_local.start(free_port(), tmp_path_factory.mktemp("ddb") / "ddb.log")
    try:
        server.wait_until_serving()
        yield server.endpoint
    finally:
        server.stop()


def started(backend: str, limits: Limits | None = None) -> tuple[ProxyServer, str]:
    server = serve(0, backend, "aws", limits=limits)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def stopped(server: ProxyServer) -> None:
    server.shutdown()
    server.server_close()  # its listening socket too


@pytest.fixture(scope="module")
def proxy(backend) -> Iterator[ProxyServer]:
    """DynamoDB Local behind the proxy (AWS's limits), the tables the order worker
    decides with in it (the template's keys, created on DynamoDB Local itself: the
    template's other tables and indexes are not what these tests meet, and creating them
    was most of the setup), boto3 and the layer pointed at the proxy."""
    from stockroom import container

    server, endpoint = started(backend)
    local = boto3.client("dynamodb", endpoint_url=backend)
    with pytest.MonkeyPatch.context() as environment:
        for variable in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_DYNAMODB_STREAMS"):
            environment.setenv(variable, endpoint)
        for logical_id, variable in TABLE_VARIABLES.items():
            environment.setenv(variable, create_table(local, logical_id)["TableName"])
        container.reset()
        try:
            yield server
        finally:
            stopped(server)
            container.reset()


def once_client(endpoint: str | None = None) -> Any:
    """A client that does not retry: each refusal reaches the test as AWS sends it."""
    config = Config(retries={"mode": "standard", "total_max_attempts": 1})
    return boto3.client("dynamodb", config=config, endpoint_url=endpoint)


def test_racing_per_order_decisions_on_one_sku_meet_conflicts_and_still_sell_exactly(proxy):
    add_product("HOT", on_hand=UNITS)
    ids = [stored_pending_order(f"c{n}", "HOT").order_id for n in range(ORDERS)]
    start = threading.Barrier(ORDERS)

    def decide(order_id: str) -> Any:
        start.wait()
        try:
            return order_worker.decide_order(order_id)
        except RetryLaterError as deferred:  # the queue delivers it again later
            return deferred

    with ThreadPoolExecutor(ORDERS) as pool:
        outcomes = dict(zip(ids, pool.map(decide, ids), strict=True))
    for order_id, outcome in outcomes.items():  # the queue's redelivery, one at a time
        if isinstance(outcome, RetryLaterError):
            outcomes[order_id] = order_worker.decide_order(order_id)

    decisions = list(outcomes.values())
    assert decisions.count(order_worker.Decision.CONFIRMED) == UNITS
    assert decisions.count(order_worker.Decision.REJECTED) == ORDERS - UNITS
    item = once_client().get_item(
        TableName=os.environ["PRODUCTS_TABLE_NAME"], Key={"sku": {"S": "HOT"}}, ConsistentRead=True
    )["Item"]
    assert (item["available"]["N"], item["reserved"]["N"]) == ("0", str(UNITS))
    assert proxy.enforcer.statistics()["outcomes"].get("TransactionConflict", 0) > 0


def test_a_write_to_an_item_a_transaction_holds_is_refused_as_aws_refuses_it(proxy):
    client, table = once_client(), os.environ["PRODUCTS_TABLE_NAME"]
    key = {"sku": {"S": "MUG"}}
    proxy.enforcer.in_transactions.add(proxy.enforcer.item_key(table, key))  # in flight

    with pytest.raises(ClientError) as refused:
        client.put_item(TableName=table, Item=key)
    assert refused.value.response["Error"]["Code"] == "TransactionConflictException"
    with pytest.raises(client.exceptions.TransactionCanceledException) as cancelled:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"sku": {"S": "CUP"}}}},
                {"Put": {"TableName": table, "Item": key}},
            ]
        )
    reasons = cancelled.value.response["CancellationReasons"]
    assert [reason["Code"] for reason in reasons] == ["None", "TransactionConflict"]
    assert "Item" not in client.get_item(TableName=table, Key={"sku": {"S": "CUP"}})


def test_a_hot_key_past_its_write_units_is_throttled_in_awss_shape(backend):
    # One write unit a second: the second write within the second is throttled.
    server, endpoint = started(backend, Limits(partition_write=1, partition_read=1))
    client = once_client(endpoint)
    client.create_table(
        TableName="hot-keys",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        client.put_item(TableName="hot-keys", Item={"k": {"S": "hot"}})
        with pytest.raises(client.exceptions.ProvisionedThroughputExceededException) as hot:
            client.put_item(TableName="hot-keys", Item={"k": {"S": "hot"}})
        client.put_item(TableName="hot-keys", Item={"k": {"S": "cold"}})  # its own key
    finally:
        stopped(server)
    assert hot.value.response["ThrottlingReasons"] == [
        {"reason": "TableWriteKeyRangeThroughputExceeded"}
    ]
