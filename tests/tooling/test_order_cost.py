"""What an order's index writes cost (bench/cost.py), from the template itself."""

import pytest

from bench import cost


def test_every_index_of_the_orders_table_is_priced(monkeypatch):
    assert cost.index_write_units() == 4.0  # ByCustomer and Pending, each written twice
    monkeypatch.setitem(cost.ORDER_INDEX_WRITE_UNITS, "Unpriced", 1.0)
    with pytest.raises(ValueError, match="Unpriced"):
        cost.index_write_units()
