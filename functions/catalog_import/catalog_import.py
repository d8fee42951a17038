"""Catalog import: every good row of a merchant's file into the products table, every bad
row into a report, stock reservations kept intact.

The file is streamed in chunks of rows. A chunk's rows are written side by side by a
bounded pool (throttled writes are retried) while the next chunk is read and parsed;
a chunk counts as imported, and the checkpoint moves past it, once its writes are done.
When the invocation's time runs short after a chunk, the import writes a checkpoint
(where the file stands, the counts, the rejected rows so far) under checkpoints/; that
write is an S3 notification like an upload, and the invocation it starts resumes exactly
there.

Each notification is handled once: a duplicate delivery (same bucket, key and S3
sequencer) returns the first outcome without reading anything.
"""

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from io import BufferedIOBase
from typing import Self, cast

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
from pydantic import BaseModel

import import_bucket
from import_files import (
    SUPPORTED_SUFFIXES,
    FileKind,
    ParsedRow,
    Position,
    RowReader,
    UnreadableFileError,
)
from stockroom.dal import idempotency, products
from stockroom.models import (
    CatalogEntry,
    ErrorDetail,
    ImportCheckpoint,
    ImportReport,
    ImportStatus,
    RejectedRow,
    Timestamp,
    utc_now,
)
from stockroom.observability import count, logger
from stockroom.once import per_container
from stockroom.retry import with_retries
from stockroom.settings import get_settings

# errors.jsonl lists the first rejected rows up to this bound; `rejected` counts them all.
MAX_LISTED_ERRORS = 1000
CONTINUED = "CONTINUED"
SKIPPED = "SKIPPED"


class StoredObject(BaseModel):
    """An object an S3 notification announces. Duplicate deliveries of one notification
    share its sequencer (or, from notifiers that leave that out, the ETag)."""

    bucket: str
    key: str
    etag: str = ""
    sequencer: str = ""


class ObjectOutcome(BaseModel):
    """What handling one notification did: a report status, CONTINUED (handed over to a
    fresh invocation) or SKIPPED, with why."""

    key: str
    outcome: str
    detail: str | None = None


@per_container
def idempotency_config() -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="[bucket, key, sequencer || etag]",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=get_settings().idempotency_ttl_seconds,
    )


def handle_object(stored: StoredObject, seconds_left: Callable[[], float]) -> ObjectOutcome:
    """Imports an uploaded file, or resumes the import a checkpoint describes.
    `seconds_left` is the invocation's remaining time."""
    return _idempotent_handling()(stored=stored, seconds_left=seconds_left)


@per_container
def _idempotent_handling() -> Callable[..., ObjectOutcome]:
    def handle(stored: StoredObject, seconds_left: Callable[[], float]) -> ObjectOutcome:
        return _handle(stored, seconds_left)

    return idempotency.once_per_key(handle, "stored", ObjectOutcome, idempotency_config())


def _handle(stored: StoredObject, seconds_left: Callable[[], float]) -> ObjectOutcome:
    if stored.key.startswith(import_bucket.CHECKPOINTS_PREFIX):
        checkpoint = import_bucket.read_checkpoint(stored.bucket, stored.key, stored.etag)
        if checkpoint is None:
            return ObjectOutcome(
                key=stored.key, outcome=SKIPPED, detail="a later checkpoint replaced this one"
            )
        mismatch = import_bucket.checkpoint_mismatch(stored.bucket, stored.key, checkpoint)
        if mismatch is not None:
            # Ignored, and no report written: it may not overwrite the real import's.
            logger.warning("checkpoint ignored", key=stored.key, reason=mismatch)
            return ObjectOutcome(
                key=stored.key, outcome=SKIPPED, detail=f"checkpoint ignored: {mismatch}"
            )
        return _Import(checkpoint).run(seconds_left)
    if import_bucket.merchant_of(stored.key) is None or not FileKind.of_key(stored.key):
        logger.warning("not an import file; ignored", key=stored.key)
        return ObjectOutcome(
            key=stored.key,
            outcome=SKIPPED,
            detail=f"imports are read from {import_bucket.IMPORTS_PREFIX}<merchant>/ with "
            f"names ending in {', '.join(SUPPORTED_SUFFIXES)}",
        )
    started_at = utc_now()
    try:
        version = import_bucket.current_version(stored.bucket, stored.key)
    except import_bucket.SourceMissingError as error:
        return _report_missing(stored, started_at, error)
    return _Import(_beginning(stored, version, started_at)).run(seconds_left)


def _beginning(
    stored: StoredObject, version: import_bucket.SourceVersion, started_at: Timestamp
) -> ImportCheckpoint:
    """An import of `stored` before its first row."""
    return ImportCheckpoint(
        bucket=stored.bucket,
        key=stored.key,
        etag=version.etag,
        size=version.size,
        offset=0,
        line=0,
        columns=None,
        rows=0,
        imported=0,
        rejected=0,
        listed_errors=[],
        ignored_columns=[],
        started_at=started_at,
        invocations=0,
    )


