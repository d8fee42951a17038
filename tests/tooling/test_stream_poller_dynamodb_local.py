"""The local stack's stream poller against DynamoDB Local's stream, with real
concurrency: whatever the interleaving of writes and cancelled transactions, every
record reaches the function, once and in order per item. A poller starting on a fresh
stream logs nothing; a real trim is one warning saying what was lost and what comes next."""

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devtools import triggers
from devtools.streams import streams_client
from devtools.template import event_sources
from devtools.triggers import StreamPoller
from support.dynamodb_local import StreamArnStack, create_table, serving
from support.streams import put_order_item

WRITERS = 16
ORDERS_PER_WRITER = 40


@pytest.fixture
def orders_stream(tmp_path, monkeypatch) -> Iterator[tuple[Any, str, str]]:
    """DynamoDB Local with the template's orders table; yields (client, table, stream ARN)."""
    with serving(tmp_path, monkeypatch):
        client = boto3.client("dynamodb")
        created = create_table(client, "OrdersTable", stream_view_type="NEW_IMAGE")
        yield client, created["TableName"], created["LatestStreamArn"]


def test_every_record_reaches_the_function_under_concurrent_writes_and_cancellations(
    orders_stream,
):
    client, table, arn = orders_stream
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    delivered: list[str] = []
    lock = threading.Lock()

    def relay(function: str, trigger: str, event: dict[str, Any]) -> Any:
        with lock:
            delivered.extend(r["dynamodb"]["NewImage"]["order_id"]["S"] for r in event["Records"])
        return {"batchItemFailures": []}

    ((function, properties),) = [
        source for source in event_sources("DynamoDB") if source[0] == "OrderRelayFunction"
    ]
    poller = StreamPoller(StreamArnStack(arn), relay, function, properties)  # type: ignore[arg-type]
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
    thread.start()

    def writer(index: int) -> list[str]:
        placed = []
        for n in range(ORDERS_PER_WRITER):
            order_id = f"order-{index}-{n}"
            put_order_item(
                client,
                table,
                order_id=order_id,
                customer_id=f"c{index}",
                created_at="2026-12-01T00:00:00.000000Z",
                status="PENDING",
            )
            placed.append(order_id)
            if n % 3 == 0:  # a transaction that is cancelled, as a lost race is
                # By code: botocore builds a client's exception classes lazily, and
                # threads racing to build them can end up with different classes.
                with pytest.raises(ClientError, match="TransactionCanceledException"):
                    client.transact_write_items(
                        TransactItems=[
                            {
                                "Update": {
                                    "TableName": table,
                                    "Key": {"order_id": {"S": order_id}},
                                    "UpdateExpression": "SET #s = :s",
                                    "ConditionExpression": "#s = :other",
                                    "ExpressionAttributeNames": {"#s": "status"},
                                    "ExpressionAttributeValues": {
                                        ":s": {"S": "CONFIRMED"},
                                        ":other": {"S": "REJECTED"},
                                    },
                                }
                            }
                        ]
                    )
        return placed

    try:
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            placed = [order for orders in pool.map(writer, range(WRITERS)) for order in orders]
        deadline = time.monotonic() + 30
        while len(delivered) < len(placed) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(5)

    assert len(placed) == WRITERS * ORDERS_PER_WRITER
    assert sorted(delivered) == sorted(placed)  # each one, once
    for index in range(WRITERS):  # one writer's orders in the order it wrote them
        mine = [order for order in delivered if order.startswith(f"order-{index}-")]
        assert mine == [f"order-{index}-{n}" for n in range(ORDERS_PER_WRITER)]


