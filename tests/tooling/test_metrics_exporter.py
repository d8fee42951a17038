"""The local stack's /metrics parts (devtools/metrics.py, the runtime's EMF tap): a
throwaway function printing EMF through Powertools in a real process, and the
exposition prometheus-client renders from what it answered."""

import io
import json
import os
import threading
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from devtools.metrics import EmfCollector, parse_emf
from devtools.runtime import EmfTap
from devtools.workers import FunctionPool, FunctionSpec, Invocation

POWERTOOLS_HANDLER = """
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

metrics = Metrics()

@metrics.log_metrics
def handler(event, context):
    print("an ordinary line")
    metrics.add_metric(name="OrdersPlaced", unit=MetricUnit.Count, value=event["placed"])
    for size in event["sizes"]:
        metrics.add_metric(name="WorkerBatchSize", unit=MetricUnit.NoUnit, value=size)
    return "done"
"""


def test_a_functions_emf_comes_back_with_its_answer_and_its_first_is_cold(tmp_path: Path):
    (tmp_path / "handler_module.py").write_text(POWERTOOLS_HANDLER)
    seen: list[Invocation] = []
    pool = FunctionPool(
        FunctionSpec(
            function="ThrowawayFunction",
            module="handler_module",
            attribute="handler",
            code=tmp_path,
            layers=(),
            timeout=10,
            memory=256,
            environment={
                "PATH": os.environ["PATH"],
                "POWERTOOLS_METRICS_NAMESPACE": "Stockroom",
                "POWERTOOLS_SERVICE_NAME": "stockroom",
                "POWERTOOLS_METRICS_DISABLED": "false",
            },
            max_environments=1,
        ),
        seen.append,
    )
    try:
        assert pool.invoke({"placed": 2, "sizes": [3, 40]}) == "done"
        assert pool.invoke({"placed": 1, "sizes": []}) == "done"
    finally:
        pool.close()

    assert [invocation.answer["cold"] for invocation in seen] == [True, False]
    collector = EmfCollector({"OrdersRejected"}, (("service", "stockroom"),))
    for invocation in seen:
        (document,) = invocation.answer["emf"]  # the ordinary line stayed a log line
        collector.add(document)
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(_exposition(collector))
        for sample in family.samples
    }
    service = (("service", "stockroom"),)
    assert samples["OrdersPlaced_total", service] == 3
    assert samples["OrdersRejected_total", service] == 0  # named by the code: there from 0
    assert samples["WorkerBatchSize_count", service] == 2
    assert samples["WorkerBatchSize_sum", service] == 43
    assert samples["WorkerBatchSize_bucket", (("le", "5.0"), *service)] == 1


def _exposition(collector: EmfCollector) -> str:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry).decode()


def test_dimensions_become_labels_whatever_the_dimension_sets():
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": 1,
            "CloudWatchMetrics": [
                {
                    "Namespace": "Stockroom",
                    "Dimensions": [["service", "function_name"]],
                    "Metrics": [{"Name": "ColdStart", "Unit": "Count"}],
                }
            ],
        },
        "service": "stockroom",
        "function_name": "OrdersFunction",
        "ColdStart": [1.0],
    }
    assert list(parse_emf(document)) == [
        (
            "ColdStart",
            "Count",
            (("function_name", "OrdersFunction"), ("service", "stockroom")),
            [1.0],
        )
    ]


def test_the_tap_keeps_emf_lines_whole_from_many_threads_and_passes_the_rest():
    log = io.StringIO()
    tap = EmfTap(log)

    def write(number: int) -> None:
        # print() writes the text and its newline in two calls.
        print(json.dumps({"_aws": {"CloudWatchMetrics": []}, "n": number}), file=tap)
        print(f"line {number}", file=tap)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tap.flush()

    assert sorted(document["n"] for document in tap.take()) == list(range(50))
    assert tap.take() == []
    assert sorted(log.getvalue().splitlines()) == sorted(f"line {n}" for n in range(50))
