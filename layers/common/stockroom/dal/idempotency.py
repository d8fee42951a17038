"""Idempotency records for Powertools' idempotency utility (table key: id, TTL: expiration)."""

from functools import cache

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from stockroom import aws
from stockroom.settings import get_settings


@cache
def persistence_layer() -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(
        table_name=get_settings().require("idempotency_table_name"),
        boto3_client=aws.dynamodb(),
    )
