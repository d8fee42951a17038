"""Read-through caching for hot reads (products by SKU).

Callers use `ReadThroughCache.get_many`/`get`; where the values live is a list of tiers
given at construction, asked in turn, each for all the keys the tiers above it lacked:
`TtlCache` in the container's memory (L1), then, where CACHE_URL names one, the shared
tier every container reads (L2, stockroom/shared_cache.py). Misses are not cached, so a
product created a moment ago is found at once.

`RefreshedValue` is the other shape: one value (the sold-out SKUs) reloaded at most once
an interval, whatever the number of requests asking for it.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

type Loader[V] = Callable[[list[str]], Mapping[str, V]]
type ResultHook = Callable[[int, int], None]


class CacheTier[V](Protocol):
    def get_many(self, keys: list[str]) -> dict[str, V]:
        """The values the tier holds among `keys` (one round trip for a remote tier)."""
        ...

    def put_many(self, values: Mapping[str, V]) -> None: ...

    def clear(self) -> None: ...


class TtlCache[V]:
    """An in-memory LRU map whose entries expire `ttl_seconds` after they were stored."""

    def __init__(
        self,
        ttl_seconds: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires_at, value = entry
            if self._clock() >= expires_at:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key: str, value: V) -> None:
        if self._ttl <= 0:
            return
        with self._lock:
            self._entries[key] = (self._clock() + self._ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def get_many(self, keys: list[str]) -> dict[str, V]:
        found = {}
        for key in keys:
            value = self.get(key)
            if value is not None:
                found[key] = value
        return found

    def put_many(self, values: Mapping[str, V]) -> None:
        for key, value in values.items():
            self.put(key, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class ReadThroughCache[V]:
    """Looks keys up tier by tier, loads what no tier has, and fills the tiers above."""

    def __init__(self, tiers: list[CacheTier[V]], on_result: ResultHook | None = None) -> None:
        self._tiers = tiers
        self._on_result = on_result

    def get_many(
        self, keys: Iterable[str], loader: Loader[V], *, bypass: bool = False
    ) -> dict[str, V]:
        """Values for the keys that exist; `bypass` skips the tiers but refreshes them."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, V] = {}
        missing = wanted
        if not bypass:
            for depth, tier in enumerate(self._tiers):
                if not missing:
                    break
                hits = tier.get_many(missing)
                if hits:
                    self._fill(hits, below=depth)
                    found |= hits
                    missing = [key for key in missing if key not in hits]
        if missing:
            loaded = loader(missing)
            self._fill(loaded, below=len(self._tiers))
            found |= loaded
        if self._on_result is not None and not bypass:
            self._on_result(len(wanted) - len(missing), len(missing))
        return found

    def get(self, key: str, loader: Loader[V], *, bypass: bool = False) -> V | None:
        return self.get_many([key], loader, bypass=bypass).get(key)

    def clear(self) -> None:
        for tier in self._tiers:
            tier.clear()

    def _fill(self, values: Mapping[str, V], *, below: int) -> None:
        if values:
            for tier in self._tiers[:below]:
                tier.put_many(values)


class RefreshedValue[V]:
    """One value loaded at most once per `interval_seconds` (at the first `get()` after
    the interval, never in the background), for a container that asks for it on every
    request. Until the first load, and whenever a load fails or finds nothing (None),
    `get()` answers `fallback`: a caller that must fail open says so with it."""

    def __init__(
        self,
        loader: Callable[[], V | None],
        interval_seconds: float,
        fallback: V,
        clock: Callable[[], float] = time.monotonic,
        on_failure: Callable[[Exception], None] | None = None,
    ) -> None:
        self._loader = loader
        self._interval = interval_seconds
        self._fallback = fallback
        self._clock = clock
        self._on_failure = on_failure
        self._value = fallback
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def get(self) -> V:
        with self._lock:
            now = self._clock()
            if self._loaded_at is None or now - self._loaded_at >= self._interval:
                # Stamped before loading: a failing loader is tried once an interval too.
                self._loaded_at = now
                self._value = self._load()
            return self._value

    def _load(self) -> V:
        try:
            value = self._loader()
        except Exception as error:  # fail open until the next interval's load
            if self._on_failure is not None:
                self._on_failure(error)
            return self._fallback
        return self._fallback if value is None else value
