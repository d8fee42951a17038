"""Each function checks its settings at init: a missing or invalid variable fails the
container's start with the variable's name, not a request halfway through."""

import importlib

import pytest

from devtools.handlers import import_handler_module
from devtools.template import function_properties, resources
from stockroom import container
from stockroom.settings import ConfigurationError, Settings

FUNCTIONS = resources("AWS::Serverless::Function")
# The settings without a default: the names of tables, queues and buckets.
NAMES = {name for name, field in Settings.model_fields.items() if field.annotation == str | None}


def named_in_template(function: str) -> set[str]:
    variables = function_properties(function).get("Environment", {}).get("Variables", {})
    return {variable.lower() for variable in variables} & NAMES


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_checks_at_init_every_name_its_template_gives_it(function, monkeypatch):
    module = import_handler_module(function)
    asked: list[set[str]] = []
    prepare = container.prepare

    def recording(*clients, settings=()):
        asked.append(set(settings))
        prepare(*clients, settings=settings)

    monkeypatch.setattr(container, "prepare", recording)
    importlib.reload(module)
    assert asked == [named_in_template(function)]
    assert asked[0], "every function names at least one resource"


def test_a_missing_variable_fails_the_init_naming_each_one(monkeypatch):
    monkeypatch.delenv("ORDERS_TABLE_NAME")
    monkeypatch.delenv("ORDER_QUEUE_URL")
    container.reset()
    with pytest.raises(ConfigurationError, match="ORDERS_TABLE_NAME, ORDER_QUEUE_URL"):
        container.prepare(settings=["products_table_name", "orders_table_name", "order_queue_url"])
    container.prepare(settings=["products_table_name"])  # what is there is enough for this


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PRODUCT_CACHE_TTL_SECONDS", "-1"),
        ("IMPORT_CHUNK_ROWS", "many"),
        ("STUCK_ORDER_SECONDS", "0"),
    ],
)
def test_an_invalid_value_fails_the_init_naming_its_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    container.reset()
    with pytest.raises(ConfigurationError, match=variable):
        container.prepare()
    monkeypatch.delenv(variable)
    container.reset()
    container.prepare()


def test_reset_forgets_what_a_container_made_once(monkeypatch):
    from stockroom import aws
    from stockroom.settings import get_settings

    first_client, first_settings = aws.dynamodb(), get_settings()
    assert aws.dynamodb() is first_client
    container.reset()
    assert aws.dynamodb() is not first_client
    assert get_settings() is not first_settings
