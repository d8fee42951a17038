"""DynamoDB's limits that bind a hot SKU, enforced in front of DynamoDB Local, which
enforces none of them (400 concurrent transactions on one item all succeed there, and
one key takes whatever the CPU gives it). The decisions, free of HTTP; the proxy that
applies them to every request is devtools/limits_proxy.py.

What binds, as AWS documents it and answers it:
- one item, one transaction at a time: a transaction that touches an item another
  transaction or a write still holds is cancelled (TransactionCanceledException, reason
  `TransactionConflict` for that item); a single write to an item a transaction holds is
  refused (TransactionConflictException)
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html);
- one partition key value, at most 1,000 write units and 3,000 read units a second
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html):
  past them ProvisionedThroughputExceededException, reason
  `TableWriteKeyRangeThroughputExceeded` (or Read), and in a transaction the item's
  cancellation reason `ThrottlingError`; in a batch, the throttled items come back
  unprocessed. Every key is counted as if on a partition of its own (adaptive capacity
  isolates a hot key; one key is never split);
- optionally a new table's ceiling, 4,000 write and 12,000 read units a second until it
  is warmed (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput.html):
  ThrottlingException.

Units as AWS bills them (read-write-operations.html): a write, 1 unit a KB of the item
(rounded up); a read, 1 unit (strongly consistent) or 0.5 (eventually) a 4 KB; a
transaction, twice that. An update or delete is billed on the larger of the item before
and after, which the proxy does not read: it counts the update's own attributes, at
least 1 unit (this store's items are under 1 KB). A partition's budget is a token bucket
holding one second of its rate: a burst up to the rate passes, more is throttled, and a
throttled request consumes nothing.
"""

import math
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

VARIABLE = "STOCKROOM_LIMITS"
MODES = ("none", "aws", "aws-new-table")

PARTITION_WRITE_UNITS = 1000.0
PARTITION_READ_UNITS = 3000.0
NEW_TABLE_WRITE_UNITS = 4000.0
NEW_TABLE_READ_UNITS = 12000.0

THROUGHPUT_MESSAGE = (
    "Throughput exceeds the current capacity of your table or index. DynamoDB is "
    "automatically scaling your table or index so please try again shortly."
)
ONGOING = "Transaction is ongoing for the item"

type Json = dict[str, Any]
type ItemKey = tuple[str, tuple[tuple[str, str], ...]]
type Schema = Callable[[str], "KeySchema"]


def mode(environment: Mapping[str, str] = os.environ) -> str:
    """Which limits the local stack enforces: none (DynamoDB Local as it is), aws, or
    aws-new-table (also a new table's ceiling)."""
    chosen = environment.get(VARIABLE) or MODES[0]
    if chosen not in MODES:
        raise SystemExit(f"{VARIABLE}={chosen!r}: use one of {', '.join(MODES)}")
    return chosen


@dataclass(frozen=True)
class Limits:
    partition_write: float = PARTITION_WRITE_UNITS
    partition_read: float = PARTITION_READ_UNITS
    table_write: float | None = None  # a new table's ceiling, if enforced
    table_read: float | None = None

    @classmethod
    def of(cls, chosen: str) -> "Limits":
        if chosen == "aws-new-table":
            return cls(table_write=NEW_TABLE_WRITE_UNITS, table_read=NEW_TABLE_READ_UNITS)
        return cls()


@dataclass(frozen=True)
class KeySchema:
    """A table's key attributes and each index's partition key."""

    hash_key: str
    range_key: str | None = None
    index_hash_keys: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, table: Json) -> "KeySchema":
        def hash_of(schema: list[Json]) -> str:
            return next(str(k["AttributeName"]) for k in schema if k["KeyType"] == "HASH")

        ranges = [k["AttributeName"] for k in table["KeySchema"] if k["KeyType"] == "RANGE"]
        indexes = table.get("GlobalSecondaryIndexes", []) + table.get("LocalSecondaryIndexes", [])
        return cls(
            hash_of(table["KeySchema"]),
            ranges[0] if ranges else None,
            {index["IndexName"]: hash_of(index["KeySchema"]) for index in indexes},
        )


