"""Products table access (key: sku)."""

from typing import Any, cast

from botocore.exceptions import ClientError

from stockroom import aws, retry
from stockroom.dal.items import Item, batch_get, from_item, read_page, to_item
from stockroom.models import CatalogEntry, Product
from stockroom.settings import get_settings


def _table() -> str:
    return get_settings().require("products_table_name")


def get_product(sku: str) -> Product | None:
    response = aws.dynamodb().get_item(TableName=_table(), Key={"sku": {"S": sku}})
    item = response.get("Item")
    return Product.model_validate(from_item(item)) if item else None


def get_products(skus: list[str], consistent: bool = False) -> dict[str, Product]:
    """The products that exist among `skus`, by SKU, in as few BatchGetItem calls as fit."""
    items = batch_get(_table(), "sku", skus, consistent)
    return {
        product.sku: product for product in (Product.model_validate(from_item(i)) for i in items)
    }


def list_products(limit: int, after_sku: str | None) -> tuple[list[Product], str | None]:
    """One page of products in table order and the SKU to continue after, if any remain."""

    def scan(start: Item | None, count: int) -> tuple[list[Item], Item | None]:
        kwargs: dict[str, Any] = {"TableName": _table(), "Limit": count}
        if start is not None:
            kwargs["ExclusiveStartKey"] = start
        response = aws.dynamodb().scan(**kwargs)
        return response["Items"], response.get("LastEvaluatedKey")  # a Scan always has Items

    start = {"sku": {"S": after_sku}} if after_sku else None
    items, last = read_page(scan, limit, start)
    products = [Product.model_validate(from_item(item)) for item in items]
    return products, (last["sku"]["S"] if last else None)


class ReservedExceedsOnHandError(Exception):
    """A catalog entry states fewer units on hand than confirmed orders hold reserved."""

    def __init__(self, reserved: int) -> None:
        super().__init__(f"{reserved} units are reserved")  # pragma: no mutate
        self.reserved = reserved


def apply_catalog_entry(entry: CatalogEntry, now: str) -> int:
    """Creates the product (available = on_hand, reserved = 0) or updates its catalog data
    and on_hand, keeping its reserved units: available becomes on_hand - reserved. Returns
    the units reserved it kept.

    One UpdateItem reads `reserved` and writes `available` atomically, so a reservation
    made or released at the same moment is neither lost nor counted twice; the condition
    keeps available from going below zero (ReservedExceedsOnHandError instead).

    The entry's max_per_customer replaces the product's: an entry without one leaves
    the product without a limit."""
    values = to_item(entry)
    limit: dict[str, Any] = {}
    if "max_per_customer" in values:
        limit = {":limit": values["max_per_customer"]}
    try:
        written = aws.dynamodb().update_item(
            TableName=_table(),
            Key={"sku": values["sku"]},
            UpdateExpression=(
                "SET #name = :name, unit_price_cents = :price, currency = :currency, "
                "on_hand = :on_hand, reserved = if_not_exists(reserved, :zero), "
                "available = :on_hand - if_not_exists(reserved, :zero), updated_at = :now"
                + (", max_per_customer = :limit" if limit else " REMOVE max_per_customer")
            ),
            ConditionExpression="attribute_not_exists(reserved) OR reserved <= :on_hand",
            ExpressionAttributeNames={"#name": "name"},
            ExpressionAttributeValues={
                ":name": values["name"],
                ":price": values["unit_price_cents"],
                ":currency": values["currency"],
                ":on_hand": values["on_hand"],
                ":zero": {"N": "0"},
                ":now": {"S": now},
                **limit,
            },
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        failure = retry.failure_of(error)
        if failure is not None:
            raise failure from error
        if aws.error_code(error) == "ConditionalCheckFailedException":
            # ReturnValuesOnConditionCheckFailure puts the item as it stands in the error;
            # the condition fails only on an item whose `reserved` exceeds the on-hand.
            current = from_item(cast(dict[str, Any], error.response)["Item"])
            raise ReservedExceedsOnHandError(int(current["reserved"])) from error
        raise
    return int(written["Attributes"]["reserved"]["N"])
