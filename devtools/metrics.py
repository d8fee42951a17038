"""The local stack's `/metrics`, in Prometheus's text format (prometheus-client).

Two kinds of series, both read from what the stack already sees (no second
instrumentation in the functions):
- what the functions emit through Powertools Metrics: each invocation's embedded metric
  format documents (`devtools/runtime.py` hands them over with the answer), the same
  names, their dimensions as labels; a Count is a counter (`OrdersPlaced_total`), any
  other unit a histogram (`WorkerBatchSize_bucket`). Every Count the product's code
  names is there at 0 from the start, so that its first increase counts;
- the stack's own, where CloudWatch has a service metric (`STACK_METRICS`): per
  function its invocations, errors, throttles (here: invocations that waited for an
  environment at the pool's limit), cold starts and duration; per route the API's
  requests by status and latency (the integration's: what the function took); per
  queue its visible messages and the age of its oldest (`dead_letter="true"` on the
  template's dead-letter and on-failure queues); per stream consumer the records it has
  not yet been handed; and the orders PENDING (the count of the orders table's sparse
  `Pending` index).

    python -m devtools.metrics names       # every metric name a panel or a rule may use
"""

import ast
import json
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from devtools.intrinsics import Stack
from devtools.template import event_sources, load_template, product_sources, resources
from devtools.workers import Invocation

# What the functions need so that their Powertools Metrics print EMF (the local stack's
# in-process code keeps POWERTOOLS_METRICS_DISABLED: nothing there to read it).
FUNCTION_ENVIRONMENT = {"POWERTOOLS_METRICS_DISABLED": "false"}

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

# The stack's own series (prometheus-client adds _total, _bucket... to these names).
STACK_METRICS = {
    "stockroom_function_invocations_total": "invocations, per function",
    "stockroom_function_errors_total": "invocations that ended in an error, per function",
    "stockroom_function_throttles_total": "invocations that waited at the pool's limit",
    "stockroom_function_cold_starts_total": "first invocations of an environment",
    "stockroom_function_duration_seconds": "how long each invocation ran (histogram)",
    "stockroom_api_requests_total": "API requests, per route and status",
    "stockroom_api_latency_seconds": "API requests' integration latency, per route",
    "stockroom_queue_messages": "messages visible, per queue",
    "stockroom_queue_oldest_message_age_seconds": "age of the oldest message, per queue",
    "stockroom_stream_records_behind": "stream records a consumer has not been handed",
    "stockroom_orders_pending": "orders PENDING",
}

_HISTOGRAM = ("_bucket", "_sum", "_count")
_HISTOGRAMS = {"stockroom_function_duration_seconds", "stockroom_api_latency_seconds"}


def _named_in_calls(function: str) -> set[str]:
    """The metric names the product's code passes to `function` as a literal."""
    names = set()
    for path in product_sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == function
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(str(node.args[0].value))
    return names


def product_counts() -> set[str]:
    """The Count metrics the product's code names (`count("Name")`)."""
    return _named_in_calls("count")


def product_measures() -> set[str]:
    """The other metrics the product's code names (`measure("Name", value)`)."""
    return _named_in_calls("measure")


def emitted_names() -> set[str]:
    """Every series name the local stack's /metrics can carry, as Prometheus names it:
    what a dashboard panel or an alerting rule may query."""
    histograms = _HISTOGRAMS | product_measures()
    cold_starts = any("capture_cold_start_metric=True" in p.read_text() for p in product_sources())
    return (
        (set(STACK_METRICS) - _HISTOGRAMS)
        | ({"ColdStart_total"} if cold_starts else set())  # Powertools' own, per function
        | {f"{name}_total" for name in product_counts()}
        | {f"{name}{suffix}" for name in histograms for suffix in _HISTOGRAM}
    )


def service_name() -> str:
    """The `service` dimension every Powertools metric carries (the template's Globals)."""
    variables = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    return str(variables["POWERTOOLS_SERVICE_NAME"])


# ---------------------------------------------------------------------------- EMF
type Labels = tuple[tuple[str, str], ...]


def parse_emf(document: dict[str, Any]) -> Iterator[tuple[str, str, Labels, list[float]]]:
    """(name, unit, labels, values) of each metric in an embedded metric format document:
    its dimensions' values as labels, a value or a list of values."""
    for directive in document["_aws"]["CloudWatchMetrics"]:
        dimensions = sorted({name for group in directive["Dimensions"] for name in group})
        labels = tuple((name, str(document[name])) for name in dimensions if name in document)
        for metric in directive["Metrics"]:
            value = document.get(metric["Name"])
            values = value if isinstance(value, list) else [value]
            numbers = [float(v) for v in values if v is not None]
            yield metric["Name"], metric.get("Unit", "None"), labels, numbers


