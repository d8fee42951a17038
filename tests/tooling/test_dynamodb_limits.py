"""The AWS limits mode's decisions (devtools/dynamodb_limits.py): each limit fires where
AWS documents it, with AWS's error and shape, and not below it. A clock that stands still
unless a test moves it makes "a second" exact."""

from typing import Any

import pytest

from devtools.dynamodb_limits import (
    Admission,
    Enforcer,
    KeySchema,
    Limits,
    Refusal,
    item_size,
    mode,
)

TABLE = "products"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def enforcer(clock: Clock, limits: Limits | None = None) -> Enforcer:
    schema = KeySchema("sku", index_hash_keys={"by-customer": "customer_id"})
    return Enforcer(limits or Limits(), lambda table: schema, clock)


def key(sku: str) -> dict[str, Any]:
    return {"sku": {"S": sku}}


def update(sku: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": key(sku),
            "UpdateExpression": "ADD reserved :n",
            "ExpressionAttributeValues": {":n": {"N": "1"}},
        }
    }


def transaction(*skus: str) -> dict[str, Any]:
    return {"TransactItems": [update(sku) for sku in skus]}


def put(sku: str, padding: int = 0) -> dict[str, Any]:
    return {"TableName": TABLE, "Item": key(sku) | {"p": {"S": "x" * padding}}}


def admitted(found: Admission | Refusal) -> Admission:
    assert isinstance(found, Admission), found
    return found


def refused(found: Admission | Refusal) -> Refusal:
    assert isinstance(found, Refusal), found
    return found


def test_a_transaction_on_an_item_another_holds_is_cancelled_with_its_reasons(clock):
    limits = enforcer(clock)
    first = admitted(limits.admit("TransactWriteItems", transaction("MUG", "ORDER-1")))

    cancelled = refused(limits.admit("TransactWriteItems", transaction("ORDER-2", "MUG")))

    assert cancelled.error == "TransactionCanceledException"
    body = cancelled.body()
    assert body["__type"] == "com.amazonaws.dynamodb.v20120810#TransactionCanceledException"
    assert [r["Code"] for r in body["CancellationReasons"]] == ["None", "TransactionConflict"]
    assert body["message"].endswith("[None, TransactionConflict]")
    # Disjoint items do not conflict; once the first is answered, its items are free.
    admitted(limits.admit("TransactWriteItems", transaction("CUP")))
    limits.settle(first, {})
    admitted(limits.admit("TransactWriteItems", transaction("ORDER-2", "MUG")))
    assert limits.statistics()["outcomes"] == {"TransactionConflict": 1}
    assert list(limits.statistics()["holds"]) == ["2"]


def test_single_writes_meet_transactions_in_flight_but_not_each_other(clock):
    limits = enforcer(clock)
    held = admitted(limits.admit("TransactWriteItems", transaction("MUG")))
    refusal = refused(limits.admit("PutItem", put("MUG")))
    assert refusal.error == "TransactionConflictException"
    limits.settle(held, {})

    writes = [admitted(limits.admit("PutItem", put("MUG"))) for _ in range(2)]
    cancelled = refused(limits.admit("TransactWriteItems", transaction("MUG")))
    assert cancelled.extra["CancellationReasons"][0]["Code"] == "TransactionConflict"
    for write in writes:
        limits.settle(write, {})
    admitted(limits.admit("TransactWriteItems", transaction("MUG")))


def test_one_key_takes_1000_write_units_a_second_and_no_more(clock):
    limits = enforcer(clock)
    for _ in range(1000):  # a 1 KB write is 1 unit
        limits.settle(admitted(limits.admit("PutItem", put("MUG"))), {})

    throttled = refused(limits.admit("PutItem", put("MUG")))

    assert throttled.error == "ProvisionedThroughputExceededException"
    assert throttled.extra["ThrottlingReasons"] == [
        {"reason": "TableWriteKeyRangeThroughputExceeded"}
    ]
    admitted(limits.admit("PutItem", put("CUP")))  # another key: its own partition
    clock.now += 0.5  # half a second refills half the budget
    for _ in range(500):
        limits.settle(admitted(limits.admit("PutItem", put("MUG"))), {})
    refused(limits.admit("PutItem", put("MUG")))


