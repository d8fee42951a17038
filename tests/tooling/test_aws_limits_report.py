"""The limits-mode comparison's own arithmetic (bench/aws_limits.py): what the proxy
counted over one scenario, per 1,000 orders, and the designs side by side."""

from typing import Any

from bench import aws_limits


def statistics(outcomes: Any, requests: Any, holds: Any) -> dict[str, Any]:
    return {"outcomes": outcomes, "requests": requests, "holds": holds, "overhead": {}}


def test_a_scenarios_figures_are_what_the_proxy_counted_during_it():
    before = statistics({"TransactionConflict": 5}, {"TransactWriteItems": 10}, {"2": [0.01]})
    after = statistics(
        {
            "TransactionConflict": 25,
            "ProvisionedThroughputExceededException": 2,
            "UnprocessedItems": 3,
        },
        {"TransactWriteItems": 60},
        {"2": [0.01, 0.02, 0.04], "101": [0.3]},
    )

    figures = aws_limits.proxy_figures(before, after, orders=100)

    assert figures["conflicts_per_1000_orders"] == 200.0
    assert figures["throttles_per_1000_orders"] == 50.0
    assert figures["refused_and_retried"] == 25
    assert figures["transactions_attempted_per_order"] == 0.5
    assert figures["hold_ms"]["2"] == {"transactions": 2, "p50": 20.0, "p99": 40.0}
    assert figures["hold_ms"]["101"]["transactions"] == 1


def test_group_commits_ratio_is_over_the_same_scenario_only():
    results = [
        {"scenario": {"name": "flash-5k"}, "worker": "group", "decided_per_second_by_design": 60},
        {
            "scenario": {"name": "flash-5k"},
            "worker": "per-order",
            "decided_per_second_by_design": 5,
        },
        {"scenario": {"name": "spread"}, "worker": "per-order", "decided_per_second_by_design": 50},
    ]
    assert aws_limits.ratio(results, "flash-5k") == 12.0
    assert aws_limits.ratio(results, "spread") is None


def test_a_time_bound_cuts_placing_and_draining_and_leaves_the_scenario_else_alone():
    sale = aws_limits.SCENARIOS[0]
    assert (sale.skus, sale.units_per_sku, sale.orders) == (1, 5000, 20_000)  # the sale day
    cut = aws_limits.bounded(sale, 120)
    assert (cut.run_seconds, cut.decide_seconds) == (120, 120)
    assert (cut.orders, cut.units_per_sku, cut.backlog) == (sale.orders, 5000, True)
    assert aws_limits.bounded(sale, 0) is sale


def test_a_drain_rate_counts_only_the_orders_decided_within_it():
    drained = {
        "seconds_to_drain_backlog": 100.0,
        "outcomes": {"CONFIRMED": 300, "REJECTED": 200, "PENDING": 500},
        "decided_per_second": 1.0,
    }
    assert aws_limits.decided_rate(drained) == 5.0
    assert aws_limits.decided_rate({"decided_per_second": 7.5, "outcomes": {}}) == 7.5


def test_both_designs_get_the_same_spread_orders_not_a_stepped_rate():
    (spread,) = [s for s in aws_limits.SCENARIOS if s.name == "spread"]
    assert spread.steps == ()  # a stepped rate stops at a p99 the designs do not set
    assert spread.backlog


def test_a_time_bounded_run_is_said_so_on_the_page():
    run = {
        "scenario": {"name": "flash-20k", "users": 50, "orders_per_user": 400},
        "worker": "per-order",
        "orders_placed": 2000,
        "orders_decided": 900,
        "bounded_seconds": 120,
    }
    said = aws_limits.sizes([run, {**run, "worker": "group", "bounded_seconds": 0}])
    assert "per-order was time-bounded: it placed 2,000 of the 20,000 orders" in said
    assert "decided 900 of them" in said
    assert "flash-20k, group placed 2,000 of 20,000 orders." in said
