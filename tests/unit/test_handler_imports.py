"""Each function imports only what it uses, and prepares at init what its first event
needs (checked in a fresh interpreter)."""

from typing import Any

import pytest

from devtools.cold_import import loaded_modules, probe
from devtools.template import handler_location, resources

FUNCTIONS = resources("AWS::Serverless::Function")


def _loads(modules: frozenset[str], package: str) -> bool:
    return any(name == package or name.startswith(package + ".") for name in modules)


@pytest.fixture(scope="module")
def catalog_modules() -> frozenset[str]:
    return loaded_modules("CatalogFunction")


@pytest.mark.parametrize(
    "package",
    [
        "aws_lambda_powertools.utilities.idempotency",
        "aws_lambda_powertools.utilities.batch",
        "orders",
        "order_relay",
        "stockroom.dal.orders",
        "mypy_boto3_dynamodb",
        "moto",
        "yaml",
    ],
)
def test_catalog_does_not_import_what_it_does_not_use(catalog_modules, package):
    assert not _loads(catalog_modules, package)


def test_relay_imports_neither_the_http_resolver_nor_idempotency():
    modules = loaded_modules("OrderRelayFunction")
    assert not _loads(modules, "aws_lambda_powertools.utilities.idempotency")
    assert not _loads(modules, "stockroom.http")
    assert not _loads(modules, "stockroom.dal.products")


def test_orders_api_does_not_import_the_stock_flags_functions_code():
    modules = loaded_modules("OrdersFunction")
    assert _loads(modules, "stockroom.dal.stock_flags")
    assert not _loads(modules, "stock_flags")


def test_stock_flags_imports_neither_the_http_resolver_nor_idempotency_nor_the_cache():
    modules = loaded_modules("StockFlagsFunction")
    assert _loads(modules, "stock_flags")
    assert not _loads(modules, "aws_lambda_powertools.utilities.idempotency")
    assert not _loads(modules, "aws_lambda_powertools.event_handler")
    assert not _loads(modules, "stockroom.http")
    assert not _loads(modules, "stockroom.cache")
    assert not _loads(modules, "stockroom.dal.products")


def test_worker_imports_neither_the_http_resolver_nor_idempotency_nor_the_cache():
    modules = loaded_modules("OrderWorkerFunction")
    assert _loads(modules, "order_worker")
    assert not _loads(modules, "aws_lambda_powertools.utilities.idempotency")
    assert not _loads(modules, "aws_lambda_powertools.event_handler")
    assert not _loads(modules, "stockroom.http")
    assert not _loads(modules, "stockroom.cache")


def test_importer_imports_neither_the_http_resolver_nor_order_logic():
    modules = loaded_modules("CatalogImportFunction")
    assert _loads(modules, "catalog_import")
    assert not _loads(modules, "aws_lambda_powertools.event_handler")
    assert not _loads(modules, "stockroom.http")
    assert not _loads(modules, "orders")
    assert not _loads(modules, "stockroom.cache")


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_function_loads_the_xray_sdk(function):
    assert not _loads(loaded_modules(function), "aws_xray_sdk")


# numpy is the trainer's, from a layer only it has.
@pytest.mark.parametrize("function", sorted(set(FUNCTIONS) - {"RecommendationTrainerFunction"}))
def test_only_the_trainer_loads_numpy(function):
    assert not _loads(loaded_modules(function), "numpy")


def test_the_trainer_loads_numpy_and_the_api_loads_no_training():
    assert _loads(loaded_modules("RecommendationTrainerFunction"), "numpy")
    assert not _loads(loaded_modules("RecommendationsFunction"), "training")


# Powertools' idempotency (orders, importer) and streaming (importer) import boto3.
@pytest.mark.parametrize(
    "function", sorted(set(FUNCTIONS) - {"OrdersFunction", "CatalogImportFunction"})
)
def test_functions_that_need_no_boto3_feature_do_not_import_it(function):
    assert not _loads(loaded_modules(function), "boto3")


# The functions with the shared cache tier: they make its client at init where CACHE_URL
# is set (redis imported, nothing sent: a closed port is never reached), and only then.
SHARED_CACHE_USERS = {
    "CatalogFunction",
    "OrdersFunction",
    "RecommendationsFunction",
    "StockFlagsFunction",
}
_CLIENT_MADE = (
    "from stockroom import shared_cache\n"
    "result = shared_cache.client.cache_info().currsize and type(shared_cache.client()).__name__"
)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_without_cache_url_no_function_loads_redis(function):
    assert not _loads(loaded_modules(function), "redis")


@pytest.mark.parametrize("function", [*sorted(SHARED_CACHE_USERS), "OrderWorkerFunction"])
def test_with_cache_url_only_the_tiers_users_load_redis_and_make_its_client_at_init(function):
    location = handler_location(function)
    found = probe(
        f"import {location.module}\n{_CLIENT_MADE}",
        location.folder,
        {"CACHE_URL": "redis://127.0.0.1:1"},  # nothing listens there
    )
    modules = found["modules"]
    assert isinstance(modules, list)
    uses_the_tier = function in SHARED_CACHE_USERS
    assert _loads(frozenset(modules), "redis") is uses_the_tier
    assert found["result"] == ("SharedCache" if uses_the_tier else 0)


# What each function's first event calls; created at import, where Lambda's init pays.
CLIENTS_AT_INIT = {
    "CatalogFunction": {"dynamodb"},
    "OrdersFunction": {"dynamodb"},
    "OrderRelayFunction": {"sqs"},
    "StockFlagsFunction": {"dynamodb"},
    "OrderWorkerFunction": {"dynamodb"},
    "OrderReconcilerFunction": {"dynamodb", "sqs"},
    "CatalogImportFunction": {"dynamodb", "s3"},
    "RecommendationsFunction": {"dynamodb"},
    "RecommendationFeedFunction": {"dynamodb"},
    "RecommendationTrainerFunction": {"dynamodb", "s3"},
    "HoldExpiryFunction": {"dynamodb"},
    "PaymentWebhookFunction": {"dynamodb", "secretsmanager"},
}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_creates_its_clients_at_import(function):
    location = handler_location(function)
    statement = (
        f"import {location.module}\n"
        "from stockroom import aws, settings\n"
        "made = [n for n in ('dynamodb', 'sqs', 's3', 'secretsmanager')"
        " if getattr(aws, n).cache_info().currsize]\n"
        "result = {'clients': made, 'settings': settings.get_settings.cache_info().currsize}"
    )
    prepared: Any = probe(statement, location.folder)["result"]
    assert set(prepared["clients"]) == CLIENTS_AT_INIT[function]
    assert prepared["settings"] == 1


def test_the_feed_loads_neither_the_catalog_nor_the_shared_cache_it_never_reads():
    modules = loaded_modules("RecommendationFeedFunction")
    assert _loads(modules, "stockroom.recommendations")
    assert not _loads(modules, "stockroom.catalog")
    assert not _loads(modules, "stockroom.shared_cache")