class RelayRun:
    """The relay's stream poller on `arn`, running until closed; `delivered` holds the
    order ids it invoked the function with, `calls` each GetRecords answer's error code
    ("" for records), and `trim_next` makes that many GetRecords calls answer
    TrimmedDataAccessException, as DynamoDB Streams does past a shard's trim horizon."""

    def __init__(self, arn: str, monkeypatch: pytest.MonkeyPatch) -> None:
        os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
        self.delivered: list[str] = []
        self.sequence_numbers: list[str] = []
        self.calls: list[str] = []
        self.trim_next = 0
        client = streams_client()
        client.meta.events.register("before-call.dynamodb-streams.GetRecords", self._trim)
        client.meta.events.register("after-call.dynamodb-streams.GetRecords", self._record)
        monkeypatch.setattr(triggers, "streams_client", lambda: client)
        ((function, properties),) = [
            source for source in event_sources("DynamoDB") if source[0] == "OrderRelayFunction"
        ]
        poller = StreamPoller(StreamArnStack(arn), self._relay, function, properties)  # type: ignore[arg-type]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=poller.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def _relay(self, function: str, trigger: str, event: dict[str, Any]) -> Any:
        self.delivered += [r["dynamodb"]["NewImage"]["order_id"]["S"] for r in event["Records"]]
        self.sequence_numbers += [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        return {"batchItemFailures": []}

    def _trim(self, **_: Any) -> Any:
        if self.trim_next:
            self.trim_next -= 1
            error = {"Error": {"Code": "TrimmedDataAccessException", "Message": "injected"}}
            return SimpleNamespace(status_code=400), error | {"ResponseMetadata": {}}
        return None

    def _record(self, parsed: dict[str, Any], **_: Any) -> None:
        self.calls.append(parsed.get("Error", {}).get("Code", ""))

    def wait_for(self, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 30
        while not condition():
            assert time.monotonic() < deadline, (self.delivered, self.calls)
            time.sleep(0.05)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


def _put(client: Any, table: str, *order_ids: str) -> None:
    for order_id in order_ids:
        put_order_item(
            client,
            table,
            order_id=order_id,
            customer_id="c",
            status="PENDING",
            created_at="2026-12-01T00:00:00.000000Z",
        )


def test_a_poller_starting_on_a_fresh_stream_logs_nothing(orders_stream, monkeypatch, capsys):
    """DynamoDB Local numbers every table's stream records in one sequence: records of
    another table written while the poller waits on an empty shard make its iterator
    "trimmed" when the shard's first record arrives. Nothing was lost, so nothing is said."""
    client, table, arn = orders_stream
    other = create_table(client, "OrdersTable", stream_view_type="NEW_IMAGE")["TableName"]
    run = RelayRun(arn, monkeypatch)
    try:
        run.wait_for(lambda: len(run.calls) >= 2)  # polling its empty shard
        _put(client, other, "elsewhere-1", "elsewhere-2", "elsewhere-3")
        _put(client, table, "first", "second")
        run.wait_for(lambda: len(run.delivered) >= 2)
        _put(client, table, "third")
        run.wait_for(lambda: len(run.delivered) >= 3)
    finally:
        run.close()

    assert "TrimmedDataAccessException" in run.calls  # DynamoDB Local did call it trimmed
    assert run.delivered == ["first", "second", "third"]
    assert capsys.readouterr().err == ""


def test_a_real_trim_is_one_warning_naming_what_was_lost_and_what_comes_next(
    orders_stream, monkeypatch, capsys
):
    client, table, arn = orders_stream
    run = RelayRun(arn, monkeypatch)
    try:
        _put(client, table, "first")
        run.wait_for(lambda: run.delivered == ["first"])
        run.trim_next = 1  # once: resumed right after "first", nothing lost or repeated
        run.wait_for(lambda: run.trim_next == 0)
        _put(client, table, "second")
        run.wait_for(lambda: len(run.delivered) >= 2)
        assert run.delivered == ["first", "second"]
        assert capsys.readouterr().err == ""

        run.trim_next = 2  # twice with nothing read between: the records after are gone
        run.wait_for(lambda: run.trim_next == 0)
        _put(client, table, "third")
        run.wait_for(lambda: "third" in run.delivered)
    finally:
        run.close()

    (warning,) = capsys.readouterr().err.splitlines()
    assert warning.startswith("[stream] OrderRelayFunction: warning: records of shard ")
    assert f"after sequence number {run.sequence_numbers[1]} were trimmed" in warning
    assert warning.endswith("going on from the oldest record the shard holds")