class EmfCollector(Collector):
    """The functions' metrics, from their EMF documents."""

    def __init__(self, counts: set[str], labels: Labels) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[Labels, float]] = {name: {labels: 0.0} for name in counts}
        self._values: dict[str, dict[Labels, list[float]]] = defaultdict(dict)

    def add(self, document: dict[str, Any]) -> None:
        with self._lock:
            for name, unit, labels, values in parse_emf(document):
                if unit == "Count":
                    series = self._counts.setdefault(name, {})
                    series[labels] = series.get(labels, 0.0) + sum(values)
                else:
                    self._values[name].setdefault(labels, []).extend(values)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            counts = {name: dict(series) for name, series in self._counts.items()}
            values = {name: {k: list(v) for k, v in s.items()} for name, s in self._values.items()}
        for name, count_series in sorted(counts.items()):
            family = Metric(name, f"{name} (Powertools Metrics, Count)", "counter")
            for labels, total in count_series.items():
                family.samples.append(Sample(f"{name}_total", dict(labels), total))
            yield family
        for name, value_series in sorted(values.items()):
            histogram = Metric(name, f"{name} (Powertools Metrics)", "histogram")
            for labels, observed in value_series.items():
                histogram.samples.extend(_histogram_samples(name, dict(labels), observed))
            yield histogram


def _histogram_samples(name: str, labels: dict[str, str], observed: list[float]) -> list[Sample]:
    samples = [
        Sample(f"{name}_bucket", labels | {"le": str(float(b))}, sum(v <= b for v in observed))
        for b in SIZE_BUCKETS
    ]
    samples.append(Sample(f"{name}_bucket", labels | {"le": "+Inf"}, len(observed)))
    samples.append(Sample(f"{name}_sum", labels, sum(observed)))
    samples.append(Sample(f"{name}_count", labels, len(observed)))
    return samples


# ------------------------------------------------------------------ the stack's state
def dead_letter_queues() -> set[str]:
    """The queues the template names as a redrive target or an on-failure destination."""
    found: set[str] = set()

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            target = value.get("Fn::GetAtt")
            if key in ("deadLetterTargetArn", "Destination") and isinstance(target, list):
                found.add(target[0])
            for name, item in value.items():
                walk(item, name)
        elif isinstance(value, list):
            for item in value:
                walk(item, key)

    walk(load_template()["Resources"])
    return found & set(resources("AWS::SQS::Queue"))


class StateCollector(Collector):
    """Queues, streams and PENDING orders, read when /metrics is scraped."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.queues = {
            logical_id: str(stack.resolve({"Fn::GetAtt": [logical_id, "QueueName"]}))
            for logical_id in resources("AWS::SQS::Queue")
        }
        self.dead_letter = dead_letter_queues()
        self.consumers = [
            (function, str(stack.resolve(properties["Stream"])), properties)
            for function, properties in event_sources("DynamoDB")
        ]
        self._delivered: dict[str, str] = {}  # consumer -> last sequence number handed over
        self._lock = threading.Lock()

    def delivered(self, invocation: Invocation) -> None:
        """Moves a stream consumer's checkpoint past the records a successful invocation
        was handed (up to its first reported failure)."""
        records = invocation.event.get("Records", []) if isinstance(invocation.event, dict) else []
        if not records or records[0].get("eventSource") != "aws:dynamodb":
            return
        if "error" in invocation.answer:
            return
        result = invocation.answer.get("result") or {}
        failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
        numbers = [record["dynamodb"]["SequenceNumber"] for record in records]
        done = numbers[: min([numbers.index(n) for n in failed if n in numbers] or [len(numbers)])]
        if done:
            with self._lock:
                last = self._delivered.get(invocation.function)
                self._delivered[invocation.function] = max(
                    [*done, *([last] if last else [])], key=int
                )

    def collect(self) -> Iterator[Metric]:
        for collect in (self._queues, self._streams, self._pending):
            try:
                yield from collect()
            except Exception as error:  # a scrape during start or stop: next time
                print(f"[metrics] {collect.__name__}: {error}", file=sys.stderr)

    def _queues(self) -> Iterator[Metric]:
        from moto.sqs.models import sqs_backends

        messages = GaugeMetricFamily(
            "stockroom_queue_messages",
            STACK_METRICS["stockroom_queue_messages"],
            labels=["queue", "dead_letter"],
        )
        age = GaugeMetricFamily(
            "stockroom_queue_oldest_message_age_seconds",
            STACK_METRICS["stockroom_queue_oldest_message_age_seconds"],
            labels=["queue", "dead_letter"],
        )
        backend = sqs_backends[self.stack.account][self.stack.region]
        now = time.time()
        for logical_id, name in sorted(self.queues.items()):
            queue = backend.queues.get(name)
            if queue is None:
                continue
            waiting = list(queue._messages)  # moto's, in this process
            labels = [logical_id, str(logical_id in self.dead_letter).lower()]
            messages.add_metric(labels, sum(1 for m in waiting if m.visible and not m.delayed))
            sent = [float(m.sent_timestamp or 0) / 1000 for m in waiting]  # epoch ms
            age.add_metric(labels, max(0.0, now - min(sent)) if sent else 0.0)
        yield messages
        yield age

    def _streams(self) -> Iterator[Metric]:
        from devtools.streams import lambda_record, streams_client
        from devtools.triggers import matches

        behind = GaugeMetricFamily(
            "stockroom_stream_records_behind",
            STACK_METRICS["stockroom_stream_records_behind"],
            labels=["consumer"],
        )
        streams = streams_client()
        for function, arn, properties in self.consumers:
            patterns = [
                json.loads(item["Pattern"])
                for item in properties.get("FilterCriteria", {}).get("Filters", [])
            ]
            with self._lock:
                after = self._delivered.get(function)
            records = _records_after(streams, arn, after)
            shaped = (lambda_record(record, arn, self.stack.region) for record in records)
            count = sum(1 for r in shaped if not patterns or any(matches(p, r) for p in patterns))
            behind.add_metric([function], count)
        yield behind

    def _pending(self) -> Iterator[Metric]:
        import boto3

        pending = GaugeMetricFamily(
            "stockroom_orders_pending", STACK_METRICS["stockroom_orders_pending"]
        )
        dynamodb = boto3.client("dynamodb")
        for logical_id, table in resources("AWS::DynamoDB::Table").items():
            indexes = table["Properties"].get("GlobalSecondaryIndexes", [])
            if not any(index["IndexName"] == "Pending" for index in indexes):
                continue
            total, start = 0, dict[str, Any]()
            while True:
                page = dynamodb.scan(
                    TableName=self.stack[logical_id], IndexName="Pending", Select="COUNT", **start
                )
                total += page["Count"]
                if "LastEvaluatedKey" not in page:
                    break
                start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
            pending.add_metric([], total)
        yield pending


_MAX_PAGES = 20


def _records_after(streams: Any, arn: str, after: str | None) -> list[dict[str, Any]]:
    """The stream's records after sequence number `after` (all of them if None), every
    shard's, up to _MAX_PAGES pages a shard."""
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    records: list[dict[str, Any]] = []
    for shard in shards:
        numbers = shard["SequenceNumberRange"]
        end = numbers.get("EndingSequenceNumber")
        if after and end and int(end) <= int(after):
            continue  # read to its end already
        position: dict[str, str] = {"ShardIteratorType": "TRIM_HORIZON"}
        if after and int(numbers["StartingSequenceNumber"]) <= int(after):
            position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after}
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], **position)[
            "ShardIterator"
        ]
        for _ in range(_MAX_PAGES):
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records += page.get("Records", [])
            iterator = page.get("NextShardIterator")
            if not page.get("Records") or not iterator:
                break
    return records


