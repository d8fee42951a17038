"""Writes orders-table items straight to the table, reads an orders-table stream from moto
and shapes its records as Lambda receives them."""

from typing import Any

import boto3
from boto3.dynamodb.types import TypeSerializer

from devtools.streams import lambda_record, streams_client


def put_order_item(client: Any, table: str, **attributes: Any) -> None:
    """An item put into the orders table `table` through `client` as it stands, past the
    order logic, for the stream to carry: plain values, as boto3's TypeSerializer writes
    them (ints as numbers, lists and dicts as L and M)."""
    serialize = TypeSerializer().serialize
    client.put_item(
        TableName=table, Item={name: serialize(value) for name, value in attributes.items()}
    )


def stream_records(table_name: str) -> list[dict[str, Any]]:
    """Every record on the table's stream so far, oldest first, in Lambda's event format."""
    dynamodb = boto3.client("dynamodb")
    streams = streams_client()
    stream_arn = dynamodb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    region = dynamodb.meta.region_name
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for record in streams.get_records(ShardIterator=iterator)["Records"]:
            records.append(lambda_record(record, stream_arn, region))
    return records


def matching_filter(records: list[dict[str, Any]], event_names: list[str]) -> dict[str, Any]:
    """The batch the event source mapping's filter (eventName) would deliver."""
    return {"Records": [record for record in records if record["eventName"] in event_names]}
