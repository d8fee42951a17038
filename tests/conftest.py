"""Every test runs against moto's in-process AWS, with tables and queues created from
template.yaml and each function's environment taken from the template."""

import os
import threading
from collections.abc import Iterator
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
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from devtools.intrinsics import Stack
from devtools.provision import provision
from devtools.template import resources
from support.container import reset_container_state
from support.context import FakeLambdaContext


def _serialize_moto_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each request to moto becomes atomic, as DynamoDB's conditional writes and
    transactions are. moto 5.2.5 checks a condition and writes in separate steps, so
    concurrent threads could both pass one condition (measured: 9 of 40 races).
    Clients still interleave between requests, which is where application races live."""
    lock = threading.Lock()
    process_request = BotocoreStubber.process_request

    def atomic(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            return process_request(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", atomic)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    _serialize_moto_requests(monkeypatch)
    with mock_aws():
        stack = provision()
        for function in resources("AWS::Serverless::Function"):
            for key, value in stack.function_environment(function).items():
                if not key.startswith("POWERTOOLS_"):
                    monkeypatch.setenv(key, value)
        reset_container_state()
        yield stack
        reset_container_state()


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()
