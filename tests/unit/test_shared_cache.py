"""The shared cache tier against fakeredis's in-process server: hits, misses, TTLs,
unreadable values, the circuit breaker and key escaping; and what the catalog and the
recommendations put in it. The real server's behaviour (expiry, a server killed and
back) is tests/integration/test_shared_cache_server.py's."""

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
import redis

import recommendations_api
import stock_flags_stream
from devtools.template import ROOT
from stockroom import catalog, container, shared_cache
from stockroom.cache import ReadThroughCache, TtlCache
from stockroom.dal import recommendations as recommendations_table
from stockroom.models import Product
from stockroom.settings import get_settings
from stockroom.shared_cache import PRODUCTS, RELATED, SharedCache, SharedTier
from support.catalog_data import add_product
from support.events import http_event, parse_response
from support.streams import stream_records

ERRORS = (redis.RedisError, OSError)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def product(sku: str, available: int = 5) -> Product:
    return Product(
        sku=sku,
        name=f"Product {sku}",
        unit_price_cents=1299,
        currency="EUR",
        on_hand=available,
        available=available,
        updated_at="2026-12-01T00:00:00.000000Z",
    )


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def raw(server) -> fakeredis.FakeRedis:
    """A client of the same server, for what the tier does not say itself."""
    return fakeredis.FakeRedis(server=server)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(server, clock) -> SharedCache:
    return SharedCache(fakeredis.FakeRedis(server=server), ERRORS, retry_seconds=5, clock=clock)


@pytest.fixture
def products(cache) -> SharedTier[Product]:
    return SharedTier(cache, PRODUCTS, ttl_seconds=60)


def test_what_one_container_puts_another_finds_and_a_missing_key_is_a_miss(server, products):
    products.put_many({"MUG-1": product("MUG-1")})
    other = SharedTier(SharedCache(fakeredis.FakeRedis(server=server), ERRORS, 5), PRODUCTS, 60)
    assert other.get_many(["MUG-1", "GHOST"]) == {"MUG-1": product("MUG-1")}


def test_an_entry_is_kept_for_the_shared_ttl(products, raw):
    products.put_many({"MUG-1": product("MUG-1")})
    assert 55_000 < raw.pttl(PRODUCTS.key("MUG-1")) <= 60_000


def test_a_fill_never_replaces_what_the_tier_holds_but_a_write_through_does(cache, products, raw):
    products.put_many({"MUG-1": product("MUG-1", available=5)})
    products.put_many({"MUG-1": product("MUG-1", available=4)})  # a read older than it
    assert products.get_many(["MUG-1"])["MUG-1"].available == 5
    raw.expire(PRODUCTS.key("MUG-1"), 3)
    written = cache.replace(
        {PRODUCTS.key("MUG-1"): PRODUCTS.encode(product("MUG-1", available=3))},
        60,
        gone=[PRODUCTS.key("LAMP-1")],
    )
    assert written
    assert products.get_many(["MUG-1"])["MUG-1"].available == 3
    assert raw.ttl(PRODUCTS.key("MUG-1")) > 3  # its TTL starts again


@pytest.mark.parametrize(
    "stored",
    [
        b"not json",
        b'{"sku": "MUG-1"}',  # a product of another shape
        json.dumps([["MUG-2", 1.0]]).encode(),  # a value of another namespace
    ],
)
def test_a_corrupt_or_foreign_value_is_a_miss_and_is_deleted(products, raw, stored):
    raw.set(PRODUCTS.key("MUG-1"), stored)
    assert products.get_many(["MUG-1"]) == {}
    assert raw.exists(PRODUCTS.key("MUG-1")) == 0
    products.put_many({"MUG-1": product("MUG-1")})  # so the next fill stores the product
    assert products.get_many(["MUG-1"]) == {"MUG-1": product("MUG-1")}


def test_a_key_holding_another_type_is_a_miss_among_hits(products, raw):
    products.put_many({"MUG-1": product("MUG-1")})
    raw.rpush(PRODUCTS.key("LAMP-1"), "a list")  # GET answers WRONGTYPE for this key alone
    assert products.get_many(["LAMP-1", "MUG-1"]) == {"MUG-1": product("MUG-1")}
    assert raw.exists(PRODUCTS.key("LAMP-1")) == 0


def test_the_breaker_opens_on_a_failure_and_closes_after_its_pause(server, products, clock):
    products.put_many({"MUG-1": product("MUG-1")})
    server.connected = False
    assert products.get_many(["MUG-1"]) == {}  # the failure: a miss, not an error
    server.connected = True
    assert products.get_many(["MUG-1"]) == {}  # passed over: no call, though it answers
    products.put_many({"LAMP-1": product("LAMP-1")})  # dropped
    clock.now += 5
    assert products.get_many(["MUG-1", "LAMP-1"]) == {"MUG-1": product("MUG-1")}