def test_units_are_billed_by_the_kb_and_doubled_in_a_transaction(clock):
    limits = enforcer(clock)
    padding = 1500 - item_size(put("MUG")["Item"])  # 1.5 KB: 2 units
    for _ in range(500):
        limits.settle(admitted(limits.admit("PutItem", put("MUG", padding))), {})
    refused(limits.admit("PutItem", put("MUG")))

    for _ in range(500):  # a transactional 1 KB update: 2 units
        limits.settle(admitted(limits.admit("TransactWriteItems", transaction("CUP"))), {})
    cancelled = refused(limits.admit("TransactWriteItems", transaction("BOWL", "CUP")))
    assert [r["Code"] for r in cancelled.extra["CancellationReasons"]] == [
        "None",
        "ThrottlingError",
    ]


def test_one_key_takes_3000_read_units_a_second_eventually_consistent_reads_half(clock):
    limits = enforcer(clock)
    answer = {"Item": key("MUG")}
    strong = {"TableName": TABLE, "Key": key("MUG"), "ConsistentRead": True}
    for _ in range(3000):
        limits.settle(admitted(limits.admit("GetItem", strong)), answer)
    throttled = refused(limits.admit("GetItem", strong))
    assert throttled.extra["ThrottlingReasons"] == [
        {"reason": "TableReadKeyRangeThroughputExceeded"}
    ]

    eventual = {"TableName": TABLE, "Key": key("CUP")}
    for _ in range(6000):
        limits.settle(admitted(limits.admit("GetItem", eventual)), {"Item": key("CUP")})
    refused(limits.admit("GetItem", eventual))


def test_a_query_is_charged_to_the_partition_its_key_condition_names(clock):
    limits = enforcer(clock)
    query = {
        "TableName": TABLE,
        "IndexName": "by-customer",
        "KeyConditionExpression": "#c = :c",
        "ExpressionAttributeNames": {"#c": "customer_id"},
        "ExpressionAttributeValues": {":c": {"S": "alice"}},
    }
    big = {"Items": [{"customer_id": {"S": "alice"}, "p": {"S": "x" * 4000}}] * 24}  # ~96 KB
    for _ in range(250):  # 24 units of 4 KB, halved: 12 units a query
        limits.settle(admitted(limits.admit("Query", query)), big)
    refused(limits.admit("Query", query))
    other = query | {"ExpressionAttributeValues": {":c": {"S": "bob"}}}
    admitted(limits.admit("Query", other))


def test_a_batch_returns_its_throttled_items_unprocessed(clock):
    limits = enforcer(clock)
    for _ in range(999):
        limits.settle(admitted(limits.admit("PutItem", put("MUG"))), {})
    requests = [{"PutRequest": put(sku)} for sku in ("MUG", "MUG", "CUP")]

    batch = admitted(limits.admit("BatchWriteItem", {"RequestItems": {TABLE: requests}}))
    answer = limits.settle(batch, {"UnprocessedItems": {}})

    assert batch.body["RequestItems"][TABLE] == [requests[0], requests[2]]
    assert answer == {"UnprocessedItems": {TABLE: [requests[1]]}}
    only_hot = {"RequestItems": {TABLE: [{"PutRequest": put("MUG")}]}}
    assert refused(limits.admit("BatchWriteItem", only_hot)).error == (
        "ProvisionedThroughputExceededException"
    )


def test_a_new_tables_ceiling_is_4000_write_units_a_second_only_when_asked(clock):
    new_table = enforcer(clock, Limits.of("aws-new-table"))
    warmed = enforcer(clock, Limits.of("aws"))
    for n in range(4000):  # spread over keys: no partition is near its limit
        new_table.settle(admitted(new_table.admit("PutItem", put(f"SKU-{n % 40}"))), {})
        warmed.settle(admitted(warmed.admit("PutItem", put(f"SKU-{n % 40}"))), {})

    assert refused(new_table.admit("PutItem", put("SKU-NEW"))).error == "ThrottlingException"
    admitted(warmed.admit("PutItem", put("SKU-NEW")))


def test_streams_and_table_operations_pass_uncounted(clock):
    limits = enforcer(clock)
    assert admitted(limits.admit("DescribeTable", {"TableName": TABLE})).body == {
        "TableName": TABLE
    }
    assert limits.statistics()["outcomes"] == {}


def test_the_mode_comes_from_stockroom_limits():
    assert mode({}) == "none"
    assert mode({"STOCKROOM_LIMITS": "aws"}) == "aws"
    with pytest.raises(SystemExit, match="aws-new-table"):
        mode({"STOCKROOM_LIMITS": "azure"})
