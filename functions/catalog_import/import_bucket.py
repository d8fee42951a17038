"""The import bucket: each merchant's files under imports/<merchant>/, the importer's
reports under reports/, and checkpoints under checkpoints/ for imports that continue in
a fresh invocation (writing one is what triggers that invocation). Merchants may write
their own prefix alone; reports/ and checkpoints/ only the importer (docs/security.md)."""

import gzip
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from aws_lambda_powertools.utilities.streaming import S3Object
from botocore.exceptions import ClientError

from stockroom import aws
from stockroom.models import ImportCheckpoint, ImportReport, RejectedRow

IMPORTS_PREFIX = "imports/"
REPORTS_PREFIX = "reports/"
CHECKPOINTS_PREFIX = "checkpoints/"
_READ_BUFFER_BYTES = 256 * 1024
_MISSING = {"NoSuchKey", "NoSuchBucket", "404"}
# imports/<merchant>/<name>: the merchant id is what its upload policy's tag allows.
_MERCHANT_KEY = re.compile(r"imports/([A-Za-z0-9_-]{1,64})/[^/].*", re.DOTALL)
_CHANGED = {"PreconditionFailed", "412"}


class SourceMissingError(Exception):
    """The object (or its bucket) named by a notification does not exist."""


class SourceChangedError(Exception):
    """The object was overwritten since the import began; the newer upload has an import
    of its own."""


class SourceVersion(NamedTuple):
    """The object now at a key: an import reads exactly this version."""

    etag: str
    size: int


def merchant_of(key: str) -> str | None:
    """The merchant whose prefix holds `key`, or None for a key under no merchant's."""
    found = _MERCHANT_KEY.fullmatch(key)
    return found[1] if found else None


def report_key(source_key: str) -> str:
    return f"{REPORTS_PREFIX}{source_key}.json"


def errors_key(source_key: str) -> str:
    return f"{REPORTS_PREFIX}{source_key}.errors.jsonl"


def checkpoint_key(source_key: str) -> str:
    return f"{CHECKPOINTS_PREFIX}{source_key}.json"


def _quoted(etag: str) -> str:
    """S3 headers quote ETags; notifications do not."""
    return etag if etag.startswith('"') else f'"{etag}"'


def current_version(bucket: str, key: str) -> SourceVersion:
    """The ETag and size of the object now at `key`: the import reads exactly that version."""
    try:
        head = aws.s3().head_object(Bucket=bucket, Key=key)
        return SourceVersion(head["ETag"], int(head["ContentLength"]))
    except ClientError as error:
        if aws.error_code(error) in _MISSING:
            raise SourceMissingError(f"s3://{bucket}/{key} does not exist") from error
        raise


class _TranslatedReads(io.RawIOBase):
    """S3Object's reads, with S3's answers turned into this module's errors."""

    def __init__(self, source: S3Object) -> None:
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]  # RawIOBase's buffer type is wider
        try:
            data = self._source.read(len(buffer))
        except ClientError as error:
            code = aws.error_code(error)
            where = f"s3://{self._source.bucket}/{self._source.key}"
            if code in _CHANGED:
                raise SourceChangedError(f"{where} was overwritten during its import") from error
            if code in _MISSING:
                raise SourceMissingError(f"{where} was deleted during its import") from error
            raise
        buffer[: len(data)] = data
        return len(data)


@contextmanager
def open_source(
    bucket: str, key: str, etag: str, offset: int, gzipped: bool
) -> Iterator[io.BufferedIOBase]:
    """The object's content from `offset` (of its decompressed bytes when gzipped), read
    in ranged, buffered requests of the version with `etag` only."""
    source = S3Object(bucket=bucket, key=key, boto3_client=aws.s3(), IfMatch=_quoted(etag))
    stream: io.BufferedIOBase
    if gzipped:
        # A gzip stream cannot be entered in the middle: it is decompressed from the start
        # and the first `offset` bytes are discarded (no parsing, no writes).
        stream = gzip.GzipFile(fileobj=_TranslatedReads(source), mode="rb")
        stream.seek(offset)
    else:
        source.seek(offset)
        stream = io.BufferedReader(_TranslatedReads(source), buffer_size=_READ_BUFFER_BYTES)
    try:
        yield stream
    finally:
        stream.close()
        source.close()  # type: ignore[no-untyped-call]  # unannotated in Powertools


def read_checkpoint(bucket: str, key: str, etag: str) -> ImportCheckpoint | None:
    """The checkpoint a notification announced; None when it has since been replaced (the
    notification is stale) or removed."""
    try:
        body = aws.s3().get_object(Bucket=bucket, Key=key, IfMatch=_quoted(etag))["Body"]
    except ClientError as error:
        if aws.error_code(error) in _CHANGED | _MISSING:
            return None
        raise
    return ImportCheckpoint.model_validate_json(body.read())


def checkpoint_mismatch(bucket: str, key: str, checkpoint: ImportCheckpoint) -> str | None:
    """Why the checkpoint found at `key` does not describe an import of an upload that is
    still there as it was (bucket, key, ETag, size); None when it does. Only the importer
    may write checkpoints/, so a mismatch is a stale checkpoint or a planted one."""
    if checkpoint.bucket != bucket or checkpoint_key(checkpoint.key) != key:
        return "it names another object than its own key does"
    if merchant_of(checkpoint.key) is None:
        return "it names no merchant's upload"
    try:
        current = current_version(bucket, checkpoint.key)
    except SourceMissingError:
        return "its upload is gone"
    if (_quoted(current.etag), current.size) != (_quoted(checkpoint.etag), checkpoint.size):
        return "its upload's ETag or size differs"
    return None


def write_checkpoint(checkpoint: ImportCheckpoint) -> None:
    aws.s3().put_object(
        Bucket=checkpoint.bucket,
        Key=checkpoint_key(checkpoint.key),
        Body=checkpoint.model_dump_json().encode(),
        ContentType="application/json",
    )


def write_report(bucket: str, report: ImportReport, listed_errors: list[RejectedRow]) -> None:
    """The rejected rows first, then the summary: a reader who finds the summary finds
    the rows it counts."""
    lines = "".join(f"{row.model_dump_json()}\n" for row in listed_errors)
    aws.s3().put_object(
        Bucket=bucket,
        Key=report.errors_key,
        Body=lines.encode(),
        ContentType="application/x-ndjson",
    )
    aws.s3().put_object(
        Bucket=bucket,
        Key=report_key(report.key),
        Body=report.model_dump_json(indent=2).encode(),
        ContentType="application/json",
    )
