"""Each function imports only what it uses (checked in a fresh interpreter)."""

import pytest

from devtools.cold_import import loaded_modules


def _loads(modules: set[str], package: str) -> bool:
    return any(name == package or name.startswith(package + ".") for name in modules)


@pytest.fixture(scope="module")
def catalog_modules() -> set[str]:
    return loaded_modules("CatalogFunction")


@pytest.mark.parametrize(
    "package",
    [
        "aws_lambda_powertools.utilities.idempotency",
        "aws_lambda_powertools.utilities.batch",
        "stockroom.ordering",
        "stockroom.outbox",
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


def test_worker_imports_neither_the_http_resolver_nor_idempotency_nor_the_cache():
    modules = loaded_modules("OrderWorkerFunction")
    assert _loads(modules, "stockroom.reservation")
    assert not _loads(modules, "aws_lambda_powertools.utilities.idempotency")
    assert not _loads(modules, "aws_lambda_powertools.event_handler")
    assert not _loads(modules, "stockroom.http")
    assert not _loads(modules, "stockroom.cache")


def test_importer_imports_neither_the_http_resolver_nor_order_logic():
    modules = loaded_modules("CatalogImportFunction")
    assert _loads(modules, "stockroom.catalog_import")
    assert not _loads(modules, "aws_lambda_powertools.event_handler")
    assert not _loads(modules, "stockroom.http")
    assert not _loads(modules, "stockroom.ordering")
    assert not _loads(modules, "stockroom.cache")
