"""Reads an orders-table stream from moto and shapes its records as Lambda receives them."""

from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config


def stream_records(table_name: str) -> list[dict[str, Any]]:
    """Every record on the table's stream so far, oldest first, in Lambda's event format."""
    dynamodb = boto3.client("dynamodb")
    # botocore sends stream calls to account-id endpoints (<account>.streams-ddb...),
    # which moto 5.2.5 does not route; the regional endpoint it does.
    streams = boto3.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"))
    stream_arn = dynamodb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for record in streams.get_records(ShardIterator=iterator)["Records"]:
            change = dict(record["dynamodb"])
            created = change.get("ApproximateCreationDateTime")
            if isinstance(created, datetime):
                change["ApproximateCreationDateTime"] = int(created.timestamp())
            records.append(
                {
                    "eventID": record["eventID"],
                    "eventName": record["eventName"],
                    "eventVersion": record.get("eventVersion", "1.1"),
                    "eventSource": "aws:dynamodb",
                    "awsRegion": record.get("awsRegion", "eu-west-1"),
                    "dynamodb": change,
                    "eventSourceARN": stream_arn,
                }
            )
    return records


def matching_filter(records: list[dict[str, Any]], event_names: list[str]) -> dict[str, Any]:
    """The batch the event source mapping's filter (eventName) would deliver."""
    return {"Records": [record for record in records if record["eventName"] in event_names]}