def _report_missing(
    stored: StoredObject, started_at: Timestamp, error: import_bucket.SourceMissingError
) -> ObjectOutcome:
    """A FAILED report for an object that is gone; if even the report cannot be written
    (no such bucket), the error itself, naming the key, fails the invocation."""
    logger.error("import source missing", bucket=stored.bucket, key=stored.key)
    missing = import_bucket.SourceVersion(stored.etag, 0)
    state = _beginning(stored, missing, started_at).model_copy(update={"invocations": 1})
    try:
        return _finish(state, f"{error}; nothing was imported")
    except Exception as write_error:
        raise error from write_error


class _Import:
    """One invocation's share of an import, from `checkpoint` on."""

    def __init__(self, checkpoint: ImportCheckpoint) -> None:
        self.state = checkpoint.model_copy(update={"invocations": checkpoint.invocations + 1})
        self.settings = get_settings()
        kind = FileKind.of_key(checkpoint.key)
        assert kind is not None, "only import files get a checkpoint"  # pragma: no mutate
        self.kind = kind
        self.failure: str | None = None

    def run(self, seconds_left: Callable[[], float]) -> ObjectOutcome:
        state = self.state
        try:
            with (
                import_bucket.open_source(
                    state.bucket, state.key, state.etag, state.offset, self.kind.gzipped
                ) as stream,
                ThreadPoolExecutor(self.settings.import_write_concurrency) as pool,
            ):
                finished = self._import_rows(stream, pool, seconds_left)
            if not finished:
                import_bucket.write_checkpoint(self.state)
                count("ImportsContinued")
                logger.info("import continues in a fresh invocation", extra=self._progress())
                return ObjectOutcome(
                    key=state.key, outcome=CONTINUED, detail=f"after line {self.state.line}"
                )
        except import_bucket.SourceChangedError as error:
            logger.warning("import abandoned: its file was overwritten", key=state.key)
            return ObjectOutcome(key=state.key, outcome=SKIPPED, detail=str(error))
        except import_bucket.SourceMissingError as error:
            self.failure = f"{error}; rows before line {self.state.line + 1} were imported"
        except Exception as error:
            # Lambda retries the invocation (from the same checkpoint), then sends its
            # event to the import DLQ; meanwhile the report says what happened.
            self._report_interruption(error)
            raise
        return _finish(self.state, self.failure)

    def _import_rows(
        self, stream: BufferedIOBase, pool: ThreadPoolExecutor, seconds_left: Callable[[], float]
    ) -> bool:
        """Reads and writes rows; True once the file is done (read to its end, or found
        unreadable: self.failure), False when time runs short. A chunk is parsed while
        the one before it is written; self.state follows each chunk once it is written."""
        chunk: list[ParsedRow] = []
        reader: RowReader | None = None
        writing: _ChunkWrite | None = None
        try:
            reader = RowReader(
                stream, self.kind, Position(self.state.offset, self.state.line), self.state.columns
            )
            for row in reader:
                chunk.append(row)
                if len(chunk) < self.settings.import_chunk_rows:
                    continue
                if writing is not None:
                    self._settle(writing)
                    writing = None
                    if self._short_of_time(seconds_left):
                        return False  # the chunk just read is read again from the checkpoint
                writing = _ChunkWrite.start(chunk, reader, pool)
                chunk = []
        except UnreadableFileError as error:
            self.failure = str(error)
        if writing is not None:
            self._settle(writing)
            if chunk and self.failure is None and self._short_of_time(seconds_left):
                return False
        if reader is not None:
            # Rows read before the end, or before the point where the file broke off.
            self._settle(_ChunkWrite.start(chunk, reader, pool))
        if self.failure is None and self.state.rows == 0:
            self.failure = "the file is empty" if self.state.offset == 0 else "the file has no rows"
        return True

    def _short_of_time(self, seconds_left: Callable[[], float]) -> bool:
        return seconds_left() < self.settings.import_deadline_margin_seconds

    def _report_interruption(self, error: Exception) -> None:
        try:
            _finish(
                self.state,
                f"interrupted after line {self.state.line} ({type(error).__name__}: {error}); "
                "the import is retried, and its event goes to the import DLQ if retries fail",
            )
        except Exception:
            logger.exception("could not report the interruption", key=self.state.key)

    def _settle(self, writing: "_ChunkWrite") -> None:
        """Waits for a chunk's writes, then moves self.state past it."""
        chunk = writing.chunk
        rejected = [
            RejectedRow(line=row.line, sku=row.sku, errors=row.problems)
            for row in chunk
            if row.entry is None
        ]
        refused = [row for write in writing.writes for row in write.result()]
        rejected = sorted(rejected + refused, key=lambda row: row.line)
        valid = sum(1 for row in chunk if row.entry is not None)
        room = MAX_LISTED_ERRORS - len(self.state.listed_errors)
        ignored = self.state.ignored_columns + [
            name for name in writing.ignored_names if name not in self.state.ignored_columns
        ]
        self.state = self.state.model_copy(
            update={
                "offset": writing.position.offset,
                "line": writing.position.line,
                "columns": writing.columns,
                "rows": self.state.rows + len(chunk),
                "imported": self.state.imported + valid - len(refused),
                "rejected": self.state.rejected + len(rejected),
                "listed_errors": self.state.listed_errors + rejected[: max(room, 0)],
                "ignored_columns": ignored,
            }
        )
        count("RowsImported", valid - len(refused))
        count("RowsRejected", len(rejected))

    def _progress(self) -> dict[str, object]:
        # A log line's fields: not mutated, as log lines are not (docs/testing.md).
        fields = {"key", "line", "rows", "imported", "rejected"}  # pragma: no mutate
        return self.state.model_dump(include=fields)  # pragma: no mutate


