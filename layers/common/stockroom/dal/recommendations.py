"""Recommendations table access (key: pk + sk; `expires_at` is its TTL attribute).

    pk                          sk              what
    CUSTOMER#<customer_id>      VIEWS           ViewHistory: recent views (POST /me/views)
    CUSTOMER#<customer_id>      PURCHASES       PurchaseHistory: recent purchases and orders
    BASKETS#<minute>#<shard>    <at>#<id>       Basket: an event for the trainer
    SKU#<sku>                   RELATED         the SKUs bought with it, best first (trainer)
    POPULAR                     TOP             best sellers, best first (trainer)

A customer's two history items are written under a version condition, each with the
basket event it causes in one transaction, so the event exists exactly when the history
changed. Baskets are spread over BASKET_SHARDS partitions per minute, so a sale's burst of
confirmed orders does not meet one partition's limit (about 1,000 writes a second).
"""

import uuid
import zlib
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from stockroom import aws, retry
from stockroom.dal.items import Item, batch_get_keys, batch_put, from_item, to_item
from stockroom.models import Basket, PurchaseHistory, Ranked, ViewHistory
from stockroom.settings import get_settings

BASKET_SHARDS = 4
# Baskets outlive any plausible pause of the trainer, which reads them within minutes.
BASKET_DAYS = 7
_RELATED = "RELATED"
_POPULAR_KEY = {"pk": {"S": "POPULAR"}, "sk": {"S": "TOP"}}


def _table() -> str:
    return get_settings().require("recommendations_table_name")


def _customer(customer_id: str) -> str:
    return f"CUSTOMER#{customer_id}"


# ----------------------------------------------------------------------- history
def get_history(customer_id: str, consistent: bool = False) -> tuple[ViewHistory, PurchaseHistory]:
    """A customer's views and purchases (both empty for a new customer), in one query."""
    response = aws.dynamodb().query(
        TableName=_table(),
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": _customer(customer_id)}},
        ConsistentRead=consistent,
    )
    views, purchases = ViewHistory(), PurchaseHistory()
    for item in response.get("Items", []):
        plain = from_item(item)
        if plain["sk"] == "VIEWS":
            views = ViewHistory.model_validate(plain)
        elif plain["sk"] == "PURCHASES":
            purchases = PurchaseHistory.model_validate(plain)
    return views, purchases


def save_views(
    customer_id: str, views: ViewHistory, expires_at: int, basket: Basket | None
) -> None:
    """The customer's views replaced by `views` if no other write came since they were
    read (`views.version` is the version read)."""
    _save(customer_id, "VIEWS", views, basket, expires_at)


def save_purchases(customer_id: str, purchases: PurchaseHistory, basket: Basket) -> None:
    """The customer's purchases replaced by `purchases` if no other write came since they
    were read (`purchases.version` is the version read)."""
    _save(customer_id, "PURCHASES", purchases, basket, None)


def _save(
    customer_id: str,
    sk: str,
    history: ViewHistory | PurchaseHistory,
    basket: Basket | None,
    expires_at: int | None,
) -> None:
    read_version = history.version  # as read; the item is written with the next one
    item = to_item(history) | {
        "pk": {"S": _customer(customer_id)},
        "sk": {"S": sk},
        "version": {"N": str(read_version + 1)},
    }
    if expires_at is not None:
        item["expires_at"] = {"N": str(expires_at)}
    put: dict[str, Any] = {"TableName": _table(), "Item": item}
    if read_version:
        put["ConditionExpression"] = "version = :read"
        put["ExpressionAttributeValues"] = {":read": {"N": str(read_version)}}
    else:
        put["ConditionExpression"] = "attribute_not_exists(pk)"
    actions: list[Any] = [{"Put": put}]
    if basket is not None:
        actions.append({"Put": {"TableName": _table(), "Item": _basket_item(basket)}})
    try:
        # One token for every copy botocore sends: a resend after a lost answer is a
        # no-op on DynamoDB; where the token is not honoured, the version condition fails,
        # and the caller reads the history again and finds the change made.
        aws.dynamodb().transact_write_items(
            TransactItems=actions, ClientRequestToken=str(uuid.uuid4())
        )
    except ClientError as error:
        reasons = [
            reason.get("Code", "") for reason in error.response.get("CancellationReasons", [])
        ]
        failure = retry.failure_of(error)
        if failure is not None:
            raise failure from error
        # Another run wrote the history first (its version moved), or the write was in
        # a race: read it again and redo.
        if "ConditionalCheckFailed" in reasons or retry.contended(reasons):
            raise retry.TransientWriteError(f"{sk} of {customer_id}: {reasons}") from error
        raise


# ----------------------------------------------------------------------- baskets
def basket_partition(minute: str, shard: int) -> str:
    return f"BASKETS#{minute}#{shard}"


def minute_of(timestamp: str) -> str:
    """2026-12-02T07:25 of 2026-12-02T07:25:11.123456Z."""
    return timestamp[:16]


def _basket_item(basket: Basket) -> Item:
    shard = zlib.crc32(basket.key.encode()) % BASKET_SHARDS
    expires = int(datetime.now(UTC).timestamp()) + BASKET_DAYS * 86_400
    return to_item(basket) | {
        "pk": {"S": basket_partition(minute_of(basket.at), shard)},
        "sk": {"S": f"{basket.at}#{basket.key}"},
        "expires_at": {"N": str(expires)},
    }


def baskets_of_minute(minute: str) -> list[Basket]:
    """Every basket stamped within `minute`, from each shard."""
    found: list[Basket] = []
    paginator = aws.dynamodb().get_paginator("query")
    for shard in range(BASKET_SHARDS):
        pages = paginator.paginate(
            TableName=_table(),
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": basket_partition(minute, shard)}},
            ConsistentRead=True,
        )
        for page in pages:
            found += [Basket.model_validate(from_item(item)) for item in page.get("Items", [])]
    return found


# ------------------------------------------------------------ what the trainer wrote
def get_related(skus: list[str]) -> dict[str, Ranked]:
    """The trained neighbours of each SKU that has some, best first."""
    keys = [{"pk": {"S": f"SKU#{sku}"}, "sk": {"S": _RELATED}} for sku in dict.fromkeys(skus)]
    return {
        item["pk"]["S"].removeprefix("SKU#"): _ranked(item)
        for item in batch_get_keys(_table(), keys)
    }


def get_popular() -> Ranked:
    """Best sellers, best first (empty until the trainer has run)."""
    item = aws.dynamodb().get_item(TableName=_table(), Key=_POPULAR_KEY).get("Item")
    return _ranked(item) if item else []


def put_related(rows: dict[str, Ranked], popular: Ranked) -> None:
    items = [
        {"pk": {"S": f"SKU#{sku}"}, "sk": {"S": _RELATED}} | _ranked_attributes(ranked)
        for sku, ranked in rows.items()
    ]
    batch_put(_table(), [*items, _POPULAR_KEY | _ranked_attributes(popular)])


def _ranked_attributes(ranked: Ranked) -> Item:
    # Two parallel lists: a list of maps would spell out both attribute names per entry.
    return {
        "skus": {"L": [{"S": sku} for sku, _ in ranked]},
        "scores": {"L": [{"N": f"{score:.6g}"} for _, score in ranked]},
    }


def _ranked(item: Item) -> Ranked:
    skus = [value["S"] for value in item.get("skus", {}).get("L", [])]
    scores = [float(value["N"]) for value in item.get("scores", {}).get("L", [])]
    return list(zip(skus, scores, strict=True))
