"""Stock flags table access (key: `name`): the set of SKUs known to be sold out.

One item, `{"name": "sold-out", "skus": <string set>, "updated_at": ...}`, kept by the
stock flags function from the products table's stream and read by the orders API once a
second per container. It lives in a table of its own so that no scan, stream or cache of
the products reads it by accident. A string set cannot be empty: with no SKU sold out
the item has no `skus`.
"""

from botocore.exceptions import ClientError

from stockroom import aws
from stockroom.settings import get_settings

SOLD_OUT = "sold-out"


class FlagsItemFullError(Exception):
    """The sold-out item reached DynamoDB's item size (400 KB, about 6,000 SKUs of 64
    characters): the SKUs it could not add stay unflagged, and the worker decides them."""


def _table() -> str:
    return get_settings().require("stock_flags_table_name")


def sold_out_skus() -> frozenset[str] | None:
    """The SKUs flagged sold out, or None when the item does not exist (yet)."""
    response = aws.dynamodb().get_item(
        TableName=_table(), Key={"name": {"S": SOLD_OUT}}, ProjectionExpression="skus"
    )
    item = response.get("Item")
    if item is None:
        return None
    return frozenset(item.get("skus", {}).get("SS", []))


def update_sold_out(sold_out: set[str], back: set[str], now: str) -> None:
    """`back` removed from the set, then `sold_out` added (two updates: one expression
    cannot touch an attribute twice). Both are idempotent, so a retried batch sets the
    same state; the removal goes first so that a full item never holds back a clearing."""
    if back:
        _update("DELETE skus :skus SET updated_at = :now", back, now)
    if sold_out:
        try:
            _update("ADD skus :skus SET updated_at = :now", sold_out, now)
        except ClientError as error:
            if aws.error_code(error) == "ValidationException" and "size" in str(error).lower():
                raise FlagsItemFullError(str(error)) from error
            raise


def _update(expression: str, skus: set[str], now: str) -> None:
    aws.dynamodb().update_item(
        TableName=_table(),
        Key={"name": {"S": SOLD_OUT}},
        UpdateExpression=expression,
        ExpressionAttributeValues={":skus": {"SS": sorted(skus)}, ":now": {"S": now}},
    )
