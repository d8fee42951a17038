"""Allowances table access (key: customer_id + sku): `units`, how many units of a SKU
with a per-customer limit the customer's orders hold (those in HOLDING_STATUSES).

Only SKUs with a limit have items here. An allowance moves only inside the stock
transactions of dal/stock.py, with the counter and the order's status: taken when an
order is confirmed (on condition that it stays within the limit), given back when the
order is released; the order's status condition makes each happen once. The worker
reads allowances to allot a batch.
"""

from collections.abc import Iterable
from typing import Any

from stockroom.dal.items import batch_get_keys
from stockroom.settings import get_settings

# A customer's allowance of a SKU: (customer_id, sku).
type Key = tuple[str, str]


def _table() -> str:
    return get_settings().require("allowances_table_name")


def _key(key: Key) -> dict[str, Any]:
    customer_id, sku = key
    return {"customer_id": {"S": customer_id}, "sku": {"S": sku}}


def held(keys: Iterable[Key]) -> dict[Key, int]:
    """The units held under each allowance of `keys` (0 when it has no item), read
    strongly consistent."""
    unique = list(dict.fromkeys(keys))
    if not unique:
        return {}
    found = {
        (item["customer_id"]["S"], item["sku"]["S"]): int(item.get("units", {"N": "0"})["N"])
        for item in batch_get_keys(_table(), [_key(key) for key in unique], consistent=True)
    }
    return {key: found.get(key, 0) for key in unique}


def take(key: Key, quantity: int, limit: int) -> Any:
    """An Update (for a transaction) adding `quantity` units to the allowance, on the
    condition that it then holds at most `limit`; `quantity` must not exceed `limit`."""
    if quantity > limit:
        raise ValueError(f"{quantity} units cannot fit a limit of {limit}")
    return {
        "TableName": _table(),
        "Key": _key(key),
        "UpdateExpression": "ADD units :quantity",
        "ConditionExpression": "attribute_not_exists(units) OR units <= :room",
        "ExpressionAttributeValues": {
            ":quantity": {"N": str(quantity)},
            ":room": {"N": str(limit - quantity)},
        },
    }


def give_back(key: Key, quantity: int) -> Any:
    """An Update (for a transaction) returning `quantity` units to the allowance, on the
    condition that it holds them."""
    return {
        "TableName": _table(),
        "Key": _key(key),
        "UpdateExpression": "ADD units :delta",
        "ConditionExpression": "units >= :quantity",
        "ExpressionAttributeValues": {
            ":delta": {"N": str(-quantity)},
            ":quantity": {"N": str(quantity)},
        },
    }
