"""`make load`'s charts over time (bench/load_charts.py): Locust's history read, the
SVG well formed with a line a series, the page and its charts written."""

import xml.etree.ElementTree as ET
from pathlib import Path

from bench.load_charts import ScenarioCharts, locust_history, svg_chart

SVG = "{http://www.w3.org/2000/svg}"
COLUMNS = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,"
HISTORY = (
    COLUMNS
    + """98%,99%,99.9%,99.99%,100%,Total Request Count
1000,10,POST,/orders,3.0,0,20,0,0,0,0,40,0,50,0,0,0,3
1000,10,,Aggregated,4.0,0,21,0,0,0,0,41,0,51,0,0,0,4
1001,10,,Aggregated,8.5,0,N/A,0,0,0,0,N/A,0,N/A,0,0,0,12
1002,10,,Aggregated,9.0,0,25,0,0,0,0,45,0,90,0,0,0,21
"""
)


def test_locusts_aggregated_history_becomes_series_from_the_start(tmp_path: Path):
    (tmp_path / "flash_stats_history.csv").write_text(HISTORY)

    series = locust_history(tmp_path / "flash", started=999.0)

    assert series["requests/s"] == [(1.0, 4.0), (2.0, 8.5), (3.0, 9.0)]
    assert series["p99"] == [(1.0, 51.0), (3.0, 90.0)]  # no latency in a second: no point
    assert series["p50"] == [(1.0, 21.0), (3.0, 25.0)]


def test_a_chart_is_svg_with_a_line_and_a_legend_entry_a_series():
    svg = svg_chart(
        "flash <sale>", {"p50": [(0, 1), (5, 3)], "p99": [(0, 2), (5, 9)], "p95": []}, "ms"
    )

    root = ET.fromstring(svg)
    lines = root.findall(f"{SVG}polyline")
    assert len(lines) == 2
    assert lines[1].get("points", "").split()[-1] == "570.0,45.5"  # (5, 9): right edge, 9 / 9.9 up

    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"p50", "p99", "p95", "flash <sale>", "ms"} <= set(texts)


def test_the_page_and_its_three_charts_are_written(tmp_path: Path):
    charts = ScenarioCharts("flash", {"requests/s": [(0, 1.0), (1, 2.0)]}, [(0, 5.0), (1, 0.0)])

    page = charts.write(tmp_path)

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "flash-latency.svg",
        "flash-queue.svg",
        "flash-throughput.svg",
        "flash.html",
    ]
    assert page.read_text().count("<svg") == 3
