"""Catalog import: throughput and peak memory of the deployed handler importing files
from moto's S3 into DynamoDB Local over HTTP (following its checkpoints to the end),
against the ceiling: bare UpdateItem calls, as wide as the importer's pool, to the same
endpoint, with no file, parsing or validation.

  .venv/bin/python -m bench.catalog_import [--sizes 10000 100000 1000000] [--skus 4]
      [--distinct 10000] [--dynamodb moto]

Each import runs in a fresh process, so its peak RSS is the import's alone (the file is
generated and uploaded by the parent, the endpoints run in processes of their own), in
CSV and in gzipped JSON Lines. `--skus` is how many distinct SKUs the rows of `--sizes`
cycle through: the importer writes the last row for a SKU in each chunk of rows, so an
import of R rows sends about R/1000 x SKUs updates, and a million rows measure parsing
and memory. `--distinct` sizes are CSV imports with a SKU per row: an update per row,
the case the ceiling bounds. The ceiling's rate is measured once and scaled by each
import's own rows per update sent (counted).
"""

import argparse
import csv
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.cli import emit, harness_parser
from bench.endpoint import aws_endpoint

KEY_PREFIX = "imports/bench/run"
FORMATS = ("csv", "jsonl.gz")  # the importer's two formats; each is read either way
COLUMNS = ("sku", "name", "unit_price_cents", "currency", "on_hand")


def run(
    sizes: list[int],
    skus: int,
    ceiling_updates: int,
    distinct: list[int] | None = None,
    dynamodb: str | None = None,
) -> dict[str, Any]:
    plan = [(rows, file_format, skus) for rows in sizes for file_format in FORMATS]
    plan += [(rows, "csv", rows) for rows in distinct or []]
    with aws_endpoint(dynamodb=dynamodb) as endpoints:
        from devtools.provision import provision

        physical = provision()
        environment = physical.function_environment("CatalogImportFunction")
        os.environ.update(environment)
        bucket = physical["ImportBucket"]
        imports = []
        for rows, file_format, cycled in plan:
            key = f"{KEY_PREFIX}-{rows}-{cycled}.{file_format}"
            size = _upload(bucket, key, rows, cycled)
            child = subprocess.run(
                [sys.executable, "-m", "bench.catalog_import", "--import", bucket, key],
                env={**os.environ, **environment, "POWERTOOLS_LOG_LEVEL": "ERROR"},
                capture_output=True,
                text=True,
                check=True,
            )
            outcome: dict[str, Any] = json.loads(child.stdout.splitlines()[-1])
            outcome.update(
                rows=rows, format=file_format, skus=cycled, file_mb=round(size / 2**20, 2)
            )
            imports.append(outcome)
        ceiling = _ceiling(max(cycled for _, _, cycled in plan), ceiling_updates)
    for outcome in imports:
        # The ceiling's rate of updates, over as many rows per update as this import had.
        ceiling_rows_per_s = ceiling["updates_per_s"] * outcome["rows"] / outcome["update_calls"]
        outcome["ceiling_rows_per_s"] = round(ceiling_rows_per_s)
        outcome["x_ceiling"] = round(outcome["rows_per_s"] / ceiling_rows_per_s, 2)
    return {"skus": skus, "backend": endpoints.backend, "ceiling": ceiling, "imports": imports}


def _ceiling(skus: int, updates: int) -> dict[str, Any]:
    """Bare updates, no file, parsing or validation: the same UpdateItem the importer
    sends, for the same SKUs, through a pool as wide as the importer's, to the same
    endpoint."""
    from concurrent.futures import ThreadPoolExecutor

    from devtools.handlers import import_handler_module

    import_handler_module("CatalogImportFunction")  # the layer on the path
    from stockroom.dal.products import apply_catalog_entry
    from stockroom.models import CatalogEntry, utc_now
    from stockroom.settings import get_settings

    concurrency = get_settings().import_write_concurrency
    entries = [
        CatalogEntry(
            sku=_sku(n % skus),
            name=f"Product {n}",
            unit_price_cents=100,
            currency="EUR",
            on_hand=n % 50,
        )
        for n in range(updates)
    ]
    now = utc_now()
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda entry: apply_catalog_entry(entry, now), entries))
    seconds = time.perf_counter() - started
    return {
        "updates": updates,
        "concurrency": concurrency,
        "updates_per_s": round(updates / seconds, 1),
    }