@dataclass(frozen=True)
class _ChunkWrite:
    """A chunk of rows being written by the pool, and where the file stood after it."""

    chunk: list[ParsedRow]
    position: Position
    columns: list[str] | None
    ignored_names: list[str]
    writes: list["Future[list[RejectedRow]]"]

    @classmethod
    def start(cls, chunk: list[ParsedRow], reader: RowReader, pool: ThreadPoolExecutor) -> Self:
        # As if the file were applied line by line: SKUs side by side, and the rows of one
        # SKU in their order (so the last accepted one wins, and each is counted as it
        # fared: a row superseded by a refused one still took effect).
        by_sku: dict[str, list[ParsedRow]] = {}
        for row in chunk:
            if row.entry is not None:
                by_sku.setdefault(row.entry.sku, []).append(row)
        now = utc_now()
        return cls(
            chunk=chunk,
            position=reader.position,
            columns=reader.columns,
            ignored_names=list(reader.ignored_names),
            writes=[pool.submit(_write_rows, rows, now) for rows in by_sku.values()],
        )


def _write_rows(rows: list[ParsedRow], now: str) -> list[RejectedRow]:
    """One SKU's rows applied as if line by line, in one write where it can be: a row
    takes effect when its on_hand covers the units reserved, and the last one that does
    wins. So the last row is written; when it took effect, each earlier row is
    superseded (imported) or, below the reserved units, refused; when it is refused,
    so is every earlier row below the units reserved, and the last of the others is
    written next. Returns the rows refused."""
    left = list(rows)
    refused: list[RejectedRow] = []
    while left:
        row = left.pop()
        entry = cast(CatalogEntry, row.entry)
        try:
            reserved = with_retries(
                partial(products.apply_catalog_entry, entry, now), f"import of SKU {entry.sku}"
            )
            took_effect = True
        except products.ReservedExceedsOnHandError as error:
            reserved, took_effect = error.reserved, False
            refused.append(_refused(row, reserved))
        refused += [_refused(r, reserved) for r in left if _on_hand(r) < reserved]
        if took_effect:
            break
        left = [r for r in left if _on_hand(r) >= reserved]
    return refused


def _on_hand(row: ParsedRow) -> int:
    return cast(CatalogEntry, row.entry).on_hand


def _refused(row: ParsedRow, reserved: int) -> RejectedRow:
    entry = cast(CatalogEntry, row.entry)
    return RejectedRow(
        line=row.line,
        sku=entry.sku,
        errors=[
            ErrorDetail(
                field="on_hand",
                message=f"{entry.on_hand} is below the {reserved} units reserved by "
                "confirmed orders; the product was left unchanged",
            )
        ],
    )


def _finish(state: ImportCheckpoint, failure: str | None) -> ObjectOutcome:
    if failure is not None:
        status = ImportStatus.FAILED
    elif state.rejected:
        status = ImportStatus.PARTIAL
    else:
        status = ImportStatus.SUCCEEDED
    finished_at = utc_now()
    report = ImportReport(
        key=state.key,
        status=status,
        rows=state.rows,
        imported=state.imported,
        rejected=state.rejected,
        started_at=state.started_at,
        finished_at=finished_at,
        duration_ms=_milliseconds_between(state.started_at, finished_at),
        reason=failure,
        errors_key=import_bucket.errors_key(state.key),
        errors_listed=len(state.listed_errors),
        ignored_columns=state.ignored_columns,
        invocations=state.invocations,
    )
    import_bucket.write_report(state.bucket, report, state.listed_errors)
    count(f"Imports{status.value.title()}")
    logger.info(
        "import finished",
        **report.model_dump(include={"key", "status", "rows", "imported", "rejected", "reason"}),
    )
    return ObjectOutcome(key=state.key, outcome=status.value, detail=failure)


def _milliseconds_between(start: Timestamp, end: Timestamp) -> int:
    parsed = [datetime.strptime(moment, "%Y-%m-%dT%H:%M:%S.%fZ") for moment in (start, end)]
    return int((parsed[1] - parsed[0]).total_seconds() * 1000)
