"""The benchmark harnesses run (on a tiny input); their figures are not asserted."""

import json
import subprocess
import sys
from typing import Any

from devtools.template import ROOT


def bench_summary(module: str, *args: str) -> dict[str, Any]:
    """The JSON summary of `python -m bench.<module> ... --json`, run in a process of its
    own (a harness points boto3 at its own endpoint)."""
    completed = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    summary: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    return summary


def test_worker_batch_benchmark_runs_and_counts_calls_per_order():
    summary = bench_summary("worker_batch", "--rounds", "1", "--latency-ms", "0")
    for variant in ("concurrent", "one_by_one"):
        assert summary[variant]["median_s"] > 0
        assert summary[variant]["dynamodb_calls_per_order"] == 2
    assert summary["dynamodb_operations"] == ["GetItem", "TransactWriteItems"]


def test_catalog_import_benchmark_runs_the_handler_to_the_end():
    summary = bench_summary("catalog_import", "--rows", "40", "--skus", "20")
    assert (summary["status"], summary["rows"], summary["imported"]) == ("SUCCEEDED", 40, 40)
    assert summary["peak_rss_mb"] >= summary["baseline_rss_mb"] > 0


def test_local_api_benchmark_measures_both_paths_and_a_reload():
    summary = bench_summary("local_api", "--requests", "5")
    assert summary["through_api"]["p50_ms"] > 0
    assert summary["direct"]["p50_ms"] > 0
    assert 0 < summary["serving_s"] <= summary["ready_s"]
    assert summary["reload_to_served_ms"] > 0
