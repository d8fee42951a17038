"""`make bench`: every benchmark in one run on this machine, each in a process of its
own; prints the tables and the targets, writes bench/results/<date>.json and refreshes
docs/performance.md from the figures just measured.

  .venv/bin/python -m bench [--quick] [--results-dir DIR] [--docs FILE]
  .venv/bin/python -m bench --only cold_start --reuse bench/results/<date>.json

`--quick` runs each harness on a tiny input (what `make test` checks); its figures mean
nothing. `--only` runs some parts again and keeps the others' figures from an earlier
results file, which the page then names.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    catalog_import,
    cold_start,
    cost,
    local_api,
    recommendations,
    scale_model,
    warm_api,
    worker_batch,
)
from devtools.template import ROOT, function_properties

Printer = Callable[[str], None]

# Each part: its module, and its arguments in a full run and in a quick one.
PARTS: dict[str, tuple[Any, list[str], list[str]]] = {
    "cold_start": (cold_start, ["--runs", "10"], ["--runs", "1"]),
    "warm_api": (warm_api, ["--requests", "1000"], ["--requests", "10"]),
    "worker_batch": (worker_batch, ["--rounds", "15"], ["--rounds", "1"]),
    "catalog_import": (
        catalog_import,
        ["--sizes", "10000", "100000", "1000000", "--skus", "4", "--distinct", "20000"],
        ["--sizes", "200", "400", "--skus", "4", "--distinct", "100", "--ceiling-updates", "20"],
    ),
    "local_api": (local_api, ["--requests", "500"], ["--requests", "5"]),
    "scale_model": (scale_model, [], []),
    "recommendations": (
        recommendations,
        [],
        ["--users", "60", "--catalog", "2000", "--baskets", "5000", "--requests", "10"],
    ),
}


def _run_part(name: str, arguments: list[str]) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *arguments, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"bench.{name} failed:\n{completed.stderr[-4000:]}")
    summary: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    return summary, time.perf_counter() - started


def _target(
    what: str, measured: float, limit: float, unit: str, bound: str = "at most"
) -> dict[str, Any]:
    met = {"at most": measured <= limit, "at least": measured >= limit, "below": measured < limit}
    return {
        "target": what,
        "measured": round(measured, 3),
        "goal": f"{bound} {limit:g}{unit}",
        "met": met[bound],
    }


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target, as far as this run's results measure it, part by part."""
    return [
        *_cold_start_targets(results["cold_start"]),
        *_warm_api_targets(results["warm_api"]),
        *_worker_targets(results["worker_batch"]),
        *_import_targets(results["catalog_import"]),
        _target("local API overhead p50", results["local_api"]["overhead_p50_ms"], 3, " ms"),
        *_recommendation_targets(results["recommendations"]),
    ]


# Each function's "ready" (import and a DynamoDB client) against the floor of what it
# must import anyway: the API functions against the framework floor, the trainer against
# numpy's, the others against bare boto3's.
API_FUNCTIONS = ("CatalogFunction", "OrdersFunction", "RecommendationsFunction")
EVENT_FUNCTIONS = (
    "OrderRelayFunction",
    "OrderWorkerFunction",
    "RecommendationFeedFunction",
    "OrderReconcilerFunction",
)


def _cold_start_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    cold = results["variants"]

    def total(name: str) -> float:
        return float(cold[name]["total_ms"]["median_ms"])

    def ready(name: str) -> float:
        return float(cold[name]["ready_x_floor"])

    worst = max(EVENT_FUNCTIONS, key=ready)
    trainer = cold["RecommendationTrainerFunction"]["ready_ms"]["median_ms"]
    return [
        *(
            _target(
                f"{name} import + client / framework floor",
                cold[name]["ready_x_framework"],
                1.05,
                "x",
            )
            for name in API_FUNCTIONS
        ),
        _target(
            f"worst event function import + client / boto3 floor ({worst})", ready(worst), 1.45, "x"
        ),
        _target("importer import + client / boto3 floor", ready("CatalogImportFunction"), 1.5, "x"),
        _target(
            "trainer import + client / numpy floor",
            trainer / cold[cold_start.NUMPY]["ready_ms"]["median_ms"],
            1.1,
            "x",
        ),
        _target(
            "catalog cold start (import + first event) / FastAPI + Mangum's",
            total("CatalogFunction") / total("FastAPI catalog"),
            0.6,
            "x",
        ),
    ]


def _warm_api_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        _target(
            f"warm handler overhead p50, {route}, against FastAPI + Mangum's",
            figures["powertools"]["overhead_p50_ms"],
            figures["fastapi"]["overhead_p50_ms"],
            " ms",
            "below",
        )
        for route, figures in results["routes"].items()
    ]


def _worker_targets(worker: dict[str, Any]) -> list[dict[str, Any]]:
    # Requests an order, counted on the deployed design (group commit): the per-order
    # baseline reads each order's products for their limits beside the order itself.
    calls = worker["group"]["per_order"]["calls"]
    reads = sum(n for name, n in calls.items() if name in ("GetItem", "Query", "BatchGetItem"))
    return [
        _target(
            f"worker batch / one by one (+{worker['latency_ms']:g} ms per DynamoDB request)",
            worker["speedup"],
            3,
            "x",
            bound="at least",
        ),
        _target("worker transactions per order", calls.get("TransactWriteItems", 0), 1, ""),
        _target("worker reads per order", reads, 1, ""),
    ]


