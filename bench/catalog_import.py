"""Catalog import: throughput and peak memory of the deployed handler importing one file
from moto's S3 into moto's DynamoDB, over HTTP, following its checkpoints to the end.

  .venv/bin/python -m bench.catalog_import --rows 10000 --skus 10000
  .venv/bin/python -m bench.catalog_import --rows 1000000 --skus 10 --gzip

Each import runs in a fresh process, so its peak RSS is the import's alone (the file is
generated and uploaded by the parent, moto runs in a third process). `--skus` is how many
distinct SKUs the rows cycle through: the importer writes the last row for a SKU in each
chunk of rows, so fewer SKUs mean fewer writes for the same rows read, parsed and
validated (moto spends ~7 ms per conditional UpdateItem; a million of them would take
hours without saying anything about the importer).
"""

import argparse
import csv
import gzip
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.endpoint import moto_endpoint

KEY_PREFIX = "imports/bench"


def run(rows: int, skus: int, gzipped: bool) -> dict[str, Any]:
    with moto_endpoint():
        from devtools.provision import provision

        physical = provision()
        environment = physical.function_environment("CatalogImportFunction")
        bucket = physical["ImportBucket"]
        key = f"{KEY_PREFIX}-{rows}.csv{'.gz' if gzipped else ''}"
        size = _upload(bucket, key, rows, skus, gzipped)
        child = subprocess.run(
            [sys.executable, "-m", "bench.catalog_import", "--import", bucket, key],
            env={**os.environ, **environment, "POWERTOOLS_LOG_LEVEL": "ERROR"},
            capture_output=True,
            text=True,
            check=True,
        )
    summary: dict[str, Any] = json.loads(child.stdout.splitlines()[-1])
    summary.update(rows=rows, skus=skus, gzip=gzipped, file_mb=round(size / 2**20, 1))
    return summary


def _upload(bucket: str, key: str, rows: int, skus: int, gzipped: bool) -> int:
    import boto3

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "file"
        with gzip.open(path, "wt") if gzipped else path.open("w") as file:
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow(["sku", "name", "unit_price_cents", "currency", "on_hand"])
            for n in range(rows):
                writer.writerow(
                    [f"BENCH-{n % skus:07d}", f"Product {n}", 100 + n % 900, "EUR", n % 50]
                )
        boto3.client("s3").upload_file(str(path), bucket, key)
        return path.stat().st_size


def _import(bucket: str, key: str) -> dict[str, Any]:
    """In the child process: the handler, as Lambda would invoke it, to the end."""
    from devtools.buckets import object_put_event
    from devtools.runtime import LocalContext
    from devtools.template import function_properties, import_handler_module

    handler = import_handler_module("CatalogImportFunction").handler
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
        "seconds": round(seconds, 1),
        "rows_per_s": round(report["rows"] / seconds),
        "baseline_rss_mb": round(baseline_kb / 1024, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--skus", type=int, help="distinct SKUs (default: one per row)")
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--import", nargs=2, dest="child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_import(*args.child)))
        return
    summary = run(args.rows, args.skus or args.rows, args.gzip)
    if args.json:
        print(json.dumps(summary))
        return
    out = io.StringIO()
    for name, value in summary.items():
        out.write(f"{name:>16}: {value}\n")
    print(out.getvalue(), end="")


if __name__ == "__main__":
    main()
