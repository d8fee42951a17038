"""DynamoDB Local for a test: a server of its own, boto3 pointed at it, and the
template's tables (keys and stream only) created in it."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from devtools import dynamodb_local
from devtools.local_stack import free_port
from devtools.template import load_template


@contextmanager
def serving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A DynamoDB Local server for the test, boto3's DynamoDB and streams endpoints on it."""
    server = dynamodb_local.start(free_port(), tmp_path / "dynamodb-local.log")
    try:
        server.wait_until_serving()
        for variable in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_DYNAMODB_STREAMS"):
            monkeypatch.setenv(variable, server.endpoint)
        yield
    finally:
        server.stop()


# The tables the layer's data access reads, by the variable that names each.
TABLE_VARIABLES = {
    "ProductsTable": "PRODUCTS_TABLE_NAME",
    "OrdersTable": "ORDERS_TABLE_NAME",
    "AllowancesTable": "ALLOWANCES_TABLE_NAME",
}


@contextmanager
def template_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every table of the template in a DynamoDB Local of their own, the layer pointed at
    the products, orders and allowances tables."""
    from devtools.provision import provision
    from stockroom import container

    with serving(tmp_path, monkeypatch):
        stack = provision(types={"AWS::DynamoDB::Table"})
        for logical_id, variable in TABLE_VARIABLES.items():
            monkeypatch.setenv(variable, stack.refs[logical_id])
        container.reset()
        try:
            yield
        finally:
            container.reset()


def create_table(client: Any, logical_id: str, stream_view_type: str | None = None) -> Any:
    """The template's table `logical_id` under a fresh name, with its key attributes only
    and its stream (or one of `stream_view_type`); its TableDescription."""
    properties = load_template()["Resources"][logical_id]["Properties"]
    keys = {key["AttributeName"] for key in properties["KeySchema"]}
    arguments: dict[str, Any] = {
        "TableName": f"{logical_id}-{uuid.uuid4().hex[:8]}",
        "AttributeDefinitions": [
            a for a in properties["AttributeDefinitions"] if a["AttributeName"] in keys
        ],
        "KeySchema": properties["KeySchema"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    stream = properties.get("StreamSpecification", {})
    if stream_view_type:
        stream = {"StreamViewType": stream_view_type}
    if stream:
        arguments["StreamSpecification"] = {"StreamEnabled": True, **stream}
    return client.create_table(**arguments)["TableDescription"]


class StreamArnStack:
    """What StreamPoller resolves: the stream ARN its event names."""

    def __init__(self, arn: str) -> None:
        self.arn = arn

    def resolve(self, value: Any) -> Any:
        return self.arn
