"""Grafana dashboards as code: one definition (`PANELS`), two dashboards built with
grafana-foundation-sdk, the same panels on each:

- `monitoring/grafana/stockroom-prometheus.json`: on a Prometheus data source, the
  local stack's /metrics as `make monitor` scrapes it (devtools/metrics.py);
- `monitoring/grafana/stockroom-cloudwatch.json`: on a CloudWatch data source, a
  deployed stack (Amazon Managed Grafana or any Grafana), its name in the `stack`
  variable and its HTTP API's id in `api_id`.

Each panel says its query for each backend; tests/unit/test_dashboards.py checks every
one reads a metric the code or the stack emits, and that the SDK's types read the
generated JSON back unchanged.

    python -m devtools.dashboards           # writes monitoring/grafana/*.json
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import cloudwatch, common, dashboard, timeseries
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import cloudwatch as cloudwatch_models
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as dashboard_models

from devtools.metrics import dead_letter_queues, service_name
from devtools.template import ROOT, resources

FOLDER = ROOT / "monitoring" / "grafana"
TITLES = {"prometheus": "local, Prometheus", "cloudwatch": "deployed, CloudWatch"}
NAMESPACE = "Stockroom"


@dataclass(frozen=True)
class Stat:
    """A metric of Stockroom's namespace (Powertools Metrics), one statistic of it; with
    an `id` and hidden, the input of an `Expr` beside it."""

    metric: str
    stat: str
    period: int = 60
    label: str = ""
    id: str = ""
    hidden: bool = False


@dataclass(frozen=True)
class Expr:
    """A CloudWatch expression: metric math over the panel's Stats, or a SEARCH."""

    expression: str
    label: str = ""
    period: int = 60


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    prometheus: list[tuple[str, str]]  # (legend, PromQL)
    cloudwatch: list[Stat | Expr]
    cloudwatch_unit: str = ""  # where CloudWatch's unit is another (Latency: ms)
    width: int = 12
    extra: dict[str, Any] = field(default_factory=dict)


def _quantiles(series: str, by: str = "") -> list[tuple[str, str]]:
    group = f"le, {by}" if by else "le"
    rate = f"sum by ({group}) (rate({series}_bucket[5m]))"
    prefix = f"{{{{{by}}}}} " if by else ""
    return [(f"{prefix}p{q}", f"histogram_quantile(0.{q}, {rate})") for q in ("50", "99")]


def _search(metric: str, logical_ids: list[str], stat: str) -> Expr:
    """A SEARCH over the queues (or other resources) CloudFormation named
    `<stack>-<logical id>-<suffix>`, labelled by name."""
    names = " OR ".join(f'"$stack-{logical_id}-"' for logical_id in logical_ids)
    return Expr(
        f"SEARCH('{{AWS/SQS,QueueName}} MetricName=\"{metric}\" ({names})', '{stat}', 60)",
        label="${PROP('Dim.QueueName')}",
    )


def panels() -> list[Panel]:
    service = f'service="{service_name()}"'
    dead = sorted(dead_letter_queues())
    working = sorted(set(resources("AWS::SQS::Queue")) - set(dead))

    def per_minute(metric: str) -> str:
        return f"sum(increase({metric}_total{{{service}}}[1m]))"

    def ratio(tier: str) -> str:
        hits, misses = (
            f"sum(rate({tier}Cache{kind}_total{{{service}}}[5m]))" for kind in ("Hits", "Misses")
        )
        return f"{hits} / ({hits} + {misses})"

    return [
        Panel(
            "Orders per minute: placed, confirmed, rejected",
            "short",
            [
                (kind.lower(), per_minute(f"Orders{kind}"))
                for kind in ("Placed", "Confirmed", "Rejected")
            ],
            [
                Stat(f"Orders{kind}", "Sum", label=kind.lower())
                for kind in ("Placed", "Confirmed", "Rejected")
            ],
        ),
        Panel(
            "Worker: orders per batch",
            "short",
            _quantiles("WorkerBatchSize"),
            [Stat("WorkerBatchSize", stat, label=stat) for stat in ("p50", "p99")],
        ),
        Panel(
            "Worker: orders per transaction (group)",
            "short",
            _quantiles("WorkerGroupSize"),
            [Stat("WorkerGroupSize", stat, label=stat) for stat in ("p50", "p99")],
        ),
        Panel(
            "Queues: age of the oldest message",
            "s",
            [
                (
                    "{{queue}}",
                    "max by (queue) "
                    '(stockroom_queue_oldest_message_age_seconds{dead_letter="false"})',
                )
            ],
            [_search("ApproximateAgeOfOldestMessage", working, "Maximum")],
        ),
        Panel(
            "Dead-letter queues: messages waiting",
            "short",
            [("{{queue}}", 'max by (queue) (stockroom_queue_messages{dead_letter="true"})')],
            [_search("ApproximateNumberOfMessagesVisible", dead, "Maximum")],
        ),
        Panel(
            "API latency p50 / p99 per route",
            "s",
            _quantiles("stockroom_api_latency_seconds", "route"),
            # Per route, CloudWatch needs the API's detailed metrics (a metric a route,
            # billed); the API's latency over every route is what it has.
            [
                Expr(
                    'SEARCH(\'{AWS/ApiGateway,ApiId} MetricName="Latency" '
                    f"ApiId=\"$api_id\"', '{stat}', 60)",
                    label=stat,
                )
                for stat in ("p50", "p99")
            ],
            cloudwatch_unit="ms",
        ),
        Panel(
            "Cache hit ratio per tier",
            "percentunit",
            [("L1 (in memory)", ratio("Product")), ("L2 (shared)", ratio("Shared"))],
            [
                Stat("ProductCacheHits", "Sum", id="l1hits", hidden=True),
                Stat("ProductCacheMisses", "Sum", id="l1misses", hidden=True),
                Stat("SharedCacheHits", "Sum", id="l2hits", hidden=True),
                Stat("SharedCacheMisses", "Sum", id="l2misses", hidden=True),
                Expr("l1hits / (l1hits + l1misses)", label="L1 (in memory)"),
                Expr("l2hits / (l2hits + l2misses)", label="L2 (shared)"),
            ],
        ),
        Panel(
            "Cold starts per function",
            "short",
            [
                (
                    "{{function_name}}",
                    f"sum by (function_name) (increase(ColdStart_total{{{service}}}[5m]))",
                )
            ],
            [
                Expr(
                    f'SEARCH(\'{{{NAMESPACE},function_name,service}} MetricName="ColdStart" '
                    "\"$stack-\"', 'Sum', 300)",
                    label="${PROP('Dim.function_name')}",
                    period=300,
                )
            ],
        ),
        Panel(
            "Import: rows per second",
            "rowsps",
            [("rows/s", f"sum(rate(RowsImported_total{{{service}}}[1m]))")],
            [
                Stat("RowsImported", "Sum", id="rows", hidden=True),
                Expr("rows / PERIOD(rows)", label="rows/s"),
            ],
        ),
    ]