def _sku(n: int) -> str:
    return f"BENCH-{n:07d}"


def _upload(bucket: str, key: str, rows: int, skus: int) -> int:
    import boto3

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "file"
        gzipped = key.endswith(".gz")
        with gzip.open(path, "wt") if gzipped else path.open("w") as file:
            records = (
                (_sku(n % skus), f"Product {n}", 100 + n % 900, "EUR", n % 50) for n in range(rows)
            )
            if ".jsonl" in key:
                for record in records:
                    file.write(json.dumps(dict(zip(COLUMNS, record, strict=True))) + "\n")
            else:
                writer = csv.writer(file, lineterminator="\n")
                writer.writerow(COLUMNS)
                writer.writerows(records)
        boto3.client("s3").upload_file(str(path), bucket, key)
        return path.stat().st_size


def _import(bucket: str, key: str) -> dict[str, Any]:
    """In the child process: the handler, as Lambda would invoke it, to the end."""
    from devtools.buckets import object_put_event
    from devtools.handlers import import_handler_module
    from devtools.runtime import LocalContext
    from devtools.template import function_properties

    handler = import_handler_module("CatalogImportFunction").handler
    from stockroom import aws

    updates: list[str] = []
    aws.dynamodb().meta.events.register(
        "before-call.dynamodb.UpdateItem", lambda **_: updates.append("UpdateItem")
    )
    baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    event = object_put_event(bucket, key)
    invocations = 0
    while True:
        invocations += 1
        (outcome,) = handler(
            event,
            LocalContext(
                "CatalogImportFunction", function_properties("CatalogImportFunction")["Timeout"]
            ),
        )["objects"]
        if outcome["outcome"] != "CONTINUED":
            break
        event = object_put_event(bucket, f"checkpoints/{key}.json")
    seconds = time.perf_counter() - started
    import boto3

    report = json.loads(
        boto3.client("s3").get_object(Bucket=bucket, Key=f"reports/{key}.json")["Body"].read()
    )
    return {
        "status": report["status"],
        "imported": report["imported"],
        "invocations": invocations,
        "update_calls": len(updates),
        "seconds": round(seconds, 1),
        "rows_per_s": round(report["rows"] / seconds),
        "baseline_rss_mb": round(baseline_kb / 1024, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def print_table(summary: dict[str, Any], out: Callable[[str], None] = print) -> None:
    ceiling = summary["ceiling"]
    out(
        f"catalog import on {summary.get('backend', 'moto')}; ceiling "
        f"{ceiling['updates_per_s']} bare updates/s at concurrency {ceiling['concurrency']}"
    )
    columns = (
        "rows",
        "SKUs",
        "format",
        "seconds",
        "rows/s",
        "ceiling",
        "x ceil",
        "peak MB",
        "updates",
    )
    out("{:>9} {:>8} {:<9} {:>8} {:>8} {:>8} {:>7} {:>8} {:>8}".format(*columns))
    for row in summary["imports"]:
        out(
            f"{row['rows']:>9} {row.get('skus', summary['skus']):>8} {row['format']:<9}"
            f" {row['seconds']:>8} {row['rows_per_s']:>8}"
            f" {row['ceiling_rows_per_s']:>8} {row['x_ceiling']:>7} {row['peak_rss_mb']:>8}"
            f" {row['update_calls']:>8}"
        )


def main() -> None:
    parser = harness_parser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--skus", type=int, default=4, help="distinct SKUs the rows cycle")
    parser.add_argument(
        "--distinct", type=int, nargs="*", default=[], help="CSV sizes with a SKU per row"
    )
    parser.add_argument("--ceiling-updates", type=int, default=2000)
    parser.add_argument("--dynamodb", choices=("dynamodb-local", "moto"), help="the backend")
    parser.add_argument("--import", nargs=2, dest="child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_import(*args.child)))
        return
    emit(
        run(args.sizes, args.skus, args.ceiling_updates, args.distinct, args.dynamodb),
        args.json,
        print_table,
    )


if __name__ == "__main__":
    main()
