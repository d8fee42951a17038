"""Every API test runs twice: against the deployed handlers (Powertools) and against
the FastAPI + Mangum variant the benchmarks compare them with (bench/fastapi), so the
comparison is between two services that answer the same requests the same way."""

from collections.abc import Iterator

import pytest

import bench.fastapi.catalog
import bench.fastapi.orders
import catalog_api
import orders_api

# Where the FastAPI variant answers differently, and why that is left so.
FASTAPI_DIFFERENCES = {
    "test_invalid_body_is_422_naming_the_field_and_stores_nothing[body12-items]": (
        "a JSON array body: FastAPI's 422 names `body` (not an object), Powertools' `items`"
    ),
}


@pytest.fixture(autouse=True, params=["powertools", "fastapi"])
def api_variant(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "fastapi":
        reason = FASTAPI_DIFFERENCES.get(request.node.name.replace("[fastapi-", "["))
        if reason:
            pytest.skip(reason)
        monkeypatch.setattr(catalog_api, "handler", bench.fastapi.catalog.handler)
        monkeypatch.setattr(orders_api, "handler", bench.fastapi.orders.handler)
    yield request.param
