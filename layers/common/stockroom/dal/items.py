"""Conversion between pydantic models and DynamoDB's attribute-value maps, and the reads
every table shares."""

import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from pydantic import BaseModel

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

type Item = dict[str, Any]
type Query = Callable[[Item | None, int], tuple[list[Item], Item | None]]

_BATCH_GET_LIMIT = 100
_MAX_UNPROCESSED_ROUNDS = 8


def batch_get(table: str, key: str, values: list[str], consistent: bool = False) -> list[Item]:
    """The items of `table` whose string key `key` is one of `values`, in as few
    BatchGetItem calls as fit (100 keys each), unprocessed keys asked for again."""
    from stockroom import aws

    found: list[Item] = []
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), _BATCH_GET_LIMIT):
        request: Any = {
            table: {
                "Keys": [{key: {"S": value}} for value in unique[start : start + _BATCH_GET_LIMIT]],
                "ConsistentRead": consistent,
            }
        }
        for attempt in range(_MAX_UNPROCESSED_ROUNDS):
            response = aws.dynamodb().batch_get_item(RequestItems=request)
            found += response.get("Responses", {}).get(table, [])
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(min(0.05 * 2**attempt, 1.0))  # throttled keys: back off, then ask again
        else:
            raise RuntimeError(f"DynamoDB kept keys of {table} unprocessed after retries")
    return found


def to_item(model: BaseModel) -> Item:
    plain = model.model_dump(mode="json", exclude_none=True)
    return {key: _serializer.serialize(value) for key, value in plain.items()}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _plain(_deserializer.deserialize(value)) for key, value in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(element) for element in value]
    if isinstance(value, dict):
        return {key: _plain(element) for key, element in value.items()}
    return value


def read_page(query: Query, limit: int, start: Item | None) -> tuple[list[Item], Item | None]:
    """Up to `limit` items and the key to continue from, None exactly when nothing is left.

    DynamoDB stops at `Limit` or 1 MB and may hand back a key even when no item follows;
    asking for one extra item tells the two apart, so clients never get an empty last page.
    """
    items: list[Item] = []
    cursor = start
    while len(items) <= limit:
        page, cursor = query(cursor, limit + 1 - len(items))
        items.extend(page)
        if cursor is None:
            break
    if len(items) > limit:
        return items[:limit], items[limit - 1]
    return items, None
