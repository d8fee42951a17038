"""The shared cache tier (L2): a Redis-protocol server that every container of every
function reads and writes (ElastiCache Serverless for Valkey when the stack is deployed
with it, a local server under `make run`), below each container's own tier
(stockroom/cache.py). Without CACHE_URL there is no shared tier and nothing here runs.

Cache trouble is a miss, never an error and never a long wait:
- the client (redis-py) is imported and made at init by `container.prepare("cache")`, and
  only when CACHE_URL is set; its connection opens on first use, never at init, so a
  SnapStart snapshot holds none; one pool per container, reused across invocations;
  TLS for a `rediss://` URL;
- every connect and read waits at most SHARED_CACHE_TIMEOUT_SECONDS (50 ms), with no
  retry; a call that fails passes the tier over for SHARED_CACHE_RETRY_SECONDS (5 s):
  reads go to the table, writes are dropped; the first call after that tries the server
  again (a circuit breaker);
- a value that does not validate as its namespace's model (corrupt, foreign, of another
  shape) is a miss, and is deleted so that the next read's fill replaces it.

Keys are `stockroom:<namespace>:v<version>:<key percent-encoded>`: nothing a client sent
(a SKU) reaches outside its namespace, and a namespace's version changes with its
model's shape, so two deployments' containers never read each other's values. Every
command names one key (several go in one pipeline): a cluster-mode server, as ElastiCache
Serverless is, refuses commands across hash slots.

Only public data goes here, the same for every caller: the namespaces below are all the
tier holds. A customer's history, and their /recommendations answer built from it, never
go in.
"""

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic import TypeAdapter, ValidationError

from stockroom.models import Product, Ranked
from stockroom.observability import count, logger
from stockroom.once import per_container
from stockroom.settings import get_settings

if TYPE_CHECKING:
    from redis import Redis

PREFIX = "stockroom"


@dataclass(frozen=True)
class Namespace[V]:
    """One kind of value in the tier: its name, the version of its stored shape (raise it
    with any change of the model that older code could not read) and its model."""

    name: str
    version: int
    model: TypeAdapter[V]

    def key(self, key: str) -> str:
        return f"{PREFIX}:{self.name}:v{self.version}:{quote(key, safe='')}"

    def encode(self, value: V) -> bytes:
        return self.model.dump_json(value)

    def decode(self, raw: bytes) -> V:
        """The value stored as `raw`; ValidationError when it is not one."""
        return self.model.validate_json(raw)


# Everything the tier holds. tests/unit/test_shared_cache.py pins each model's schema to
# its version, so a model changed without a new version fails a test.
PRODUCTS: Namespace[Product] = Namespace("product", 1, TypeAdapter(Product))
# The trainer's row of a SKU: the SKUs bought (and viewed) with it.
RELATED: Namespace[Ranked] = Namespace("related", 1, TypeAdapter[Ranked](Ranked))
# The best sellers, under one key.
POPULAR: Namespace[Ranked] = Namespace("popular", 1, TypeAdapter[Ranked](Ranked))


