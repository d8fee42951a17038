"""Every test runs against moto's in-process AWS, with tables and queues created from
template.yaml and each function's environment taken from the template."""

import os
from collections.abc import Iterator
from dataclasses import dataclass

# Before any Powertools or boto3 import: no real AWS, no X-Ray daemon, a fixed region.
os.environ.update(
    {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "stockroom",
        "POWERTOOLS_METRICS_NAMESPACE": "Stockroom",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
)
for variable in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(variable, None)

import pytest
from moto import mock_aws

from devtools.provision import provision
from devtools.template import function_environment, resources
from stockroom import aws as stockroom_aws
from stockroom import catalog, ordering
from stockroom.dal import idempotency
from stockroom.settings import get_settings
from support.context import FakeLambdaContext


@dataclass
class Stack:
    """Physical names of what the template declares, as created in moto."""

    physical: dict[str, str]

    def __getitem__(self, logical_id: str) -> str:
        return self.physical[logical_id]


def reset_container_state() -> None:
    """What a fresh Lambda container would not have: settings, clients, caches."""
    get_settings.cache_clear()
    stockroom_aws.reset_clients()
    catalog.product_cache.cache_clear()
    ordering.idempotency_config.cache_clear()
    ordering._idempotent_placement.cache_clear()
    idempotency.persistence_layer.cache_clear()


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with mock_aws():
        physical = provision()
        for function in resources("AWS::Serverless::Function"):
            for key, value in function_environment(function, physical).items():
                if not key.startswith("POWERTOOLS_"):
                    monkeypatch.setenv(key, value)
        reset_container_state()
        yield Stack(physical)
        reset_container_state()


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()
