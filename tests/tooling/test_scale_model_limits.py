"""The scale model's one-item arithmetic (bench/scale_model.py): conflict-bound throughput,
hold time fitted to what the limits mode measured, and the model set beside the
measurements."""

import json
from dataclasses import asdict
from pathlib import Path
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
    scenario: str,
    skus: int,
    worker: str,
    transactions: int,
    conflicts: int,
    attempted: float = 9.9,
) -> dict[str, Any]:
    return {
        "scenario": {"name": scenario, "skus": skus},
        "worker": worker,
        "orders_placed": 1000,
        # The proxy's count: every function's transactions (recommendations' too).
        "transactions_attempted_per_order": attempted,
        # The order path's own: its reservations on stock.
        "transactions": transactions,
        "refusals": {"TransactionConflict": conflicts},
        "decided_per_second_by_design": 50.0,
        "until_decided_p99_s": 3.0,
        "conflicts_per_1000_orders": conflicts,
        "throttles_per_1000_orders": 0.0,
        "orders_stuck_pending": 0,
        "measured": "2026-12-05",
    }


def test_orders_a_transaction_are_over_the_reservations_won_not_the_proxys_count():
    fitted = HoldGrowth(0.010, 0.001)
    # The per-order design: 5,000 reservations sent, 4,000 cancelled: one won an order.
    # The proxy saw 1,000 more (recommendations' on confirmed orders): not the item's.
    group, per_order = scale_model.model_vs_measured(
        [
            result("flash", 1, "per-order", transactions=5000, conflicts=4000, attempted=6.0),
            result("flash", 1, "group", transactions=12, conflicts=2, attempted=1.0),
        ],
        Assumptions(),
        fitted,
    )
    assert (per_order["reservations_sent"], per_order["reservations_won"]) == (5000, 1000)
    assert per_order["orders_per_transaction"] == 1.0
    assert per_order["callers"] == scale_model.LOCAL_POLLERS * Assumptions().per_order_threads
    assert group["orders_per_transaction"] == 100.0  # 1,000 orders over 10 won
    assert group["callers"] == scale_model.LOCAL_POLLERS


def test_the_model_meets_each_limits_mode_run_with_that_runs_own_ceilings():
    fitted = HoldGrowth(0.010, 0.001)
    rows = scale_model.model_vs_measured(
        [
            result("spread", 1000, "per-order", transactions=1200, conflicts=200),
            result("flash", 1, "group", transactions=12, conflicts=2),
            result("flash", 1, "per-order", transactions=5000, conflicts=4000),
        ],
        Assumptions(),
        fitted,
    )
    group, per_order, spread = rows  # the hot SKU first, by load level; spread last
    assert spread["scenario"] == "spread"
    assert group["hold_ms"] == pytest.approx(10 + 100)  # a transaction holds 100 items at most
    one_item = conflict_bound(scale_model.LOCAL_POLLERS, 0.110, 0.010) * 100
    assert group["model_item_orders_per_s"] == pytest.approx(one_item, abs=0.1)
    assert group["model_wcu_orders_per_s"] == 1000 * 100 / 2  # 2 WCU a transactional write
    assert group["model_orders_per_s"] == pytest.approx(one_item, abs=0.1)  # the lower binds
    assert per_order["model_wcu_orders_per_s"] == 500.0
    per_order_item = conflict_bound(30, 0.012, 0.010)
    assert per_order["model_orders_per_s"] == pytest.approx(per_order_item, abs=0.1)
    assert per_order["measured_over_model"] == round(50.0 / per_order["model_orders_per_s"], 2)
    assert spread["model_orders_per_s"] is None  # no one item binds over 1,000 SKUs
    assert spread["measured_over_model"] is None


def test_a_time_bounded_run_is_modelled_on_the_orders_it_decided():
    bounded = result("flash", 1, "per-order", transactions=5000, conflicts=4500)
    bounded |= {"orders_decided": 500, "bounded_seconds": 120}
    (row,) = scale_model.model_vs_measured([bounded], Assumptions(), HoldGrowth(0.01, 0.001))
    assert row["orders_per_transaction"] == 1.0  # 500 decided, 500 won
    assert (row["orders"], row["orders_decided"], row["bounded_seconds"]) == (1000, 500, 120)
    page = "\n".join(scale_model._limits_mode_section({"limits_mode": [row]}))
    assert "flash, per-order (bounded, 120 s) | 1,000 (500)" in page


def test_each_load_level_kept_is_read_once_the_newest_first(tmp_path: Path):
    newest = [result("flash-20k", 1, "group", 10, 0), result("spread", 1000, "group", 10, 0)]
    older = [result("flash-5k", 1, "group", 10, 0), result("spread", 1000, "group", 99, 0)]
    (tmp_path / "limits.json").write_text(json.dumps(newest))
    (tmp_path / "limits.flash-5k.json").write_text(json.dumps(older))
    runs = scale_model.limits_measured(tmp_path)
    assert [(r["scenario"]["name"], r["transactions"]) for r in runs] == [
        ("flash-20k", 10),
        ("spread", 10),
        ("flash-5k", 10),
    ]
    assert scale_model.limits_measured(tmp_path / "none") == []


def test_each_unpublished_assumption_carries_the_figure_measured_here():
    model = {
        "hold_growth": asdict(HoldGrowth(0.0219, 0.0016, ((2, 0.011, 900), (5, 0.034, 240)))),
        "limits_mode": [{"worker": "per-order", "callers": 30}],
    }
    assert "34 ms p50" in scale_model.measured_beside("hold_5_items_s", model)
    assert "21.9 ms" in scale_model.measured_beside("round_trip_s", model)
    assert "30 callers" in scale_model.measured_beside("per_order_threads", model)
    assert scale_model.measured_beside("edge_hit_ratio", model) == ""
    nothing = {"hold_growth": asdict(HoldGrowth()), "limits_mode": []}
    assert scale_model.measured_beside("hold_5_items_s", nothing) == ""


def test_a_first_sales_limits_are_in_the_model_with_their_sources():
    model = scale_model.run()
    flash = {row["limit"]: row for row in model["cases"]["flash/group"]["ceilings"]}
    assert flash["new_table_wcu"]["orders_per_s"] == round(4000 / 3)  # 3 WRU an order
    assert flash["new_table_wcu"]["source"].startswith("https://docs.aws.amazon.com/")
    assert "ASSUMED" in flash["item_conflicts"]["how"]
    page = scale_model.page(model)
    assert "2,500 requests a second" in page
    assert "provisioned mode" in page
