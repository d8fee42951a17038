"""boto3 clients, created lazily and once per container.

Nothing here runs at import time, so tests (and moto) can set the environment first;
`reset_clients()` lets a test start from fresh clients. Endpoint overrides such as the
local stack's come from boto3's own AWS_ENDPOINT_URL variables.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sqs.client import SQSClient

# Short timeouts: a Lambda request should fail fast and be retried, not hang.
_CLIENT_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "max_attempts": 4},
    max_pool_connections=32,
)
# boto3's default session is not safe to build clients from concurrently.
_lock = threading.Lock()


@cache
def dynamodb() -> DynamoDBClient:
    with _lock:
        return boto3.client("dynamodb", config=_CLIENT_CONFIG)


@cache
def sqs() -> SQSClient:
    with _lock:
        return boto3.client("sqs", config=_CLIENT_CONFIG)


@cache
def s3() -> S3Client:
    with _lock:
        return boto3.client("s3", config=_CLIENT_CONFIG)


def reset_clients() -> None:
    dynamodb.cache_clear()
    sqs.cache_clear()
    s3.cache_clear()


def error_code(error: ClientError) -> str:
    """The AWS error code of a failed call ("ConditionalCheckFailedException", ...)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def was_resent(error: ClientError) -> bool:
    """True when botocore sent this request more than once (a lost answer, a timeout)
    before the error came back: an earlier copy of it may have taken effect."""
    return int(error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)) > 0
