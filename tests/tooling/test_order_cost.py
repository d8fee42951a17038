"""What an order's index writes and a sale day's warm throughput cost (bench/cost.py),
from the template itself, and the template's words agreeing with the model."""

import pytest

from bench import cost
from devtools.template import load_template


def test_every_index_of_the_orders_table_is_priced(monkeypatch):
    assert cost.index_write_units() == 4.0  # ByCustomer and Pending, each written twice
    monkeypatch.setitem(cost.ORDER_INDEX_WRITE_UNITS, "Unpriced", 1.0)
    with pytest.raises(ValueError, match="Unpriced"):
        cost.index_write_units()


def test_a_sale_day_raises_the_order_paths_warm_throughput_and_the_template_says_its_price():
    sale = cost.sale_day()

    assert sale["units_raised"]["OrdersTable"] == {
        "WriteUnitsPerSecond": 11_000,
        "ReadUnitsPerSecond": 3_000,
    }
    assert set(sale["units_raised"]) == {
        "OrdersTable",
        "OrdersTable/ByCustomer",
        "OrdersTable/Pending",
        "IdempotencyTable",
    }
    description = load_template()["Parameters"]["SaleDay"]["Description"]
    assert f"about ${round(sale['usd_once_assumed_price'])} at the" in description