class Bucket:
    """A token bucket holding one second of `rate`."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate, self.tokens, self.at = rate, rate, now

    def _refill(self, now: float) -> None:
        if now > self.at:  # a caller's `now` may predate the bucket
            self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
            self.at = now

    def has(self, units: float, now: float) -> bool:
        self._refill(now)
        return self.tokens >= min(units, self.rate)  # one item larger than a second passes

    def take(self, units: float, now: float) -> None:
        self._refill(now)
        self.tokens -= units  # reads are charged after the answer: it may go below 0


def attribute_size(value: Json) -> int:
    """Bytes of one attribute value, as DynamoDB sizes items (item-size-calculations)."""
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = len(inner.lstrip("-").replace(".", "").strip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind == "B":
        return len(inner) * 3 // 4
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: v}) for v in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in inner)
    return 3 + sum(1 + len(k.encode()) + attribute_size(v) for k, v in inner.items())  # M


def item_size(item: Json) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def write_units(size: int) -> float:
    return float(max(1, math.ceil(size / 1024)))


def read_units(size: int, consistent: bool) -> float:
    return max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5)


# Hold times kept per item count: enough for a p99, bounded in memory.
HOLD_SAMPLES = 20_000

type Charge = tuple[str, str, str, float]  # table, partition ("" for none), read|write, units


@dataclass(frozen=True)
class Refusal:
    """An answer DynamoDB would give instead of serving the request (HTTP 400)."""

    error: str
    message: str
    extra: Json = field(default_factory=dict)

    def body(self) -> Json:
        return (
            {"__type": f"com.amazonaws.dynamodb.v20120810#{self.error}"}
            | {"message": self.message}
            | self.extra
        )


@dataclass
class Admission:
    """A request let through: what to forward, the items it holds until answered, and
    what settles it (a read's charge from the answer, a batch's refused part)."""

    operation: str
    body: Json
    transaction_keys: list[ItemKey] = field(default_factory=list)
    write_keys: list[ItemKey] = field(default_factory=list)
    read_charges: Callable[[Json], list[Charge]] | None = None
    unprocessed: tuple[str, Json] | None = None  # ("UnprocessedItems", {...})
    started: float = 0.0


class Enforcer:
    """The limits' state: the items held by requests in flight, and each partition key's
    (and table's) budget. Thread-safe; `schema(table)` names a table's keys."""

    def __init__(
        self, limits: Limits, schema: Schema, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits, self.schema, self.clock = limits, schema, clock
        self.lock = threading.Lock()
        self.in_transactions: set[ItemKey] = set()
        self.in_writes: dict[ItemKey, int] = {}
        self.buckets: dict[tuple[str, str, str], Bucket] = {}
        self.outcomes: dict[str, int] = {}
        self.requests: dict[str, int] = {}
        self.holds: dict[int, list[float]] = {}

    def statistics(self) -> Json:
        """Requests by operation, refusals by kind, transactions' hold seconds by items."""
        with self.lock:
            return {
                "requests": dict(self.requests),
                "outcomes": dict(self.outcomes),
                "holds": {str(n): list(seconds) for n, seconds in self.holds.items()},
            }

    # ------------------------------------------------------------------ keys
    def item_key(self, table: str, item: Json) -> ItemKey:
        schema = self.schema(table)
        names = [schema.hash_key] + ([schema.range_key] if schema.range_key else [])
        return table, tuple((name, repr(item.get(name))) for name in names)

    def partition(self, table: str, item: Json, index: str | None = None) -> str:
        schema = self.schema(table)
        name = schema.index_hash_keys[index] if index else schema.hash_key
        return f"{index or ''}#{item.get(name)!r}"

    # --------------------------------------------------------------- budgets
    def _bucket(self, table: str, partition: str, kind: str) -> Bucket | None:
        if partition:
            rate = self.limits.partition_write if kind == "write" else self.limits.partition_read
        else:
            table_rate = self.limits.table_write if kind == "write" else self.limits.table_read
            if table_rate is None:
                return None
            rate = table_rate
        key = (table, partition, kind)
        if key not in self.buckets:
            self.buckets[key] = Bucket(rate, self.clock())
        return self.buckets[key]

    def _full(self, charges: list[Charge]) -> tuple[set[int], bool]:
        """Positions of the charges their partition cannot take now, and whether a
        table's ceiling is passed (then every charge on that table is refused)."""
        now = self.clock()
        needs: dict[tuple[str, str, str], float] = {}
        for table, partition, kind, units in charges:
            for where in {partition, ""}:
                needs[table, where, kind] = needs.get((table, where, kind), 0.0) + units
        full = {
            k for k, units in needs.items() if (b := self._bucket(*k)) and not b.has(units, now)
        }
        tables = {(table, kind) for table, where, kind in full if not where}
        return {
            n
            for n, (table, partition, kind, _) in enumerate(charges)
            if (table, partition, kind) in full or (table, kind) in tables
        }, bool(tables)

    def _charge(self, charges: list[Charge]) -> None:
        now = self.clock()
        for table, partition, kind, units in charges:
            for where in {partition, ""}:
                if bucket := self._bucket(table, where, kind):
                    bucket.take(units, now)

    def _count(self, outcome: str, n: int = 1) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + n

    def _throttled(self, table_full: bool, kind: str) -> Refusal:
        reason = f"Table{kind.title()}KeyRangeThroughputExceeded"
        error = "ThrottlingException" if table_full else "ProvisionedThroughputExceededException"
        self._count(error)
        return Refusal(error, THROUGHPUT_MESSAGE, {"ThrottlingReasons": [{"reason": reason}]})

    # ------------------------------------------------------------ admission
    def admit(self, operation: str, body: Json) -> Admission | Refusal:
        """Whether `operation` with `body` may go to DynamoDB now; if so, its items are
        held (and its writes charged) until `settle`."""
        admit = getattr(self, f"_admit_{operation}", None)
        with self.lock:
            self.requests[operation] = self.requests.get(operation, 0) + 1
            if admit is None:
                return Admission(operation, body)
            found: Admission | Refusal = admit(body)
            if isinstance(found, Admission):
                found.started = self.clock()
                self.in_transactions.update(found.transaction_keys)
                for key in found.write_keys:
                    self.in_writes[key] = self.in_writes.get(key, 0) + 1
            return found

    def settle(self, admission: Admission, answer: Json | None) -> Json | None:
        """The items released; a read charged from its answer (None: it failed); a
        batch's refused part added to the answer, which is returned."""
        with self.lock:
            self.in_transactions.difference_update(admission.transaction_keys)
            for key in admission.write_keys:
                self.in_writes[key] -= 1
                if not self.in_writes[key]:
                    del self.in_writes[key]
            if admission.transaction_keys:
                seconds = self.holds.setdefault(len(admission.transaction_keys), [])
                if len(seconds) < HOLD_SAMPLES:
                    seconds.append(round(self.clock() - admission.started, 5))
            if answer is not None and admission.read_charges:
                self._charge(admission.read_charges(answer))
        if answer is not None and admission.unprocessed:
            name, refused = admission.unprocessed
            merged = answer.setdefault(name, {})
            for table, requests in refused.items():
                if isinstance(requests, list):  # UnprocessedItems: a table's requests
                    merged.setdefault(table, []).extend(requests)
                elif table in merged:  # UnprocessedKeys: a table's Keys and options
                    merged[table]["Keys"].extend(requests["Keys"])
                else:
                    merged[table] = requests
        return answer

    # ----------------------------------------------------------- single items
    def _single_write(self, body: Json, units: float) -> Admission | Refusal:
        table = body["TableName"]
        item = body.get("Item") or body["Key"]
        key = self.item_key(table, item)
        if key in self.in_transactions:
            self._count("TransactionConflictException")
            return Refusal("TransactionConflictException", ONGOING)
        charges = [(table, self.partition(table, item), "write", units)]
        full, table_full = self._full(charges)
        if full:
            return self._throttled(table_full, "write")
        self._charge(charges)
        return Admission("write", body, write_keys=[key])

    def _admit_PutItem(self, body: Json) -> Admission | Refusal:  # noqa: N802 (AWS's names)
        return self._single_write(body, write_units(item_size(body["Item"])))

    def _admit_UpdateItem(self, body: Json) -> Admission | Refusal:  # noqa: N802
        values = body.get("ExpressionAttributeValues", {}).values()
        size = item_size(body["Key"]) + sum(attribute_size(v) for v in values)
        return self._single_write(body, write_units(size))

    def _admit_DeleteItem(self, body: Json) -> Admission | Refusal:  # noqa: N802
        return self._single_write(body, 1.0)

    def _admit_GetItem(self, body: Json) -> Admission | Refusal:  # noqa: N802
        table, consistent = body["TableName"], bool(body.get("ConsistentRead"))
        partition = self.partition(table, body["Key"])
        if self._full([(table, partition, "read", read_units(0, consistent))])[0]:
            return self._throttled(self._full([(table, "", "read", 0.5)])[1], "read")

        def charges(answer: Json) -> list[Charge]:
            size = item_size(answer.get("Item", {}))
            return [(table, partition, "read", read_units(size, consistent))]

        return Admission("read", body, read_charges=charges)

    def _admit_Query(self, body: Json) -> Admission | Refusal:  # noqa: N802
        table, index = body["TableName"], body.get("IndexName")
        consistent = bool(body.get("ConsistentRead"))
        value = _equality_value(body, self.schema(table), index)
        partition = f"{index or ''}#{value!r}" if value is not None else ""
        if self._full([(table, partition, "read", read_units(0, consistent))])[0]:
            return self._throttled(self._full([(table, "", "read", 0.5)])[1], "read")

        def charges(answer: Json) -> list[Charge]:
            size = sum(item_size(item) for item in answer.get("Items", []))
            return [(table, partition, "read", read_units(size, consistent))]

        return Admission("read", body, read_charges=charges)

    # ----------------------------------------------------------- transactions
    def _transaction(
        self, entries: list[tuple[str, Json, str, float]], body: Json, operation: str
    ) -> Admission | Refusal:
        """entries: (table, item or key, read|write, units) in the request's order."""
        keys = [self.item_key(table, item) for table, item, _, _ in entries]
        held = [key in self.in_transactions or key in self.in_writes for key in keys]
        charges = [
            (table, self.partition(table, item), kind, units)
            for table, item, kind, units in entries
        ]
        full, _ = self._full(charges) if not any(held) else (set(), False)
        if any(held) or full:
            reasons = [
                {"Code": "TransactionConflict", "Message": ONGOING}
                if conflicted
                else {"Code": "ThrottlingError", "Message": THROUGHPUT_MESSAGE}
                if n in full
                else {"Code": "None"}
                for n, conflicted in enumerate(held)
            ]
            codes = [reason["Code"] for reason in reasons]
            self._count("TransactionConflict" if any(held) else "ThrottlingError")
            return Refusal(
                "TransactionCanceledException",
                "Transaction cancelled, please refer cancellation reasons for specific "
                f"reasons [{', '.join(codes)}]",
                {"CancellationReasons": reasons},
            )
        if operation == "write":
            self._charge(charges)
            return Admission(operation, body, transaction_keys=keys)

        def read_charges(answer: Json) -> list[Charge]:
            sizes = [item_size(r.get("Item", {})) for r in answer.get("Responses", [])]
            return [
                (table, partition, "read", 2 * read_units(size, True))
                for (table, partition, _, _), size in zip(charges, sizes, strict=False)
            ]

        return Admission(operation, body, transaction_keys=keys, read_charges=read_charges)

    def _admit_TransactWriteItems(self, body: Json) -> Admission | Refusal:  # noqa: N802
        entries = []
        for entry in body["TransactItems"]:
            kind, request = next(iter(entry.items()))
            item = request.get("Item") or request["Key"]
            values = request.get("ExpressionAttributeValues", {}).values()
            size = item_size(item) + (0 if kind == "Put" else sum(map(attribute_size, values)))
            entries.append((request["TableName"], item, "write", 2 * write_units(size)))
        return self._transaction(entries, body, "write")

    def _admit_TransactGetItems(self, body: Json) -> Admission | Refusal:  # noqa: N802
        entries = [
            (entry["Get"]["TableName"], entry["Get"]["Key"], "read", 2.0)
            for entry in body["TransactItems"]
        ]
        return self._transaction(entries, body, "read")

    # ----------------------------------------------------------------- batches
    def _admit_BatchWriteItem(self, body: Json) -> Admission | Refusal:  # noqa: N802
        admitted: Json = {}
        refused: Json = {}
        keys: list[ItemKey] = []
        charges: list[Charge] = []
        for table, requests in body["RequestItems"].items():
            for request in requests:
                put = request.get("PutRequest")
                item = put["Item"] if put else request["DeleteRequest"]["Key"]
                key = self.item_key(table, item)
                units = write_units(item_size(item)) if put else 1.0
                charge = (table, self.partition(table, item), "write", units)
                if key in self.in_transactions or self._full([*charges, charge])[0]:
                    refused.setdefault(table, []).append(request)
                    continue
                admitted.setdefault(table, []).append(request)
                keys.append(key)
                charges.append(charge)
        if not admitted:
            return self._throttled(False, "write")
        if refused:
            self._count("UnprocessedItems", sum(map(len, refused.values())))
        self._charge(charges)
        return Admission(
            "write",
            body | {"RequestItems": admitted},
            write_keys=keys,
            unprocessed=("UnprocessedItems", refused) if refused else None,
        )

    def _admit_BatchGetItem(self, body: Json) -> Admission | Refusal:  # noqa: N802
        admitted: Json = {}
        refused: Json = {}
        for table, request in body["RequestItems"].items():
            consistent = bool(request.get("ConsistentRead"))
            for key in request["Keys"]:
                charge = (table, self.partition(table, key), "read", read_units(0, consistent))
                chosen = refused if self._full([charge])[0] else admitted
                chosen.setdefault(table, request | {"Keys": []})["Keys"].append(key)
        if not admitted:
            return self._throttled(False, "read")
        if refused:
            self._count("UnprocessedKeys", sum(len(r["Keys"]) for r in refused.values()))

        def charges(answer: Json) -> list[Charge]:
            return [
                (
                    table,
                    self.partition(table, item),
                    "read",
                    read_units(
                        item_size(item), bool(body["RequestItems"][table].get("ConsistentRead"))
                    ),
                )
                for table, items in answer.get("Responses", {}).items()
                for item in items
            ]

        return Admission(
            "read",
            body | {"RequestItems": admitted},
            read_charges=charges,
            unprocessed=("UnprocessedKeys", refused) if refused else None,
        )


def _equality_value(body: Json, schema: KeySchema, index: str | None) -> Json | None:
    """The partition key's value a Query's KeyConditionExpression names, if it can tell."""
    name = schema.index_hash_keys.get(index, "") if index else schema.hash_key
    names = body.get("ExpressionAttributeNames", {})
    values = body.get("ExpressionAttributeValues", {})
    for left, right in re.findall(
        r"([#\w.]+)\s*=\s*(:\w+)", body.get("KeyConditionExpression", "")
    ):
        if names.get(left, left) == name and right in values:
            found: Json = values[right]
            return found
    return None
