"""DynamoDB Streams as Lambda sees them: a client moto can serve, and records shaped
the way a stream event source mapping delivers them."""

from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config


def streams_client() -> Any:
    # botocore sends stream calls to account-id endpoints (<account>.streams-ddb...),
    # which moto 5.2.5 does not route; the regional endpoint it does.
    return boto3.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"))


def lambda_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A GetRecords record in the shape of one element of a Lambda stream event."""
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = int(created.timestamp())
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", region),
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    }
