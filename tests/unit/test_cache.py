"""The read-through cache and its in-memory TTL tier."""

from stockroom.cache import ReadThroughCache, RefreshedValue, TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingLoader:
    def __init__(self, data: dict[str, str]) -> None:
        self.data = data
        self.calls: list[list[str]] = []

    def __call__(self, keys: list[str]) -> dict[str, str]:
        self.calls.append(keys)
        return {key: self.data[key] for key in keys if key in self.data}


def test_entries_expire_after_their_ttl():
    clock = Clock()
    cache: TtlCache[str] = TtlCache(ttl_seconds=5, clock=clock)
    cache.put("a", "1")
    clock.now += 4.9
    assert cache.get("a") == "1"
    clock.now += 0.1
    assert cache.get("a") is None


def test_zero_ttl_stores_nothing():
    cache: TtlCache[str] = TtlCache(ttl_seconds=0)
    cache.put("a", "1")
    assert cache.get("a") is None


def test_least_recently_used_entry_is_evicted_at_the_bound():
    cache: TtlCache[str] = TtlCache(ttl_seconds=60, max_entries=2)
    cache.put("a", "1")
    cache.put("b", "2")
    cache.get("a")
    cache.put("c", "3")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("1", None, "3")


def test_read_through_loads_only_misses_and_reports_hits_and_misses():
    results: list[tuple[int, int]] = []
    loader = CountingLoader({"a": "1", "b": "2"})
    cache = ReadThroughCache[str]([TtlCache(60)], on_result=lambda h, m: results.append((h, m)))

    assert cache.get_many(["a"], loader) == {"a": "1"}
    assert cache.get_many(["a", "b", "ghost"], loader) == {"a": "1", "b": "2"}

    assert loader.calls == [["a"], ["b", "ghost"]]
    assert results == [(0, 1), (1, 2)]


def test_missing_keys_are_not_cached():
    loader = CountingLoader({})
    cache = ReadThroughCache[str]([TtlCache(60)])
    assert cache.get("new", loader) is None
    loader.data["new"] = "now exists"
    assert cache.get("new", loader) == "now exists"


def test_bypass_reloads_and_refreshes_the_tier():
    loader = CountingLoader({"a": "old"})
    cache = ReadThroughCache[str]([TtlCache(60)])
    cache.get("a", loader)
    loader.data["a"] = "new"

    assert cache.get("a", loader) == "old"
    assert cache.get("a", loader, bypass=True) == "new"
    assert cache.get("a", loader) == "new"
    assert len(loader.calls) == 2


def test_a_hit_in_a_lower_tier_fills_the_tiers_above():
    upper: TtlCache[str] = TtlCache(60)
    lower: TtlCache[str] = TtlCache(60)
    lower.put("a", "shared")
    loader = CountingLoader({})
    cache = ReadThroughCache[str]([upper, lower])

    assert cache.get("a", loader) == "shared"
    assert upper.get("a") == "shared"
    assert loader.calls == []


# ------------------------------------------------------------------ RefreshedValue
class CountingValue:
    def __init__(self, value: frozenset[str] | None) -> None:
        self.value = value
        self.calls = 0
        self.failing = False

    def __call__(self) -> frozenset[str] | None:
        self.calls += 1
        if self.failing:
            raise RuntimeError("unreachable")
        return self.value


def test_a_refreshed_value_is_loaded_once_per_interval_however_often_it_is_asked():
    clock, loader = Clock(), CountingValue(frozenset({"A"}))
    value: RefreshedValue[frozenset[str]] = RefreshedValue(loader, 1.0, frozenset(), clock=clock)
    assert [value.get() for _ in range(50)] == [frozenset({"A"})] * 50
    assert loader.calls == 1
    loader.value = frozenset({"B"})
    clock.now += 0.9
    assert value.get() == frozenset({"A"})
    clock.now += 0.1
    assert value.get() == frozenset({"B"})
    assert loader.calls == 2


def test_a_cold_value_is_loaded_at_its_first_get_not_before():
    loader = CountingValue(frozenset({"A"}))
    value: RefreshedValue[frozenset[str]] = RefreshedValue(loader, 1.0, frozenset(), clock=Clock())
    assert loader.calls == 0
    assert value.get() == frozenset({"A"})


def test_a_value_not_found_or_not_loaded_is_the_fallback_until_a_later_interval():
    clock, loader = Clock(), CountingValue(None)
    failures: list[Exception] = []
    value: RefreshedValue[frozenset[str]] = RefreshedValue(
        loader, 1.0, frozenset(), clock=clock, on_failure=failures.append
    )
    assert value.get() == frozenset()
    loader.value = frozenset({"A"})
    clock.now += 1
    assert value.get() == frozenset({"A"})
    loader.failing = True
    clock.now += 1
    assert value.get() == frozenset()  # a failed load forgets the old value: fail open
    assert value.get() == frozenset()
    assert loader.calls == 3  # the failing load is tried once per interval, not per get
    assert [str(error) for error in failures] == ["unreachable"]


class RecordingTier(TtlCache[str]):
    def __init__(self) -> None:
        super().__init__(60)
        self.asked: list[list[str]] = []

    def get_many(self, keys: list[str]) -> dict[str, str]:
        self.asked.append(keys)
        return super().get_many(keys)


def test_each_tier_is_asked_once_for_what_the_tiers_above_lacked():
    upper, lower = RecordingTier(), RecordingTier()
    upper.put("a", "1")
    lower.put_many({"b": "2", "c": "3"})
    cache = ReadThroughCache[str]([upper, lower])
    loader = CountingLoader({"d": "4"})

    assert cache.get_many(["a", "b", "c", "d", "ghost"], loader) == {
        "a": "1",
        "b": "2",
        "c": "3",
        "d": "4",
    }
    assert upper.asked == [["a", "b", "c", "d", "ghost"]]
    assert lower.asked == [["b", "c", "d", "ghost"]]
    assert loader.calls == [["d", "ghost"]]
    assert upper.get_many(["b", "c", "d"]) == {"b": "2", "c": "3", "d": "4"}  # filled above
