"""The Grafana dashboards (devtools/dashboards.py): committed as generated, read back
unchanged by grafana-foundation-sdk's types, the same panels on both backends, and no
dead panel: every query reads a metric the code or the stack really emits. Grafana
itself does not run here; tests/tooling/test_monitor.py runs each PromQL query against a
real Prometheus."""

import json
import re
from typing import Any

import pytest
from grafana_foundation_sdk.cog import plugins
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import cloudwatch, prometheus
from grafana_foundation_sdk.models.dashboard import Dashboard, Panel

from devtools.dashboards import FOLDER, generated
from devtools.metrics import emitted_names, product_counts, product_measures
from devtools.template import load_template, resources

BACKENDS = {"prometheus": prometheus.Dataquery, "cloudwatch": cloudwatch.CloudWatchMetricsQuery}


def committed(backend: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FOLDER / f"stockroom-{backend}.json").read_text())
    return document


def test_the_committed_dashboards_are_what_the_definition_generates():
    for path, text in generated().items():
        assert path.read_text() == text, f"{path.name} is stale: run `make dashboards`"


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_sdks_types_read_each_dashboard_back_unchanged(backend):
    plugins.register_default_plugins()
    document = committed(backend)
    typed = Dashboard.from_json(document)
    assert json.loads(json.dumps(typed, cls=JSONEncoder)) == document
    panels = [panel for panel in typed.panels or [] if isinstance(panel, Panel)]
    targets = [target for panel in panels for target in panel.targets or []]
    assert len(panels) == len(typed.panels or [])
    assert targets and all(isinstance(target, BACKENDS[backend]) for target in targets)


def test_both_dashboards_have_the_same_panels():
    titles = {b: [p["title"] for p in committed(b)["panels"]] for b in BACKENDS}
    assert titles["prometheus"] == titles["cloudwatch"]
    assert len(titles["prometheus"]) == 9
    for backend in BACKENDS:
        assert all(panel["targets"] for panel in committed(backend)["panels"])


PROMQL_WORDS = {"sum", "max", "by", "rate", "increase", "histogram_quantile", "le"}


def test_every_prometheus_panel_reads_series_the_local_stack_emits():
    emitted = emitted_names()
    for panel in committed("prometheus")["panels"]:
        for target in panel["targets"]:
            read = set(re.findall(r"\b([A-Za-z_]\w*)\s*[{\[]", target["expr"])) - PROMQL_WORDS
            assert read, target["expr"]
            assert read <= emitted, (panel["title"], read - emitted)


def _read_by_the_template() -> set[tuple[str, str]]:
    """(namespace, metric) the template's alarms and CloudWatch dashboard read: what AWS
    emits for its resources."""
    text = json.dumps(load_template()["Resources"])
    pairs = set(re.findall(r'"Namespace": "(AWS/\w+)", "MetricName": "(\w+)"', text))
    return pairs | set(re.findall(r'\[\\"(AWS/\w+)\\", \\"(\w+)\\"', text))


def test_every_cloudwatch_panel_reads_a_metric_emitted_for_the_deployed_stack():
    ours = product_counts() | product_measures() | {"ColdStart"}
    aws = _read_by_the_template()
    queues = set(resources("AWS::SQS::Queue"))
    for panel in committed("cloudwatch")["panels"]:
        ids = {t.get("id") for t in panel["targets"] if "metricName" in t}
        for target in panel["targets"]:
            if "metricName" in target:  # a Stat of our namespace
                assert target["namespace"] == "Stockroom"
                assert target["metricName"] in ours, panel["title"]
                continue
            expression = target["expression"]
            search = re.fullmatch(
                r"SEARCH\('\{([\w/]+),[^}]*\} MetricName=\"(\w+)\"(.*)', .*", expression
            )
            if search is None:  # metric math over the panel's own metrics
                assert set(re.findall(r"\b[a-z]\w*\b", expression)) <= ids, expression
                continue
            namespace, metric, rest = search.groups()
            if namespace == "Stockroom":
                assert metric in ours, panel["title"]
            else:
                assert (namespace, metric) in aws, panel["title"]
            assert set(re.findall(r"\$stack-(\w+)-", rest)) <= queues