def _import_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    imports = results["imports"]
    # The ceiling bounds imports that send an update a row (a SKU a row); a file cycling
    # a few SKUs sends a few updates a chunk, and is bound by parsing instead.
    distinct = [row for row in imports if row.get("skus") == row["rows"]]
    found = [
        _target(
            "import of a SKU a row / bare-update ceiling (lowest)",
            min(row["x_ceiling"] for row in distinct),
            0.8,
            "x",
            bound="at least",
        )
    ]
    imports = [row for row in imports if row not in distinct]
    sizes = sorted({row["rows"] for row in imports})
    for file_format in catalog_import.FORMATS:
        peak = {row["rows"]: row["peak_rss_mb"] for row in imports if row["format"] == file_format}
        found.append(
            _target(
                f"import peak RSS, {sizes[-1]} rows / {sizes[0]} rows ({file_format})",
                peak[sizes[-1]] / peak[sizes[0]],
                1.2,
                "x",
            )
        )
    return found


def _recommendation_targets(quality: dict[str, Any]) -> list[dict[str, Any]]:
    scale = quality["at_scale"]
    trainer = function_properties("RecommendationTrainerFunction")
    return [
        *(
            _target(
                f"recommendations HR@10 / best recency-aware baseline, {name.replace('_', ' ')} "
                f"({quality[name]['best_recency_aware']})",
                quality[name]["x_best_recency_aware"] or 0.0,
                recommendations.OVER_RECENCY_AWARE,
                "x",
                bound="at least",
            )
            for name in ("leave_last_out", "time_split")
        ),
        _target(
            "recommendations HR@10 / popularity, leave last out",
            quality["leave_last_out"]["x_popularity"] or 0.0,
            recommendations.OVER_POPULARITY,
            "x",
            bound="at least",
        ),
        _target(
            f"trainer, every SKU of {scale['catalog_skus']:,} solved from scratch (s) "
            "within the function's timeout",
            scale["fold_seconds"] + scale["full_solve_seconds"] + scale["rows_and_save_seconds"],
            float(trainer["Timeout"]),
            " s",
        ),
        _target(
            f"trainer peak memory at {scale['catalog_skus']:,} SKUs within its MemorySize",
            scale["peak_rss_mb"],
            float(trainer["MemorySize"]),
            " MB",
        ),
    ]


def machine() -> dict[str, Any]:
    model = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor() or platform.machine(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.machine()
    )
    from importlib.metadata import version

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": {
            name: version(name)
            for name in ("aws-lambda-powertools", "boto3", "pydantic", "moto", "fastapi", "mangum")
        },
    }


def print_report(report: dict[str, Any], out: Printer = print) -> None:
    results = report["results"]
    for name, (module, _, _) in PARTS.items():
        out("")
        module.print_table(results[name], out)
    out("")
    out(f"cost per million orders: ${report['cost']['usd_per_million_orders_total']}")
    for item, dollars in report["cost"]["usd_per_million_orders"].items():
        out(f"  {item:<18} ${dollars}")
    extra = report["recommendations_cost"]
    out(
        f"  recommendations: ${extra['usd_per_million_orders']} per million orders, and the "
        f"trainer ${extra['trainer_usd_a_month']['lambda_usd']} a month of Lambda plus at most "
        f"${extra['trainer_usd_a_month']['row_writes_usd_at_most']} of row writes"
    )
    out("")
    out("targets")
    for target in report["targets"]:
        verdict = "met" if target["met"] else "MISSED"
        out(f"  {verdict:<7} {target['target']}: {target['measured']:g} ({target['goal']})")
    out(f"\nmade in {report['seconds']} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny inputs: the harness runs")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=PARTS,
        help="run only these parts; the others keep their figures from --reuse",
    )
    parser.add_argument("--reuse", type=Path, help="the results file --only takes the rest from")
    args = parser.parse_args()
    if bool(args.only) != bool(args.reuse):
        parser.error("--only and --reuse go together")
    started = time.perf_counter()
    earlier = json.loads(args.reuse.read_text()) if args.reuse else None
    results: dict[str, Any] = dict(earlier["results"]) if earlier else {}
    durations: dict[str, float] = {}
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    with tempfile.TemporaryDirectory() as folder:
        # The scale model takes the worker's batches as this run measured them.
        measured = Path(folder) / "worker_batch.json"
        for name, (_, full, quick) in PARTS.items():
            if args.only and name not in args.only:
                continue
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            arguments = quick if args.quick else full
            if name == "scale_model":
                measured.write_text(json.dumps({"date": today, **results["worker_batch"]}))
                arguments = [*arguments, "--worker-batches", str(measured)]
            results[name], durations[name] = _run_part(name, arguments)
    report = {
        "date": today,
        "quick": args.quick,
        "machine": machine(),
        "seconds": round(time.perf_counter() - started, 1),
        "part_seconds": {name: round(seconds, 1) for name, seconds in durations.items()},
        "results": results,
        "cost": cost.model(results["warm_api"], results["worker_batch"]),
        "snapstart": cost.snapstart(results["cold_start"]),
        "recommendations_cost": cost.recommendations(results["recommendations"]),
    }
    if earlier:  # which figures are this run's, and where the others come from
        report["rerun"] = {"parts": args.only, "others_from": earlier["date"]}
    report["targets"] = targets(results)
    print_report(report)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / f"{today}.json").write_text(json.dumps(report, indent=2) + "\n")
    from bench.markdown import render

    args.docs.parent.mkdir(parents=True, exist_ok=True)
    args.docs.write_text(render(report, [module for module, _, _ in PARTS.values()]))
    # The scale model's own page, beside it (docs/scaling.md).
    (args.docs.parent / "scaling.md").write_text(scale_model.page(results["scale_model"]))
    (args.docs.parent / "scaling-reads.md").write_text(
        scale_model.read_page(results["scale_model"])
    )


if __name__ == "__main__":
    main()
