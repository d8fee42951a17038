"""`make monitor` (devtools/monitor.py): a real Prometheus scraping a /metrics served
here, with the rules that mirror the template's alarms loaded and evaluated, and the
Grafana dashboard's queries (devtools/dashboards.py) accepted."""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from devtools.dashboards import build
from devtools.local_stack import free_port
from devtools.monitor import start
from devtools.template import resources


def eventually[T](read: Callable[[], T], done: Callable[[T], bool], seconds: float = 30) -> T:
    deadline = time.monotonic() + seconds
    while not done(value := read()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return value


def test_prometheus_scrapes_the_stack_and_fires_the_alarms_twin(tmp_path: Path):
    registry = CollectorRegistry()
    waiting = Gauge("stockroom_queue_messages", "", ["queue", "dead_letter"], registry=registry)
    waiting.labels("OrderDeadLetterQueue", "true").set(0)
    port = free_port()
    server, _ = start_http_server(port, "127.0.0.1", registry=registry)
    prometheus = start(f"http://127.0.0.1:{port}/metrics", tmp_path, free_port(), 0.5)
    try:
        rules = prometheus.rules()
        assert {rule["name"] for rule in rules} == set(resources("AWS::CloudWatch::Alarm"))
        assert all(rule["health"] != "err" for rule in rules)
        for panel in build("prometheus")["panels"]:  # every panel's query, valid PromQL
            for target in panel["targets"]:
                prometheus.query(target["expr"])  # a parse error is an HTTP 400
        scraped = eventually(lambda: prometheus.query("stockroom_queue_messages"), bool)
        assert scraped[0]["metric"]["queue"] == "OrderDeadLetterQueue"

        def firing() -> list[dict[str, Any]]:
            rules = prometheus.rules()
            return [r for r in rules if r["name"] == "OrderDeadLetterAlarm" and r["alerts"]]

        assert not firing()  # an empty DLQ
        waiting.labels("OrderDeadLetterQueue", "true").set(1)
        alarm = eventually(firing, bool)
        assert alarm and alarm[0]["alerts"][0]["state"] == "firing"
    finally:
        prometheus.stop()
        server.shutdown()
        server.server_close()