class SharedCache:
    """The tier's server behind a circuit breaker: after a failed call, no call for
    `retry_seconds`, then one try; a call passed over or failed answers None."""

    def __init__(
        self,
        client: "Redis",
        errors: tuple[type[Exception], ...],
        retry_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._errors = errors
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._passed_over_until: float | None = None  # None: the breaker is closed

    def get(self, keys: list[str]) -> list[object] | None:
        """What the server holds under each key: bytes, None for no value, or the error
        the server answered for that key alone (a key of another type)."""

        def send(pipe: Any) -> None:
            for key in keys:
                pipe.get(key)

        return self._pipeline("get", send)

    def set(self, values: Mapping[str, bytes], ttl_seconds: int, *, only_new: bool) -> None:
        """Each value stored for `ttl_seconds`; `only_new`: only where the key holds none."""

        def send(pipe: Any) -> None:
            for key, value in values.items():
                pipe.set(key, value, ex=ttl_seconds, nx=only_new)

        if values:
            self._pipeline("set", send)

    def replace(self, values: Mapping[str, bytes], ttl_seconds: int, gone: list[str]) -> bool:
        """Each value stored over what its key holds, and the `gone` keys deleted, in one
        round trip; False when the tier was passed over or failed."""

        def send(pipe: Any) -> None:
            for key, value in values.items():
                pipe.set(key, value, ex=ttl_seconds)
            for key in gone:
                pipe.delete(key)

        if not values and not gone:
            return True
        return self._pipeline("replace", send) is not None

    def delete(self, keys: list[str]) -> None:
        def send(pipe: Any) -> None:
            for key in keys:
                pipe.delete(key)

        if keys:
            self._pipeline("delete", send)

    def _pipeline(self, operation: str, send: Callable[[Any], None]) -> list[object] | None:
        if not self._may_call():
            return None
        try:
            pipe = self._client.pipeline(transaction=False)
            send(pipe)
            answers: list[object] = pipe.execute(raise_on_error=False)
        except self._errors as error:
            self._failed(operation, error)
            return None
        self._succeeded()
        return answers

    def _may_call(self) -> bool:
        with self._lock:
            until = self._passed_over_until
            return until is None or self._clock() >= until

    def _failed(self, operation: str, error: Exception) -> None:
        with self._lock:
            self._passed_over_until = self._clock() + self._retry_seconds
        count("SharedCacheErrors")
        logger.warning(
            "shared cache tier failed; passed over for a while",
            operation=operation,
            error=repr(error),
            seconds=self._retry_seconds,
        )

    def _succeeded(self) -> None:
        with self._lock:
            was_open = self._passed_over_until is not None
            self._passed_over_until = None
        if was_open:
            logger.info("shared cache tier answers again")


class SharedTier[V]:
    """A namespace of the shared cache as a tier of a ReadThroughCache. A fill only adds
    (SET NX): what the tier holds is replaced by a writer that knows it has the latest
    value (the products table's stream, `write_through`) or by its TTL, never by a read
    that may be older than it."""

    def __init__(self, cache: SharedCache, namespace: Namespace[V], ttl_seconds: int) -> None:
        self._cache = cache
        self._namespace = namespace
        self._ttl = ttl_seconds

    def get_many(self, keys: list[str]) -> dict[str, V]:
        answers = self._cache.get([self._namespace.key(key) for key in keys])
        if answers is None:
            return {}
        found: dict[str, V] = {}
        unreadable = []
        for key, raw in zip(keys, answers, strict=True):
            value = self._decoded(raw)
            if value is not None:
                found[key] = value
            elif raw is not None:
                unreadable.append(self._namespace.key(key))
        if unreadable:
            logger.warning("unreadable values in the shared cache tier; deleted", keys=unreadable)
            self._cache.delete(unreadable)
        count("SharedCacheHits", len(found))
        count("SharedCacheMisses", len(keys) - len(found))
        return found

    def _decoded(self, raw: object) -> V | None:
        """The value stored as `raw`; None for no value, one that does not validate, or
        the server's error for the key (it holds a value of another type)."""
        if not isinstance(raw, bytes):
            return None
        try:
            return self._namespace.decode(raw)
        except ValidationError:
            return None

    def put_many(self, values: Mapping[str, V]) -> None:
        encoded = {self._namespace.key(k): self._namespace.encode(v) for k, v in values.items()}
        self._cache.set(encoded, self._ttl, only_new=True)

    def clear(self) -> None:
        """Nothing: one container does not empty what every container shares."""


def _connect(url: str, timeout_seconds: float) -> tuple["Redis", tuple[type[Exception], ...]]:
    """A client of the server at `url` (TLS for rediss://) and the errors its calls raise;
    nothing is sent yet."""
    import redis  # here only: a container without the tier never loads it
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    pool = redis.ConnectionPool.from_url(
        url,
        socket_connect_timeout=timeout_seconds,
        socket_timeout=timeout_seconds,
        retry=Retry(NoBackoff(), 0),  # the breaker decides when to try again
        driver_info=None,  # no CLIENT SETINFO: two round trips fewer per connection
    )
    return redis.Redis(connection_pool=pool), (redis.RedisError, OSError)


@per_container
def client() -> SharedCache | None:
    """This container's shared cache, or None without CACHE_URL."""
    settings = get_settings()
    if not settings.cache_url:
        return None
    redis_client, errors = _connect(settings.cache_url, settings.shared_cache_timeout_seconds)
    return SharedCache(redis_client, errors, settings.shared_cache_retry_seconds)


def tiers[V](namespace: Namespace[V]) -> list[SharedTier[V]]:
    """The shared tier of `namespace`, to put below a container's own: none without
    CACHE_URL."""
    cache = client()
    if cache is None:
        return []
    return [SharedTier(cache, namespace, get_settings().shared_cache_ttl_seconds)]


def write_through[V](namespace: Namespace[V], values: Mapping[str, V], gone: Iterable[str]) -> bool:
    """The latest `values` stored over what the tier holds (their TTL starting again) and
    the `gone` keys deleted, by a writer that knows they are the latest. False without the
    tier, or when it was passed over or failed: its entries then age out within
    SHARED_CACHE_TTL_SECONDS."""
    cache = client()
    if cache is None:
        return False
    encoded = {namespace.key(key): namespace.encode(value) for key, value in values.items()}
    removed = [namespace.key(key) for key in gone]
    return cache.replace(encoded, get_settings().shared_cache_ttl_seconds, removed)
