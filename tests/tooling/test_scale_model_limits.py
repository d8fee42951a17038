"""The scale model's one-item arithmetic (bench/scale_model.py): conflict-bound throughput,
hold time fitted to what the limits mode measured, and the model set beside the
measurements."""

from typing import Any

import pytest

from bench import scale_model
from bench.scale_model import Assumptions, HoldGrowth, conflict_bound, hold_growth


def test_conflict_bound_throughput_is_lambda_over_one_plus_lambda_h_at_most_1_over_h():
    # One caller never collides: it wins every attempt, one per hold and round trip.
    assert conflict_bound(1, 0.010, 0.010) == pytest.approx(50 / (1 + 50 * 0.010))
    many = conflict_bound(10_000, 0.025, 0.008)
    assert many < 1 / 0.025
    assert many == pytest.approx(1 / 0.025, rel=0.01)
    assert conflict_bound(30, 0.025, 0.008) < conflict_bound(180, 0.025, 0.008)


def hold(items: int, p50_ms: float, transactions: int) -> dict[str, Any]:
    return {str(items): {"p50": p50_ms, "p99": 2 * p50_ms, "transactions": transactions}}


def test_hold_time_is_fitted_to_the_measured_p50s_seen_often_enough():
    results = [
        {"hold_ms": hold(2, 12.0, 500) | hold(50, 60.0, 3)},  # 50 items: too few to count
        {"hold_ms": hold(11, 21.0, 40) | hold(101, 111.0, 9)},
    ]
    fitted = hold_growth(results)
    assert fitted.intercept_s == pytest.approx(0.010)
    assert fitted.per_item_s == pytest.approx(0.001)
    assert [n for n, _, _ in fitted.points] == [2, 11, 101]
    assert fitted.relative(5) == 1.0
    assert HoldGrowth().relative(100) == 1.0  # nothing measured: flat


def result(
    scenario: str, skus: int, worker: str, attempted: float, conflicts: int
) -> dict[str, Any]:
    return {
        "scenario": {"name": scenario, "skus": skus},
        "worker": worker,
        "orders_placed": 1000,
        "transactions_attempted_per_order": attempted,
        "refusals": {"TransactionConflict": conflicts},
        "decided_per_second_by_design": 50.0,
        "until_decided_p99_s": 3.0,
        "conflicts_per_1000_orders": conflicts,
        "throttles_per_1000_orders": 0.0,
        "orders_stuck_pending": 0,
        "measured": "2026-12-05",
    }


def test_the_model_meets_each_limits_mode_run_with_that_runs_own_figures():
    fitted = HoldGrowth(0.010, 0.001)
    rows = scale_model.model_vs_measured(
        [
            result("flash-5k", 1, "group", attempted=0.06, conflicts=50),  # 10 won: 100 each
            result("spread", 1000, "per-order", attempted=1.2, conflicts=200),
        ],
        Assumptions(),
        fitted,
    )
    group, spread = rows
    assert group["orders_per_transaction"] == 100.0
    assert group["hold_ms"] == pytest.approx(10 + 101)
    expected = conflict_bound(scale_model.LOCAL_POLLERS, 0.111, 0.010) * 100
    assert group["model_orders_per_s"] == pytest.approx(expected, abs=0.1)
    assert spread["model_orders_per_s"] is None  # no one item binds over 1,000 SKUs


def test_a_first_sales_limits_are_in_the_model_with_their_sources():
    model = scale_model.run()
    flash = {row["limit"]: row for row in model["cases"]["flash/group"]["ceilings"]}
    assert flash["new_table_wcu"]["orders_per_s"] == round(4000 / 3)  # 3 WRU an order
    assert flash["new_table_wcu"]["source"].startswith("https://docs.aws.amazon.com/")
    assert "ASSUMED" in flash["item_conflicts"]["how"]
    page = scale_model.page(model)
    assert "2,500 requests a second" in page
    assert "provisioned mode" in page
