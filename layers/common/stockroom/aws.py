"""AWS clients, created once per container (at init: stockroom.container.prepare).

They are botocore's low-level clients, the ones boto3.client() returns, made from a
botocore session of our own: nothing here uses boto3's resources or S3 transfers, so a
function need not import boto3 at all (about 20 ms of every cold start). Importing this
module creates nothing, so tests (and moto) can set the environment first;
`stockroom.container.reset()` starts them afresh, as a new container would. Endpoint
overrides such as the local stack's come from the AWS_ENDPOINT_URL variables, as for boto3.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from stockroom.once import per_container

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sqs.client import SQSClient

# Every call's retries for throttling, 5xx and transport errors (stockroom.retry says
# what else is retried, and where): botocore's standard mode, jittered, attempts in all.
BOTOCORE_ATTEMPTS = 4
# Short timeouts: a Lambda request should fail fast and be retried, not hang.
_CLIENT_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "total_max_attempts": BOTOCORE_ATTEMPTS},
    max_pool_connections=32,
)
# A botocore session is not safe to build clients from concurrently.
_lock = threading.Lock()


@per_container
def session() -> botocore.session.Session:
    """The session every client here comes from (and where a hook for all of them goes)."""
    return botocore.session.Session()


def _client(service: str) -> Any:
    with _lock:
        return session().create_client(service, config=_CLIENT_CONFIG)


@per_container
def dynamodb() -> DynamoDBClient:
    return cast("DynamoDBClient", _client("dynamodb"))


@per_container
def sqs() -> SQSClient:
    return cast("SQSClient", _client("sqs"))


@per_container
def s3() -> S3Client:
    return cast("S3Client", _client("s3"))


@per_container
def secretsmanager() -> Any:  # no boto3-stubs for it among the dev dependencies
    return _client("secretsmanager")


def error_code(error: ClientError) -> str:
    """The AWS error code of a failed call ("ConditionalCheckFailedException", ...)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def was_resent(error: ClientError) -> bool:
    """True when botocore sent this request more than once (a lost answer, a timeout)
    before the error came back: an earlier copy of it may have taken effect."""
    return int(error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)) > 0