# --------------------------------------------------------------------------- building
def _datasource(kind: str) -> dashboard_models.DataSourceRef:
    return dashboard_models.DataSourceRef(type_val=kind, uid="${datasource}")


def _prometheus_targets(panel: Panel) -> list[prom.Dataquery]:
    return [
        prom.Dataquery()
        .expr(expr)
        .legend_format(legend)
        .ref_id(chr(ord("A") + n))
        .datasource(_datasource("prometheus"))
        for n, (legend, expr) in enumerate(panel.prometheus)
    ]


def _cloudwatch_targets(panel: Panel) -> list[cloudwatch.CloudWatchMetricsQuery]:
    targets = []
    for n, item in enumerate(panel.cloudwatch):
        query = (
            cloudwatch.CloudWatchMetricsQuery()
            .query_mode(cloudwatch_models.CloudWatchQueryMode.METRICS)
            .metric_query_type(cloudwatch_models.MetricQueryType.SEARCH)
            .region("default")
            .ref_id(chr(ord("A") + n))
            .datasource(_datasource("cloudwatch"))
            .period(str(item.period))
        )
        if isinstance(item, Stat):
            query = (
                query.metric_editor_mode(cloudwatch_models.MetricEditorMode.BUILDER)
                .namespace(NAMESPACE)
                .metric_name(item.metric)
                .dimensions({"service": service_name()})
                .match_exact(True)
                .statistic(item.stat)
                .id(item.id or f"q{n}")
                .hide(item.hidden)
            )
        else:
            query = query.metric_editor_mode(cloudwatch_models.MetricEditorMode.CODE).expression(
                item.expression
            )
        if item.label:
            query = query.label(item.label)
        targets.append(query)
    return targets


def build(backend: str) -> dict[str, Any]:
    """The dashboard on `backend` ("prometheus" or "cloudwatch"), as Grafana's JSON."""
    board = (
        dashboard.Dashboard(f"Stockroom ({TITLES[backend]})")
        .uid(f"stockroom-{backend}")
        .tags(["stockroom", backend])
        .refresh("10s" if backend == "prometheus" else "1m")
        .time("now-30m" if backend == "prometheus" else "now-6h", "now")
        .with_variable(
            dashboard.DatasourceVariable("datasource").label("Data source").type(backend)
        )
    )
    if backend == "cloudwatch":
        board = board.with_variable(
            dashboard.TextBoxVariable("stack").label("Stack name").default_value("stockroom-prod")
        ).with_variable(dashboard.TextBoxVariable("api_id").label("HTTP API id"))
    for panel in panels():
        unit = (
            panel.cloudwatch_unit
            if backend == "cloudwatch" and panel.cloudwatch_unit
            else panel.unit
        )
        built = (
            timeseries.Panel()
            .title(panel.title)
            .unit(unit)
            .datasource(_datasource(backend))
            .span(panel.width)
            .height(8)
            .fill_opacity(10)
            .legend(
                common.VizLegendOptions()
                .show_legend(True)
                .display_mode(common_models.LegendDisplayMode.LIST)
                .placement(common_models.LegendPlacement.BOTTOM)
            )
        )
        targets = (
            _prometheus_targets(panel) if backend == "prometheus" else _cloudwatch_targets(panel)
        )
        for target in targets:
            built = built.with_target(target)
        board = board.with_panel(built)
    document: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return document


def generated() -> dict[Path, str]:
    return {
        FOLDER / f"stockroom-{backend}.json": json.dumps(build(backend), indent=2, sort_keys=True)
        + "\n"
        for backend in ("prometheus", "cloudwatch")
    }


def main() -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    for path, text in generated().items():
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
