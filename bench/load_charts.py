"""Charts of a `make load` scenario over time, as hand-made SVG in one HTML page:
throughput and latency percentiles (Locust's per-second history of POST /orders and the
rest, `--csv-full-history`), and the order queue's depth (sampled while the scenario
runs, until every order is decided). No plotting library: a polyline per series.

    report = ScenarioCharts(...).html()     # bench/load.py writes <charts>/<scenario>.html
"""

import csv
import html
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 60, 150, 30, 40
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")

type Series = list[tuple[float, float]]  # (seconds from the start, value)


class QueueSampler:
    """The order queue's messages (waiting and in flight) every `every` seconds, in a
    thread, until stopped."""

    def __init__(self, endpoint: str, queue_url: str, every: float = 1.0) -> None:
        self.endpoint, self.queue_url, self.every = endpoint, queue_url, every
        self.samples: Series = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.started = time.time()

    def start(self) -> "QueueSampler":
        self.started = time.time()
        self._thread.start()
        return self

    def stop(self) -> Series:
        self._stop.set()
        self._thread.join(timeout=10)
        return self.samples

    def _run(self) -> None:
        import boto3

        sqs = boto3.client("sqs", endpoint_url=self.endpoint)
        names: Any = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        while not self._stop.is_set():
            try:
                attributes = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)
            except Exception:  # a sample lost is a gap in the chart, not a failed run
                attributes = None
            if attributes:
                depth = sum(int(v) for v in attributes["Attributes"].values())
                self.samples.append((time.time() - self.started, float(depth)))
            self._stop.wait(self.every)


def locust_history(prefix: Path, started: float) -> dict[str, Series]:
    """Requests per second and the p50, p95 and p99 latency (ms) of all requests, a row
    a second, from Locust's `<prefix>_stats_history.csv`; seconds from `started`."""
    path = Path(f"{prefix}_stats_history.csv")
    series: dict[str, Series] = {"requests/s": [], "p50": [], "p95": [], "p99": []}
    if not path.exists():
        return series
    with path.open() as rows:
        for row in csv.DictReader(rows):
            if row["Name"] != "Aggregated":
                continue
            at = float(row["Timestamp"]) - started
            series["requests/s"].append((at, float(row["Requests/s"] or 0)))
            for name, column in (("p50", "50%"), ("p95", "95%"), ("p99", "99%")):
                if row[column] not in ("", "N/A"):
                    series[name].append((at, float(row[column])))
    return series


def _ticks(top: float) -> list[float]:
    if top <= 0:
        return [0.0]
    step = 10 ** len(str(int(top))) / 10
    while top / step > 6:
        step *= 2
    return [n * step for n in range(int(top / step) + 1)]


def svg_chart(title: str, series: dict[str, Series], unit: str) -> str:
    """A line chart of `series` (a line each, legend on the right), as SVG."""
    points = [p for line in series.values() for p in line]
    span_x = max((x for x, _ in points), default=1.0) or 1.0
    top = max((y for _, y in points), default=1.0) * 1.1 or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def at(x: float, y: float) -> str:
        return f"{LEFT + x / span_x * plot_w:.1f},{TOP + plot_h - y / top * plot_h:.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="18" font-size="13" font-weight="bold">{html.escape(title)}</text>',
    ]
    for tick in _ticks(top / 1.1):
        y = TOP + plot_h - tick / top * plot_h
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
    for tick in _ticks(span_x):
        x = LEFT + tick / span_x * plot_w
        parts.append(
            f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{tick:g}</text>'
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 6}" text-anchor="middle">seconds</text>'
        f'<text x="12" y="{TOP + plot_h / 2}" transform="rotate(-90 12 {TOP + plot_h / 2})" '
        f'text-anchor="middle">{html.escape(unit)}</text>'
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#888"/>'
    )
    for n, (name, line) in enumerate(series.items()):
        colour = COLOURS[n % len(COLOURS)]
        if line:
            path = " ".join(at(x, y) for x, y in line)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>'
            )
        y = TOP + 12 + n * 16
        parts.append(
            f'<line x1="{LEFT + plot_w + 12}" y1="{y - 4}" x2="{LEFT + plot_w + 30}" y2="{y - 4}" '
            f'stroke="{colour}" stroke-width="2"/><text x="{LEFT + plot_w + 36}" y="{y}">'
            f"{html.escape(name)}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


@dataclass
class ScenarioCharts:
    """A scenario's three charts, and the page that shows them."""

    name: str
    history: dict[str, Series]
    queue: Series
    notes: list[str] = field(default_factory=list)

    def charts(self) -> dict[str, str]:
        """SVG by name: throughput, latency, queue."""
        latency = {k: v for k, v in self.history.items() if k != "requests/s"}
        return {
            "throughput": svg_chart(
                f"{self.name}: requests per second (Locust, all requests)",
                {"requests/s": self.history.get("requests/s", [])},
                "requests/s",
            ),
            "latency": svg_chart(f"{self.name}: latency percentiles", latency, "ms"),
            "queue": svg_chart(
                f"{self.name}: order queue depth (waiting and in flight)",
                {"messages": self.queue},
                "messages",
            ),
        }

    def html(self) -> str:
        body = "\n".join(f"<figure>{svg}</figure>" for svg in self.charts().values())
        notes = "".join(f"<p>{html.escape(note)}</p>" for note in self.notes)
        return (
            f"<!doctype html><meta charset=utf-8><title>make load: {html.escape(self.name)}</title>"
            f"<h1>make load: {html.escape(self.name)}</h1>{notes}\n{body}\n"
        )

    def write(self, folder: Path) -> Path:
        """<folder>/<name>.html and each chart as <name>-<chart>.svg; the page's path."""
        folder.mkdir(parents=True, exist_ok=True)
        for chart, svg in self.charts().items():
            (folder / f"{self.name}-{chart}.svg").write_text(svg)
        page = folder / f"{self.name}.html"
        page.write_text(self.html())
        return page
