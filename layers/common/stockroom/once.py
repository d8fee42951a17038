"""What a container makes once, and what a new container starts without.

`per_container` is `functools.cache` that also keeps a list of what it cached: clients,
settings, caches, Powertools configurations. `forget()` clears them all at once, so a
test (or a benchmark) starts from a fresh container without naming any of them.
"""

from collections.abc import Callable
from functools import _lru_cache_wrapper, cache

_forgetters: list[Callable[[], None]] = []


def per_container[T](make: Callable[[], T]) -> "_lru_cache_wrapper[T]":
    """`make()` called once, its result kept until `forget()`."""
    cached = cache(make)
    _forgetters.append(cached.cache_clear)
    return cached


def forget() -> None:
    for clear in _forgetters:
        clear()
