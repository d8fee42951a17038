"""The benchmark harnesses run (on a tiny input); their figures are not asserted."""

import json
import subprocess
import sys

from devtools.template import ROOT


def test_worker_batch_benchmark_runs_and_counts_calls_per_order():
    # A process of its own: the harness points boto3 at its own endpoint.
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.worker_batch",
            "--rounds",
            "1",
            "--latency-ms",
            "0",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    summary = json.loads(completed.stdout.splitlines()[-1])
    for variant in ("concurrent", "one_by_one"):
        assert summary[variant]["median_s"] > 0
        assert summary[variant]["dynamodb_calls_per_order"] == 2
    assert summary["dynamodb_operations"] == ["GetItem", "TransactWriteItems"]
