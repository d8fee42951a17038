"""What behaviour cannot show, checked on the requests as sent: every transaction carries
a retry token (ClientRequestToken), its own, and botocore's resend of it carries the same
one (how DynamoDB knows the resend for what it is; a token shared by two transactions
would have DynamoDB skip the second); an idempotency record's key is made
of the caller and the Idempotency-Key, not of the body. moto ignores the token, so only
the request tells."""

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import order_worker
import orders_api
from order_worker import Decision
from orders import cancel_order
from stockroom import aws as stockroom_aws
from stockroom import catalog
from stockroom.identity import Caller
from stockroom.settings import get_settings
from support.catalog_data import add_product
from support.events import http_event, parse_response
from support.lost_answers import answers_lost
from support.orders import place


@contextmanager
def sent(operation: str) -> Iterator[list[dict[str, Any]]]:
    """The body of every `operation` request the code's DynamoDB client sends, each
    attempt (a botocore resend too) once."""
    bodies: list[dict[str, Any]] = []

    def record(request: Any, **_: Any) -> None:
        bodies.append(json.loads(request.body))

    events = stockroom_aws.dynamodb().meta.events
    events.register(f"request-created.dynamodb.{operation}", record)
    try:
        yield bodies
    finally:
        events.unregister(f"request-created.dynamodb.{operation}", record)


def test_every_transaction_carries_a_retry_token_of_its_own(stack):
    add_product("SKU-A", on_hand=10)
    add_product("SKU-Z", on_hand=0)
    batches = [[place(f"c{n}", {"SKU-A": 1}) for n in range(size)] for size in (3, 1)]
    sold_out = [place(f"z{n}", {"SKU-Z": 1}) for n in range(2)]
    alone = place("alice", {"SKU-A": 2})

    with sent("TransactWriteItems") as transactions:
        for batch in batches:
            outcomes = order_worker.decide_orders([order.order_id for order in batch])
            assert set(outcomes.values()) == {Decision.CONFIRMED}
        outcomes = order_worker.decide_orders([order.order_id for order in sold_out])
        assert set(outcomes.values()) == {Decision.REJECTED}
        assert order_worker.decide_order(alone.order_id) is Decision.CONFIRMED
        cancel_order(Caller(customer_id="alice", scopes=frozenset()), alone.order_id)

    # Two groups' transactions (three orders, one), the two rejections together, the
    # reservation alone, the release.
    assert [len(body["TransactItems"]) for body in transactions] == [4, 2, 2, 2, 2]
    tokens = [body.get("ClientRequestToken") for body in transactions]
    assert all(isinstance(token, str) and 1 <= len(token) <= 36 for token in tokens), tokens
    assert len(set(tokens)) == len(tokens)


def test_a_resent_transaction_carries_the_first_attempts_token(stack):
    add_product("SKU-A", on_hand=10)
    order = place("alice", {"SKU-A": 1})
    grouped = place("bob", {"SKU-A": 1})

    with sent("TransactWriteItems") as transactions:
        with answers_lost("TransactWriteItems"):
            assert order_worker.decide_order(order.order_id) is Decision.CONFIRMED
        with answers_lost("TransactWriteItems"):
            outcomes = order_worker.decide_orders([grouped.order_id])
            assert outcomes == {grouped.order_id: Decision.CONFIRMED}

    tokens = [body["ClientRequestToken"] for body in transactions]
    assert len(tokens) == 4
    assert tokens[0] == tokens[1] != tokens[2] == tokens[3]


def test_an_idempotency_records_key_is_the_caller_and_the_key_alone(stack, lambda_context):
    add_product("SKU-A")

    with sent("PutItem") as puts:
        for key, quantity in (("k-1", 1), ("k-2", 2)):
            body = {"items": [{"sku": "SKU-A", "quantity": quantity}]}
            event = http_event("POST", "/orders", body=body, headers={"Idempotency-Key": key})
            result = parse_response(orders_api.handler(event, lambda_context))
            assert result.status == 202

    records = [put["Item"] for put in puts if put["TableName"] == stack["IdempotencyTable"]]
    assert len(records) == 2
    # Powertools' record id: the function's name, then the MD5 of the key's parts as
    # sorted JSON; the body is checked apart, by its own hash.
    for record, key in zip(records, ("k-1", "k-2"), strict=True):
        parts = json.dumps(["customer-123", key], sort_keys=True)
        digest = hashlib.md5(parts.encode()).hexdigest()
        assert record["id"]["S"].endswith(f"#{digest}"), record["id"]
        assert "validation" in record


def test_the_worker_reads_consistently_what_it_allots_from_and_the_catalog_does_not(stack):
    # An eventually consistent read may miss a second of reservations: the worker would
    # allot units already taken, and its transactions would be cancelled round after round.
    # The catalog's reads (pages, the door's checks) may be a second old, at half the
    # read units.
    add_product("SKU-A", on_hand=10, max_per_customer=2)
    batch = [place(f"c{n}", {"SKU-A": 1}) for n in range(3)]
    alone = place("alice", {"SKU-A": 1})

    with sent("BatchGetItem") as reads:
        outcomes = order_worker.decide_orders([order.order_id for order in batch])
        assert order_worker.decide_order(alone.order_id) is Decision.CONFIRMED
    with sent("BatchGetItem") as catalog_reads:
        assert set(catalog.find_products(["SKU-A"], fresh=True)) == {"SKU-A"}

    assert set(outcomes.values()) == {Decision.CONFIRMED}
    # The orders, the products' counters, the allowances (together), the products (alone).
    assert [table for table, _ in consistency(reads)].count(products_table_name()) == 2
    assert len(dict(consistency(reads))) == 3
    assert {consistent for _, consistent in consistency(reads)} == {True}
    assert consistency(catalog_reads) == [(products_table_name(), False)]


def consistency(bodies: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    """Each table each BatchGetItem request read, and whether it asked for consistency."""
    return [
        (table, spec.get("ConsistentRead", False))
        for body in bodies
        for table, spec in body["RequestItems"].items()
    ]


def products_table_name() -> str:
    return str(get_settings().require("products_table_name"))