def test_a_failed_try_after_the_pause_opens_the_breaker_again(server, products, clock):
    products.put_many({"MUG-1": product("MUG-1")})
    server.connected = False
    products.get_many(["MUG-1"])
    clock.now += 5
    assert products.get_many(["MUG-1"]) == {}  # the try fails
    server.connected = True
    clock.now += 4.9
    assert products.get_many(["MUG-1"]) == {}
    clock.now += 0.1
    assert products.get_many(["MUG-1"]) == {"MUG-1": product("MUG-1")}


@pytest.mark.parametrize(
    ("sku", "key"),
    [
        ("MUG-1", "stockroom:product:v1:MUG-1"),
        ("a:b", "stockroom:product:v1:a%3Ab"),
        ("x:v1:../related", "stockroom:product:v1:x%3Av1%3A..%2Frelated"),
        ("{tag} *?\r\n%", "stockroom:product:v1:%7Btag%7D%20%2A%3F%0D%0A%25"),
        ("é", "stockroom:product:v1:%C3%A9"),
    ],
)
def test_keys_escape_whatever_a_client_sent(sku, key):
    assert PRODUCTS.key(sku) == key


def test_escaped_keys_stay_in_their_namespace_and_never_collide():
    skus = ["a", "a:", "a%3A", ":a", "a b", "a+b", "a/b", "A"]
    keys = [PRODUCTS.key(sku) for sku in skus]
    assert len(set(keys)) == len(skus)
    assert all(re.fullmatch(r"stockroom:product:v1:[A-Za-z0-9%._~-]+", key) for key in keys)


# A model's stored shape, by the version its namespace carries: a change of the model
# fails here until its namespace's version is raised (and this line updated).
SCHEMAS = {
    "product": (1, "66476747"),
    "related": (1, "231473a9"),
    "popular": (1, "231473a9"),
}


@pytest.mark.parametrize("namespace", [shared_cache.PRODUCTS, RELATED, shared_cache.POPULAR])
def test_each_namespace_carries_the_version_of_its_models_shape(namespace):
    schema = json.dumps(namespace.model.json_schema(), sort_keys=True)
    digest = hashlib.sha256(schema.encode()).hexdigest()[:8]
    assert (namespace.version, digest) == SCHEMAS[namespace.name]


def test_the_layer_pins_the_client_the_tests_use():
    def pin(path: str) -> str:
        (line,) = [ln for ln in (ROOT / path).read_text().splitlines() if ln.startswith("redis==")]
        return line

    assert pin("layers/common/requirements.txt") == pin("requirements-dev.in")
    assert pin("requirements-dev.in") == f"redis=={redis.__version__}"


@pytest.mark.parametrize(
    ("url", "tls"), [("redis://cache.local:6379", False), ("rediss://cache.local:6379", True)]
)
def test_the_client_bounds_every_wait_retries_nothing_and_uses_tls_for_rediss(url, tls):
    client, errors = shared_cache._connect(url, 0.05)
    pool = client.connection_pool
    assert (pool.connection_class is redis.SSLConnection) is tls
    assert pool.connection_kwargs["socket_connect_timeout"] == 0.05
    assert pool.connection_kwargs["socket_timeout"] == 0.05
    assert pool.connection_kwargs["retry"].get_retries() == 0
    assert pool.connection_kwargs["driver_info"] is None
    assert len(pool._available_connections) == 0  # nothing opened yet
    assert issubclass(redis.ConnectionError, errors) and issubclass(redis.TimeoutError, errors)


# ------------------------------------------------------------ through the catalog
@pytest.fixture
def tier(stack, monkeypatch, server) -> Iterator[fakeredis.FakeServer]:
    """The functions' shared tier on fakeredis's server (CACHE_URL set)."""
    monkeypatch.setenv("CACHE_URL", "redis://cache.local:6379")
    monkeypatch.setattr(
        shared_cache, "_connect", lambda url, timeout: (fakeredis.FakeRedis(server=server), ERRORS)
    )
    container.reset()
    yield server
    container.reset()


def test_without_cache_url_there_is_no_shared_tier(stack):
    assert shared_cache.client() is None
    assert shared_cache.tiers(PRODUCTS) == []
    assert shared_cache.write_through(PRODUCTS, {"MUG-1": product("MUG-1")}, []) is False


def test_a_product_one_container_read_is_served_to_the_next_from_the_tier(tier, product_reads):
    add_product("MUG-1")
    add_product("LAMP-1")
    catalog.find_products(["MUG-1"])
    container.reset()  # another container: its own tier empty, the shared one not
    found = catalog.find_products(["MUG-1", "LAMP-1", "GHOST"])
    assert set(found) == {"MUG-1", "LAMP-1"}
    assert product_reads == ["MUG-1", "LAMP-1", "GHOST"]
    container.reset()
    catalog.find_products(["LAMP-1", "MUG-1"])
    assert product_reads == ["MUG-1", "LAMP-1", "GHOST"]  # none more


