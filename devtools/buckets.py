"""S3 notifications for the importer, shaped like `sam local generate-event s3 put`
output (events/s3_put_import_generated.json), for tests, benchmarks and the local stack."""

import copy
import itertools
import json
from functools import cache
from typing import Any
from urllib.parse import quote_plus

import boto3

from devtools.template import ROOT

# S3 gives each notification of a key a sequencer that grows with time.
_sequencers = itertools.count(0x0A1B2C3D4E5F6789)


@cache
def _sample() -> dict[str, Any]:
    sample: dict[str, Any] = json.loads(
        (ROOT / "events" / "s3_put_import_generated.json").read_text()
    )
    return sample


def s3_put_event(bucket: str, key: str, etag: str) -> dict[str, Any]:
    """The notification of an object put at `key` (URL-encoded, as S3 sends it)."""
    event = copy.deepcopy(_sample())
    record = event["Records"][0]
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    record["s3"]["object"]["key"] = quote_plus(key, safe="/")
    record["s3"]["object"]["eTag"] = etag.strip('"')
    record["s3"]["object"]["sequencer"] = f"{next(_sequencers):018X}"
    return event


def object_put_event(bucket: str, key: str) -> dict[str, Any]:
    """The notification of the object now at `key`."""
    etag = boto3.client("s3").head_object(Bucket=bucket, Key=key)["ETag"]
    return s3_put_event(bucket, key, etag)
