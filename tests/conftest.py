"""Every test runs against moto's in-process AWS, with tables and queues created from
template.yaml and each function's environment taken from the template."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Before any Powertools or boto3 import: no real AWS, no X-Ray daemon, a fixed region.
# Except for the end-to-end journeys against a deployed stack (tests/e2e/conftest.py),
# which need the real credentials, region and endpoint.
if "STOCKROOM_E2E_OUTPUTS" not in os.environ:
    os.environ.update(
        {
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SECURITY_TOKEN": "testing",
            "AWS_SESSION_TOKEN": "testing",
        }
    )
    for variable in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
    ):
        os.environ.pop(variable, None)
os.environ.update(
    {
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "stockroom",
        "POWERTOOLS_METRICS_NAMESPACE": "Stockroom",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
)

import pytest

from devtools.template import handler_location, on_path, resources

# Each function's folder importable, as /var/task is in Lambda: the template names them.
on_path(*(handler_location(function).folder for function in resources("AWS::Serverless::Function")))

from devtools.intrinsics import Stack
from devtools.provision import environments_as_provisioned
from support.aws_stack import provisioned
from support.context import FakeLambdaContext

if "STOCKROOM_E2E_OUTPUTS" not in os.environ:
    # Handler modules check their settings when imported, as Lambda's init does, and test
    # modules import them at collection: every function's variables are set from the
    # start, with the names each test's stack gives its resources.
    os.environ.update(environments_as_provisioned())


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with provisioned(monkeypatch) as stack:
        yield stack


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


# The tiers, by folder: `make unit` runs what none of these marks (in-process, fast).
# tests/tooling tests devtools and bench, not the product.
_TIERS = {
    "integration": "integration",
    "e2e": "e2e",
    "benchmarks": "bench",
    "tooling": "devtools",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        folder = item.path.relative_to(tests).parts[0]
        if folder in _TIERS:
            item.add_marker(getattr(pytest.mark, _TIERS[folder]))


@pytest.fixture
def transactions(stack):
    """The TransactWriteItems requests sent, each as its list of items."""
    from stockroom import aws as stockroom_aws

    sent: list[list[dict[str, Any]]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(params["TransactItems"])

    events = stockroom_aws.dynamodb().meta.events
    events.register("provide-client-params.dynamodb.TransactWriteItems", record)
    yield sent
    events.unregister("provide-client-params.dynamodb.TransactWriteItems", record)


@pytest.fixture
def product_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SKUs read from the products table, one entry a read."""
    from stockroom.dal import products as products_table

    reads: list[str] = []
    read = products_table.get_products

    def recorded(skus: list[str], consistent: bool = False) -> Any:
        reads.extend(skus)
        return read(skus, consistent)

    monkeypatch.setattr(products_table, "get_products", recorded)
    return reads


@pytest.fixture
def held_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The template's tables in a DynamoDB Local of their own, the layer pointed at it,
    orders held for a minute."""
    from support.dynamodb_local import template_tables

    monkeypatch.setenv("HOLD_MINUTES", "1")
    with template_tables(tmp_path, monkeypatch):
        yield
