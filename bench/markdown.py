"""docs/performance.md from one `make bench` report: every figure comes from the run, and
only figures: what each measures, and how, is docs/benchmarks.md, linked from each part.

  .venv/bin/python -m bench.markdown bench/results/<date>.json [--docs FILE]

renders the page again from a results file, without running any benchmark.
"""

import argparse
import importlib
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

from devtools.template import ROOT

_TITLES = {
    "cold_start": "Cold start per function",
    "warm_api": "Warm API latency",
    "worker_batch": "Order worker: batch against one by one",
    "catalog_import": "Catalog import against the bare-update ceiling",
    "local_api": "Local stack overhead",
    "scale_model": "Scale model (on AWS, on paper)",
    "recommendations": "Recommendations: quality on MovieLens, serving, training at scale",
}


def _how(title: str) -> str:
    """A link to the heading `title` of docs/benchmarks.md (GitHub's anchor for it)."""
    anchor = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
    return f"How it is measured: [benchmarks](benchmarks.md#{anchor})."


def _block(module: ModuleType, summary: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    module.print_table(summary, lines.append)
    return ["```", *lines, "```"]


def _heaviest_imports(cold_start: dict[str, Any]) -> list[str]:
    lines = ["| variant | heaviest imports, by package (`-X importtime` self ms) |", "|---|---|"]
    for name, figures in cold_start["variants"].items():
        heaviest = ", ".join(f"{row['package']} {row['ms']}" for row in figures["heaviest_imports"])
        lines.append(f"| {name} | {heaviest} |")
    return lines


def _cost(report: dict[str, Any]) -> list[str]:
    model = report["cost"]
    lines = [
        f"**${model['usd_per_million_orders_total']} per million orders.**",
        "",
        "| item | per order | USD per million orders |",
        "|---|---|---|",
    ]
    quantities = {
        "HTTP API": "http_api_requests",
        "Lambda requests": "lambda_invocations",
        "Lambda compute": "lambda_gb_seconds",
        "SQS": "sqs_requests",
        "DynamoDB writes": "dynamodb_write_units",
        "DynamoDB index writes": "dynamodb_index_write_units",
        "DynamoDB reads": "dynamodb_read_units",
    }
    for item, dollars in model["usd_per_million_orders"].items():
        quantity = quantities[item]
        lines.append(f"| {item} | {model['per_order'][quantity]:g} {quantity} | {dollars} |")
    extra = report["recommendations_cost"]
    per = extra["per_confirmed_order"]
    trainer = extra["trainer_usd_a_month"]
    lines += [
        "",
        f"Recommendations add **${extra['usd_per_million_orders']} per million orders** (the "
        f"feed: {per['dynamodb_write_units']:g} write and {per['dynamodb_read_units']:g} read "
        f"units, {per['lambda_gb_seconds']:g} GB-s per confirmed order) and a trainer that "
        f"costs ${trainer['lambda_usd']} a month of Lambda ({trainer['runs_a_month']:,} runs) "
        f"plus at most ${trainer['row_writes_usd_at_most']} a month of row writes, whatever "
        "the order rate ([recommendations](recommendations.md#cost)).",
    ]
    lines += ["", "Prices (USD):", ""]
    lines += [f"- `{name}`: {price}" for name, price in model["prices_usd"].items()]
    return lines


def _snapstart(report: dict[str, Any]) -> list[str]:
    lines = [
        "## SnapStart",
        "",
        _how("SnapStart"),
        "",
        "| function | cache, USD a month | restore, USD per 1,000 cold starts "
        "| init instead, USD per 1,000 (init s) |",
        "|---|---|---|---|",
    ]
    for function, figures in report["snapstart"].items():
        lines.append(
            f"| {function} | {figures['cache_usd_a_month']} "
            f"| {figures['restore_usd_per_thousand_cold_starts']} "
            f"| {figures['init_usd_per_thousand_cold_starts']}"
            f" ({figures['init_seconds_measured']}) |"
        )
    return lines


def _scale_model(model: dict[str, Any]) -> list[str]:
    lines = [
        "| case | decided orders a second | the limit that binds "
        "| orders a second at the lowest fixed limit |",
        "|---|---|---|---|",
    ]
    for case, figures in model["cases"].items():
        binding, fixed = figures["binding"], figures.get("binding_fixed")
        lowest = f"{fixed['orders_per_s']:,}" if fixed else "none is fixed"
        lines.append(f"| {case} | {binding['orders_per_s']:,} | {binding['name']} | {lowest} |")
    return [*lines, "", "Every ceiling, its source and what raises it: [scaling](scaling.md)."]


def render(report: dict[str, Any], modules: list[ModuleType]) -> str:
    machine = report["machine"]
    packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items())
    lines = [
        "# Performance",
        "",
        f"Written by `make bench` on {report['date']} in {report['seconds']} s; do not edit by "
        "hand: run `make bench` again. "
        + (
            f"Only {', '.join(_TITLES[part] for part in report['rerun']['parts'])} measured "
            f"on {report['date']}; every other figure is from {report['rerun']['others_from']}. "
            if "rerun" in report
            else ""
        )
        + (
            "**A quick run (`--quick`): tiny inputs, figures meaningless.**"
            if report["quick"]
            else ""
        ),
        "What each figure measures, and how: [benchmarks](benchmarks.md#benchmarks).",
        "",
        "## Machine",
        "",
        f"- {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GiB",
        f"- {machine['os']}, Python {machine['python']}",
        f"- {packages}",
        "",
        "## Targets",
        "",
        "| target | measured | goal | met |",
        "|---|---|---|---|",
    ]
    for target in report["targets"]:
        verdict = "yes" if target["met"] else "**no**"
        lines.append(
            f"| {target['target']} | {target['measured']:g} | {target['goal']} | {verdict} |"
        )
    for module in modules:
        name = module.__name__.removeprefix("bench.")
        lines += ["", f"## {_TITLES[name]}", "", _how(_TITLES[name]), ""]
        if name == "scale_model":
            lines += _scale_model(report["results"][name])
        else:
            lines += _block(module, report["results"][name])
        if name == "cold_start":
            lines += ["", *_heaviest_imports(report["results"][name])]
    title = "Cost per million orders"
    lines += ["", f"## {title}", "", _how(title), "", *_cost(report)]
    lines += ["", *_snapstart(report)]
    lines += ["", *_under_load()]
    return "\n".join(lines) + "\n"


def _under_load() -> list[str]:
    """Where the latest `make load` figures are (bench/results/load.json, docs/load.md): too
    long a run (half an hour and more) to repeat in every `make bench`."""
    from bench import load

    if not load.RESULTS.exists():
        return []
    results = json.loads(load.RESULTS.read_text())
    dates = ", ".join(sorted({r.get("measured", "?") for r in results}))
    return [
        "## The order path under load",
        "",
        f"Measured by `make load` on {dates} (`bench/results/load.json`; `make bench` does",
        "not repeat it): its targets and every scenario's figures are in [load](load.md).",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="docs/performance.md from a results file")
    parser.add_argument("results", type=Path, help="bench/results/<date>.json")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "performance.md")
    args = parser.parse_args()
    report = json.loads(args.results.read_text())
    # The parts in the order the run measured them (bench/__main__.py's PARTS).
    modules = [importlib.import_module(f"bench.{name}") for name in report["results"]]
    args.docs.write_text(render(report, modules))


if __name__ == "__main__":
    main()
