"""Import files for importer tests: uploaded to the stack's import bucket, announced to
the handler by S3 events shaped like `sam local generate-event s3 put` output
(events/s3_put_import_generated.json), with the chain of checkpoint events followed."""

import csv
import gzip
import io
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote_plus

import boto3

import catalog_import_s3
from devtools import buckets
from devtools.intrinsics import Stack
from devtools.provision import LOCAL_STACK_NAME
from devtools.template import load_template
from stockroom import aws as stockroom_aws
from stockroom.dal import products as products_table
from stockroom.settings import get_settings
from support.context import FakeLambdaContext

HEADER = ["sku", "name", "unit_price_cents", "currency", "on_hand"]


def bucket() -> str:
    """The import bucket as `provision` names it (the template's BucketName, resolved)."""
    name = load_template()["Resources"]["ImportBucket"]["Properties"]["BucketName"]
    region = boto3.session.Session().region_name or "eu-west-1"
    return str(Stack(LOCAL_STACK_NAME, region).resolve(name))


def csv_bytes(rows: Iterable[Iterable[Any]], header: Iterable[str] = HEADER) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode()


def jsonl_bytes(records: Iterable[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)


def row(sku: str, on_hand: int = 10, price: int = 1299, name: str | None = None) -> list[Any]:
    return [sku, name or f"Product {sku}", price, "EUR", on_hand]


def s3_put_event(key: str, etag: str) -> dict[str, Any]:
    return buckets.s3_put_event(bucket(), key, etag)


def upload(key: str, body: bytes) -> dict[str, Any]:
    """Puts the object and returns the S3 event announcing it."""
    response = boto3.client("s3").put_object(Bucket=bucket(), Key=key, Body=body)
    return s3_put_event(key, response["ETag"])


def invoke(event: dict[str, Any], context: Any = None) -> list[dict[str, Any]]:
    result = catalog_import_s3.handler(event, context or FakeLambdaContext(timeout_seconds=300))
    outcomes: list[dict[str, Any]] = result["objects"]
    return outcomes


def checkpoint_event(source_key: str) -> dict[str, Any]:
    """The notification S3 sends when the importer writes its checkpoint for `source_key`."""
    return buckets.object_put_event(bucket(), f"checkpoints/{source_key}.json")


def import_to_the_end(
    event: dict[str, Any], context_factory: Callable[[], Any] = FakeLambdaContext
) -> list[dict[str, Any]]:
    """Invokes the handler with `event`, then with each checkpoint's notification, as S3
    and Lambda would, until the import finishes; the outcomes of every invocation."""
    source_key = unquote_plus(event["Records"][0]["s3"]["object"]["key"])
    outcomes = invoke(event, context_factory())
    while outcomes[-1]["outcome"] == "CONTINUED":
        outcomes += invoke(checkpoint_event(source_key), context_factory())
    return outcomes


@contextmanager
def product_writes() -> Iterator[Counter[str]]:
    """Counts the UpdateItem calls the importer sends to the products table, by SKU."""
    written: Counter[str] = Counter()
    table = get_settings().require("products_table_name")

    def record(params: dict[str, Any], **_: Any) -> None:
        if params["TableName"] == table:
            written[params["Key"]["sku"]["S"]] += 1

    events = stockroom_aws.dynamodb().meta.events
    events.register("provide-client-params.dynamodb.UpdateItem", record)
    try:
        yield written
    finally:
        events.unregister("provide-client-params.dynamodb.UpdateItem", record)


def report(source_key: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The summary and the listed rejected rows of the import of `source_key`."""
    s3 = boto3.client("s3")
    summary = json.loads(
        s3.get_object(Bucket=bucket(), Key=f"reports/{source_key}.json")["Body"].read()
    )
    errors_body = s3.get_object(Bucket=bucket(), Key=summary["errors_key"])["Body"].read()
    return summary, [json.loads(line) for line in errors_body.decode().splitlines()]


def stock(sku: str) -> tuple[int, int, int]:
    """(on_hand, reserved, available) of a product."""
    product = products_table.get_product(sku)
    assert product is not None, sku
    return product.on_hand, product.reserved, product.available
