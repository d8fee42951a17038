"""Counts the AWS requests a piece of code sends, and the DynamoDB request units they
would be billed on demand, from each request's parameters.

Units assume items of at most 1 KB (writes) and 4 KB (reads), which every Stockroom item
is (an order of 49 lines is the largest): a write is 1 write request unit per item, a
strongly consistent read 1 read unit and an eventually consistent one half; inside a
transaction, each item costs twice.
"""

from collections import Counter
from typing import Any


def item_bytes(value: Any, name: str = "") -> int:
    """An item's (or attribute's) size as DynamoDB bills it, near enough: names and
    strings by their UTF-8 length, numbers about a byte per two digits, and 3 bytes plus
    a byte per element for lists and maps."""
    size = len(name.encode())
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _TYPES:
        ((kind, inner),) = value.items()
        if kind == "S":
            return size + len(str(inner).encode())
        if kind == "N":
            return size + len(str(inner)) // 2 + 1
        if kind == "L":
            return size + 3 + sum(1 + item_bytes(element) for element in inner)
        if kind == "M":
            return size + 3 + sum(1 + item_bytes(v, k) for k, v in inner.items())
        return size + 1
    return size + sum(item_bytes(v, k) for k, v in value.items())  # a whole item


_TYPES = {"S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS"}


class Usage:
    """With `sized`, a write of an item in a transaction costs a unit per started KB of
    it (as DynamoDB bills), not the one unit the 1 KB assumption gives."""

    def __init__(self, sized: bool = False) -> None:
        self.calls: Counter[str] = Counter()
        self.read_units = 0.0
        self.write_units = 0.0
        self.sized = sized

    def watch(self, client: Any) -> None:
        """Counts every request `client` sends from now on."""
        service = client.meta.service_model.service_name
        client.meta.events.register(f"before-parameter-build.{service}.*", self._record)

    def clear(self) -> None:
        self.calls.clear()
        self.read_units = self.write_units = 0.0

    def per(self, count: int) -> dict[str, Any]:
        return {
            "calls": {name: round(n / count, 2) for name, n in sorted(self.calls.items())},
            "read_units": round(self.read_units / count, 2),
            "write_units": round(self.write_units / count, 2),
        }

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        name = model.name
        self.calls[name] += 1
        if model.service_model.service_name != "dynamodb":
            return
        read = 1.0 if params.get("ConsistentRead") else 0.5
        if name in ("PutItem", "UpdateItem", "DeleteItem"):
            self.write_units += 1
        elif name == "GetItem":
            self.read_units += read
        elif name == "TransactWriteItems":
            for action in params["TransactItems"]:
                item = action.get("Put", {}).get("Item")
                kb = -(-item_bytes(item) // 1024) if self.sized and item else 1
                self.write_units += 2 * kb
        elif name == "TransactGetItems":
            self.read_units += 2 * len(params["TransactItems"])
        elif name == "BatchGetItem":
            for request in params["RequestItems"].values():
                consistent = 1.0 if request.get("ConsistentRead") else 0.5
                self.read_units += consistent * len(request["Keys"])
        elif name == "BatchWriteItem":
            self.write_units += sum(len(requests) for requests in params["RequestItems"].values())
        elif name in ("Query", "Scan"):
            self.read_units += read  # one page of small items: within 4 KB
