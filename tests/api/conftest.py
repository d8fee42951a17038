"""Every API test runs twice: against the deployed handlers (Powertools) and against
the FastAPI + Mangum variant the benchmarks compare them with (bench/fastapi), so the
comparison is between two services that answer the same requests the same way."""

import asyncio
from collections.abc import Iterator

import pytest

# Mangum serves each request on the thread's current event loop, making one if there is
# none. One loop for the session, closed at its end: a loop left to the garbage collector
# warns of its unclosed sockets in whichever test happens to collect it.
_LOOP = asyncio.new_event_loop()
asyncio.set_event_loop(_LOOP)

import bench.fastapi.catalog  # noqa: E402  (after the loop exists)
import bench.fastapi.orders  # noqa: E402
import catalog_api  # noqa: E402
import orders_api  # noqa: E402

# Where the FastAPI variant answers differently, and why that is left so.
FASTAPI_DIFFERENCES = {
    "test_invalid_body_is_422_naming_the_field_and_stores_nothing[body12-items]": (
        "a JSON array body: FastAPI's 422 names `body` (not an object), Powertools' `items`"
    ),
}


@pytest.fixture(scope="session", autouse=True)
def _event_loop_closed_at_the_end() -> Iterator[None]:
    yield
    asyncio.set_event_loop(None)
    _LOOP.close()


@pytest.fixture(autouse=True, params=["powertools", "fastapi"])
def api_variant(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "fastapi":
        if not getattr(request.module, "FASTAPI_VARIANT", True):
            pytest.skip("this function has no FastAPI variant")
        reason = FASTAPI_DIFFERENCES.get(request.node.name.replace("[fastapi-", "["))
        if reason:
            pytest.skip(reason)
        monkeypatch.setattr(catalog_api, "handler", bench.fastapi.catalog.handler)
        monkeypatch.setattr(orders_api, "handler", bench.fastapi.orders.handler)
    yield request.param
