"""The shared cache tier against a real server (the local stack's, devtools/cache_server.py)
with the functions' code in-process on moto: a product one container read served to the
next, expiry, the products stream written through, and the server killed and back: reads
fall back to the table with no error and use the tier again without a new container."""

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

import order_worker_sqs
import stock_flags_stream
from devtools import cache_server
from devtools.local_stack import free_port
from stockroom import aws, catalog, container, shared_cache
from stockroom.models import Product
from stockroom.settings import get_settings
from support.catalog_data import add_product
from support.orders import message_for, place, sqs_event
from support.streams import stream_records


def started(port: int, folder: Path) -> cache_server.CacheServer:
    server = cache_server.start("127.0.0.1", port, folder / f"cache-{port}.log")
    server.wait_until_serving()
    return server


@pytest.fixture
def server(tmp_path) -> Iterator[cache_server.CacheServer]:
    running = started(free_port(), tmp_path)
    yield running
    running.stop()


@pytest.fixture
def tier(stack, server, monkeypatch) -> Iterator[redis.Redis]:
    """The functions' settings pointing at the server, each container keeping nothing of
    its own (so that every read asks the shared tier); yields a client of the server."""
    monkeypatch.setenv("CACHE_URL", server.url)
    monkeypatch.setenv("PRODUCT_CACHE_TTL_SECONDS", "0")
    monkeypatch.setenv("SHARED_CACHE_RETRY_SECONDS", "0.2")
    container.reset()
    client = redis.Redis.from_url(server.url)
    yield client
    client.close()
    container.reset()


def eventually(condition: Callable[[], bool], what: str, seconds: float = 10) -> None:
    """Waits until `condition()` holds (a bound for a broken build, not a timing claim)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(0.05)


def deliver_products_stream(lambda_context, after: int = 0) -> int:
    """The products stream's records from `after` on, to the stock flags function; how
    many records there are now."""
    records = stream_records(get_settings().require("products_table_name"))
    if records[after:]:
        stock_flags_stream.handler({"Records": records[after:]}, lambda_context)
    return len(records)


def test_what_one_container_read_the_next_finds_and_a_miss_is_read_once(tier, product_reads):
    add_product("MUG-1", on_hand=4)
    assert catalog.find_products(["MUG-1", "GHOST"])["MUG-1"].available == 4
    container.reset()  # the next container
    assert catalog.get_product("MUG-1").available == 4
    assert catalog.find_products(["GHOST"]) == {}
    assert product_reads == ["MUG-1", "GHOST", "GHOST"]  # misses are not cached
    assert tier.ttl(shared_cache.PRODUCTS.key("MUG-1")) > 0


def test_an_entry_expires_after_the_shared_ttl(tier, product_reads, monkeypatch):
    monkeypatch.setenv("SHARED_CACHE_TTL_SECONDS", "1")
    container.reset()
    add_product("MUG-1")
    catalog.get_product("MUG-1")
    key = shared_cache.PRODUCTS.key("MUG-1")
    assert tier.exists(key) == 1
    eventually(lambda: not tier.exists(key), "the server's expiry")
    catalog.get_product("MUG-1")
    assert product_reads == ["MUG-1", "MUG-1"]


def test_the_products_stream_writes_each_change_through(tier, product_reads, lambda_context):
    add_product("MUG-1", on_hand=3)
    add_product("LAMP-1", on_hand=1)
    seen = deliver_products_stream(lambda_context)
    assert catalog.get_product("MUG-1").available == 3  # from the tier: the stream wrote it
    assert product_reads == []

    order = place("alice", {"MUG-1": 1, "LAMP-1": 1})  # prices read through the tier
    decided = order_worker_sqs.handler(sqs_event(message_for(order)), lambda_context)
    assert decided["batchItemFailures"] == []
    product_reads.clear()  # the worker's own reads of the counters
    seen = deliver_products_stream(lambda_context, after=seen)
    container.reset()
    found = catalog.find_products(["MUG-1", "LAMP-1"])
    assert (found["MUG-1"].available, found["LAMP-1"].available) == (2, 0)
    assert product_reads == []

    products = get_settings().require("products_table_name")
    aws.dynamodb().delete_item(TableName=products, Key={"sku": {"S": "MUG-1"}})
    deliver_products_stream(lambda_context, after=seen)
    assert tier.exists(shared_cache.PRODUCTS.key("MUG-1")) == 0
    assert "MUG-1" not in catalog.find_products(["MUG-1"])


def test_a_server_killed_and_back_is_a_miss_then_used_again_by_the_same_container(
    tier, server, product_reads, tmp_path, monkeypatch
):
    add_product("MUG-1")
    catalog.get_product("MUG-1")
    catalog.get_product("MUG-1")
    assert product_reads == ["MUG-1"]

    server.process.kill()
    server.process.wait(timeout=10)
    for _ in range(3):  # no error: the table answers, the tier passed over
        assert catalog.get_product("MUG-1").sku == "MUG-1"
    assert product_reads == ["MUG-1"] * 4

    back = started(server.port, tmp_path)  # empty, on the same address
    try:
        key = shared_cache.PRODUCTS.key("MUG-1")
        fresh = redis.Redis.from_url(back.url)

        def filled_by_a_read() -> bool:  # once the breaker's 0.2 s are over
            catalog.get_product("MUG-1")
            return bool(fresh.exists(key))

        eventually(filled_by_a_read, "a read through the tier again")
        before = len(product_reads)
        catalog.get_product("MUG-1")
        assert len(product_reads) == before  # served by the tier again
        fresh.close()
    finally:
        back.stop()


def test_a_server_that_never_answers_is_a_miss_not_a_hang(stack, monkeypatch):
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        monkeypatch.setenv("CACHE_URL", f"redis://127.0.0.1:{silent.getsockname()[1]}")
        container.reset()
        add_product("MUG-1")
        answers: list[Product] = []
        reader = threading.Thread(
            target=lambda: answers.append(catalog.get_product("MUG-1")), daemon=True
        )
        reader.start()
        reader.join(timeout=30)
        assert not reader.is_alive(), "the read waited on the silent server"
        assert [product.sku for product in answers] == ["MUG-1"]
    container.reset()
