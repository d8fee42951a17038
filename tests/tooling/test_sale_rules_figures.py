"""`make load`'s sale-rules checks (bench/sale_rules.py) on orders made up here: each rule
broken once is counted once, and a sale that kept them all counts nothing. What the
scenario measures through a stack is in docs/load.md (a full run only: holds last a
minute)."""

from pathlib import Path
from typing import Any

from bench.load_report import targets
from bench.sale_rules import Payer, chosen, figures


def _order(order_id: str, customer: str, status: str, units: int, updated_at: str) -> Any:
    line = {"M": {"sku": {"S": "HOT"}, "quantity": {"N": str(units)}}}
    return {
        "order_id": {"S": order_id},
        "customer_id": {"S": customer},
        "status": {"S": status},
        "items": {"L": [line]},
        "updated_at": {"S": updated_at},
    }


def _payer(tmp_path: Path, receipts: dict[str, str], holds: dict[str, str]) -> Payer:
    payer = Payer("http://unused", "secret", lambda ids: {}, tmp_path / "orders.jsonl", 0.5)
    payer.receipts = {i: {"status": 200, "outcome": o} for i, o in receipts.items()}
    payer.hold_expires_at = holds
    return payer


def test_a_sale_that_kept_its_rules_counts_nothing_broken(tmp_path):
    items = {
        "a": _order("a", "ann", "PAID", 2, "2026-12-05T10:00:30.000000Z"),
        "b": _order("b", "bob", "EXPIRED", 1, "2026-12-05T10:01:03.500000Z"),
        "c": _order("c", "bob", "REJECTED", 2, "2026-12-05T10:00:01.000000Z"),
    }
    payer = _payer(tmp_path, {"a": "PAID"}, {"a": "x", "b": "2026-12-05T10:01:00.000000Z"})
    found = figures(items, {("ann", "HOT"): 2}, 2, payer)
    assert found == {
        "customers_ordering": 2,
        "customers_over_limit": 0,
        "allowances_not_matching": 0,
        "holds_left_confirmed": 0,
        "payments_sent": 1,
        "payments_by_outcome": {"PAID": 1},
        "paid_orders_not_paid": 0,
        "holds_expired": 1,
        "expiry_lag_p99_s": 3.5,
        "expiry_lag_max_s": 3.5,
    }


def test_each_broken_rule_is_counted(tmp_path):
    items = {
        # ann holds 3 under a limit of 2, her allowance says 2
        "a1": _order("a1", "ann", "PAID", 2, "2026-12-05T10:00:30.000000Z"),
        "a2": _order("a2", "ann", "CONFIRMED", 1, "2026-12-05T10:00:31.000000Z"),
        # bob's payment paid it, yet it expired
        "b": _order("b", "bob", "EXPIRED", 1, "2026-12-05T10:01:00.000000Z"),
    }
    payer = _payer(tmp_path, {"b": "PAID"}, {})
    found = figures(items, {("ann", "HOT"): 2, ("cy", "HOT"): 1}, 2, payer)
    assert found["customers_over_limit"] == 1
    assert found["allowances_not_matching"] == 2  # ann's, and cy's with no order
    assert found["holds_left_confirmed"] == 1
    assert found["paid_orders_not_paid"] == 1
    rows = "\n".join(targets([_result(found)]))
    assert "| 3, 1, 2, 1, 1 | 0, 0, 0, 0, 0 | **no** |" in rows, rows


def _result(found: dict[str, Any]) -> dict[str, Any]:
    return {
        "backend": "dynamodb-local",
        "scenario": {"name": "sale-rules", "customers": 2, "limit": 2, "hold_minutes": 1},
        "orders_placed": 3,
        "units_oversold": 3,
        **found,
    }


def test_the_paying_share_is_stable_and_about_its_size():
    ids = [f"order-{n}" for n in range(4000)]
    paying = [i for i in ids if chosen(i, 0.5)]
    assert 1800 < len(paying) < 2200
    assert paying == [i for i in ids if chosen(i, 0.5)]
    assert not [i for i in ids if chosen(i, 0.0)]
