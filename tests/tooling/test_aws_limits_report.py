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
