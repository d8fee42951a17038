"""The cold-start floor: a handler that imports only boto3, creates its DynamoDB client
and serves GET /products/{sku} with one read. Nothing a real function could skip."""

import json
import os
from typing import Any

import boto3

dynamodb = boto3.client("dynamodb")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    sku = event["pathParameters"]["sku"]
    found = dynamodb.get_item(TableName=os.environ["PRODUCTS_TABLE_NAME"], Key={"sku": {"S": sku}})
    item = found.get("Item")
    if item is None:
        return {"statusCode": 404, "body": json.dumps({"sku": sku})}
    return {
        "statusCode": 200,
        "body": json.dumps({key: next(iter(value.values())) for key, value in item.items()}),
    }