def test_the_read_through_fills_the_tiers_above_the_one_that_had_it(server, cache):
    loads: list[list[str]] = []
    products = SharedTier(cache, PRODUCTS, 60)
    products.put_many({"MUG-1": product("MUG-1")})
    own: TtlCache[Product] = TtlCache(5)
    reads = ReadThroughCache[Product]([own, products])

    def loader(skus: list[str]) -> dict[str, Product]:
        loads.append(skus)
        return {sku: product(sku) for sku in skus if sku != "GHOST"}

    assert set(reads.get_many(["MUG-1", "LAMP-1", "GHOST"], loader)) == {"MUG-1", "LAMP-1"}
    assert loads == [["LAMP-1", "GHOST"]]
    assert set(own.get_many(["MUG-1", "LAMP-1", "GHOST"])) == {"MUG-1", "LAMP-1"}
    assert set(products.get_many(["LAMP-1", "GHOST"])) == {"LAMP-1"}


def test_recommendations_share_public_rows_and_never_a_customers_answer(tier, lambda_context):
    for sku in ("SKU-A", "SKU-B", "SKU-C"):
        add_product(sku, on_hand=3)
    recommendations_table.put_related({"SKU-A": [("SKU-B", 1.0)]}, popular=[("SKU-C", 5.0)])

    def call(method: str, route: str, customer: str | None, **kwargs: Any) -> Any:
        event = http_event(method, route, sub=customer, **kwargs)
        result = parse_response(recommendations_api.handler(event, lambda_context))
        assert result.status < 300, result.body
        return result.body

    call("POST", "/me/views", "alice-7f3", body={"skus": ["SKU-A"]})
    for _ in range(2):  # the second answers come through the tiers
        alice = call("GET", "/recommendations", "alice-7f3")
        bob = call("GET", "/recommendations", "bob-91c")
        assert [(i["sku"], i.get("because")) for i in alice["items"]] == [
            ("SKU-B", "SKU-A"),
            ("SKU-C", None),
        ]
        assert [(i["sku"], i.get("because")) for i in bob["items"]] == [("SKU-C", None)]
        container.reset()  # the next container: its own tier empty
    call("GET", "/products/{sku}/related", None, path_parameters={"sku": "SKU-A"})

    keys = {str(key) for key in fakeredis.FakeRedis(server=tier, decode_responses=True).keys("*")}
    assert keys >= {
        PRODUCTS.key("SKU-A"),
        RELATED.key("SKU-A"),
        shared_cache.POPULAR.key("top"),
    }
    assert all(re.match(r"stockroom:(product|related|popular):v1:[^:]+$", key) for key in keys)
    assert not any("alice" in key or "bob" in key for key in keys)


# ------------------------------------------------ written through from the stream
def test_the_products_stream_writes_each_product_through_and_deletes_the_rest(
    tier, lambda_context, product_reads
):
    raw = fakeredis.FakeRedis(server=tier)
    add_product("MUG-1", on_hand=3)
    add_product("LAMP-1", on_hand=0)
    raw.set(PRODUCTS.key("GONE-1"), PRODUCTS.encode(product("GONE-1")))
    records = stream_records(get_settings().require("products_table_name"))
    removed = {**records[0], "eventName": "REMOVE"}
    removed["dynamodb"] = {"Keys": {"sku": {"S": "GONE-1"}}, "OldImage": {}}
    broken = {**records[0]}
    broken["dynamodb"] = {**records[0]["dynamodb"], "Keys": {"sku": {"S": "ODD-1"}}}
    broken["dynamodb"]["NewImage"] = {"sku": {"S": "ODD-1"}}  # not a product
    raw.set(PRODUCTS.key("ODD-1"), PRODUCTS.encode(product("ODD-1")))

    result = stock_flags_stream.handler({"Records": [*records, removed, broken]}, lambda_context)

    assert result == {"flagged": 1, "cleared": 0, "written": 4}
    assert raw.exists(PRODUCTS.key("GONE-1"), PRODUCTS.key("ODD-1")) == 0
    assert 55 < raw.ttl(PRODUCTS.key("MUG-1")) <= 60
    found = catalog.find_products(["MUG-1", "LAMP-1"])
    assert (found["MUG-1"].available, found["LAMP-1"].available) == (3, 0)
    assert product_reads == []  # both from the tier


def test_without_the_tier_the_stream_writes_nothing_through(stack, lambda_context):
    add_product("MUG-1")
    records = stream_records(get_settings().require("products_table_name"))
    assert stock_flags_stream.handler({"Records": records}, lambda_context)["written"] == 0