# ------------------------------------------------------------------------ together
class StackMetrics:
    """Every series of the local stack's /metrics; `observe` is the function pools'
    observer (devtools/workers.py)."""

    def __init__(self, stack: Stack) -> None:
        self.registry = CollectorRegistry()
        functions = sorted(resources("AWS::Serverless::Function"))

        def per_function(name: str) -> Counter:
            counter = Counter(
                name.removesuffix("_total"),
                STACK_METRICS[name],
                ["function"],
                registry=self.registry,
            )
            for function in functions:
                counter.labels(function)  # at 0: a first error is an increase
            return counter

        self.invocations = per_function("stockroom_function_invocations_total")
        self.errors = per_function("stockroom_function_errors_total")
        self.throttles = per_function("stockroom_function_throttles_total")
        self.cold_starts = per_function("stockroom_function_cold_starts_total")
        self.duration = Histogram(
            "stockroom_function_duration_seconds",
            STACK_METRICS["stockroom_function_duration_seconds"],
            ["function"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.api_requests = Counter(
            "stockroom_api_requests",
            STACK_METRICS["stockroom_api_requests_total"],
            ["route", "status"],
            registry=self.registry,
        )
        self.api_latency = Histogram(
            "stockroom_api_latency_seconds",
            STACK_METRICS["stockroom_api_latency_seconds"],
            ["route"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.emf = EmfCollector(product_counts(), (("service", service_name()),))
        self.state = StateCollector(stack)
        self.registry.register(self.emf)
        self.registry.register(self.state)

    def observe(self, invocation: Invocation) -> None:
        function, answer = invocation.function, invocation.answer
        self.invocations.labels(function).inc()
        if "error" in answer:
            self.errors.labels(function).inc()
        if invocation.throttled:
            self.throttles.labels(function).inc()
        if answer.get("cold"):
            self.cold_starts.labels(function).inc()
        self.duration.labels(function).observe(invocation.seconds)
        for document in answer.get("emf", []):
            self.emf.add(document)
        event = invocation.event if isinstance(invocation.event, dict) else {}
        if "routeKey" in event:
            result = answer.get("result")
            status = result.get("statusCode", 200) if isinstance(result, dict) else 200
            route = event["routeKey"]
            self.api_requests.labels(route, str(500 if "error" in answer else status)).inc()
            self.api_latency.labels(route).observe(invocation.seconds)
        self.state.delivered(invocation)

    def serve(self, host: str, port: int) -> Any:
        """/metrics on host:port, served from a thread of this process; the server."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, host, registry=self.registry)
        return server


if __name__ == "__main__":
    if sys.argv[1:] == ["names"]:
        print("\n".join(sorted(emitted_names())))
