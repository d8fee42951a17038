"""Conversion between pydantic models and DynamoDB's attribute-value maps, and the reads
every table shares."""

from collections.abc import Callable, Mapping
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

from aws_lambda_powertools.shared.dynamodb_deserializer import TypeDeserializer
from pydantic import BaseModel

# Powertools' copy of boto3's deserializer: reading an item needs no boto3 import.
_deserializer = TypeDeserializer()

type Item = dict[str, Any]
type Query = Callable[[Item | None, int], tuple[list[Item], Item | None]]

# DynamoDB's numbers, as boto3 checks them: 38 digits, exponents -130 to 125 (inexact,
# rounded or out of range raises decimal's exceptions, ArithmeticError).
_NUMBERS = Context(
    Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow]
)

_BATCH_GET_LIMIT = 100
_BATCH_WRITE_LIMIT = 25
_MAX_UNPROCESSED_ROUNDS = 8


def batch_get(table: str, key: str, values: list[str], consistent: bool = False) -> list[Item]:
    """The items of `table` whose string key `key` is one of `values`."""
    unique = list(dict.fromkeys(values))
    return batch_get_keys(table, [{key: {"S": value}} for value in unique], consistent)


def batch_get_keys(table: str, keys: list[Item], consistent: bool = False) -> list[Item]:
    """The items of `table` under `keys` (distinct), in as few BatchGetItem calls as fit
    (100 keys each), unprocessed keys asked for again."""
    from stockroom import aws

    found: list[Item] = []
    for start in range(0, len(keys), _BATCH_GET_LIMIT):
        chunk = keys[start : start + _BATCH_GET_LIMIT]
        for response in _until_processed(
            lambda request: aws.dynamodb().batch_get_item(RequestItems=request),
            {table: {"Keys": chunk, "ConsistentRead": consistent}},
            "UnprocessedKeys",
            f"keys of {table}",
        ):
            found += response.get("Responses", {}).get(table, [])
    return found


def batch_put(table: str, items: list[Item]) -> None:
    """`items` written to `table` (distinct keys), 25 to a BatchWriteItem call,
    unprocessed items sent again."""
    from stockroom import aws

    for start in range(0, len(items), _BATCH_WRITE_LIMIT):
        chunk = items[start : start + _BATCH_WRITE_LIMIT]
        _until_processed(
            lambda request: aws.dynamodb().batch_write_item(RequestItems=request),
            {table: [{"PutRequest": {"Item": item}} for item in chunk]},
            "UnprocessedItems",
            f"items of {table}",
        )


def _until_processed(
    send: Callable[[Any], Any], request: Any, unprocessed: str, what: str
) -> list[Any]:
    """The answers of `send` to `request`, then to what each answer names `unprocessed`
    of it, until nothing is left (at most _MAX_UNPROCESSED_ROUNDS rounds)."""
    responses = []
    for attempt in range(_MAX_UNPROCESSED_ROUNDS):
        responses.append(send(request))
        request = responses[-1].get(unprocessed) or {}
        if not request:
            return responses
        _unprocessed(attempt)
    raise RuntimeError(f"DynamoDB kept {what} unprocessed after retries")


def _unprocessed(attempt: int) -> None:
    """DynamoDB left part of a batch undone (throttled keys or items): a success to
    botocore, so ours to ask again, after a jittered pause."""
    from stockroom import retry
    from stockroom.observability import count

    count("UnprocessedRetried")
    retry.pause(attempt)


def to_item(model: BaseModel) -> Item:
    plain = model.model_dump(mode="json", exclude_none=True)
    return {key: attribute_value(value) for key, value in plain.items()}


def attribute_value(value: Any) -> dict[str, Any]:
    """A JSON value (what `model_dump(mode="json")` gives) as a DynamoDB attribute value,
    as boto3's TypeSerializer writes it; a float is refused as boto3 refuses it (a
    number DynamoDB stores exactly must be an int or a Decimal), and so is a number
    DynamoDB cannot hold exactly (more than 38 digits, or out of its range)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | Decimal):
        return {"N": str(_NUMBERS.create_decimal(value))}
    if value is None:
        return {"NULL": True}
    if isinstance(value, list):
        return {"L": [attribute_value(element) for element in value]}
    if isinstance(value, dict):
        return {"M": {key: attribute_value(element) for key, element in value.items()}}
    raise TypeError(f"{type(value).__name__} cannot be stored in DynamoDB exactly: {value!r}")


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
