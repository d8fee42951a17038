"""Catalog rows from a merchant's file, read one bounded line at a time.

Formats, by name: CSV with a header row (`.csv`) and JSON Lines (`.jsonl`), each also
gzipped (`.csv.gz`, `.jsonl.gz`). A record is one line: CSV values may be quoted to hold
commas and quotes, not line breaks, so every row has exactly one line number. Columns or
keys beyond the catalog fields are ignored (and listed in the report); a missing required
one rejects the file (CSV header) or the row (JSON Lines). An optional field
(`max_per_customer`) may be left out, or empty (CSV) or null (JSON Lines): no value.

Memory is bounded by the longest allowed line (1 MiB), whatever the file's size: a longer
line is rejected and skipped in pieces, never held whole.
"""

import csv
import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from io import BufferedIOBase
from typing import Any

from pydantic import ValidationError

from stockroom.models import CatalogEntry, ErrorDetail

MAX_LINE_BYTES = 1024 * 1024
CATALOG_FIELDS = tuple(CatalogEntry.model_fields)
REQUIRED_FIELDS = tuple(name for name, f in CatalogEntry.model_fields.items() if f.is_required())
# A report lists at most this many ignored column or key names.
_MAX_IGNORED_NAMES = 50
# Rejected rows quote at most this much of a SKU that failed validation.
_MAX_QUOTED_SKU = 100
_SKIP_PIECE_BYTES = 64 * 1024
_UTF8_BOM = b"\xef\xbb\xbf"


class FileFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


@dataclass(frozen=True)
class FileKind:
    format: FileFormat
    gzipped: bool

    @classmethod
    def of_key(cls, key: str) -> "FileKind | None":
        """The kind a file's name declares, or None for a name the importer does not read."""
        gzipped = key.endswith(".gz")
        name = key.removesuffix(".gz")
        for file_format in FileFormat:
            if name.endswith(f".{file_format.value}"):
                return cls(file_format, gzipped)
        return None


SUPPORTED_SUFFIXES = tuple(
    f".{file_format.value}{'.gz' if gzipped else ''}"
    for file_format in FileFormat
    for gzipped in (False, True)
)


class UnreadableFileError(Exception):
    """The file as a whole cannot be read: empty, not text, corrupt, no usable header."""


@dataclass(frozen=True)
class Position:
    """Bytes of the (decompressed) file consumed and lines read, both up to a line's end."""

    offset: int = 0
    line: int = 0


@dataclass
class ParsedRow:
    line: int
    entry: CatalogEntry | None
    sku: str | None = None
    problems: list[ErrorDetail] = field(default_factory=list)


def _problem(field_name: str, message: str) -> list[ErrorDetail]:
    return [ErrorDetail(field=field_name, message=message)]


class RowReader:
    """Iterates the rows of a file from `start`; `position` is just past the last row
    yielded, where a later reader can start again.

    `columns` is the CSV header: read from the file when starting at its beginning,
    carried over (from a checkpoint) when starting after it."""

    def __init__(
        self,
        stream: BufferedIOBase,
        kind: FileKind,
        start: Position = Position(),
        columns: list[str] | None = None,
    ) -> None:
        self._stream = stream
        self._kind = kind
        self.position = start
        self.columns = columns
        self.ignored_names: list[str] = []
        if kind.format is FileFormat.CSV and columns is None:
            self._read_header()

    def __iter__(self) -> Iterator[ParsedRow]:
        while True:
            raw = self._next_line()
            if raw is None:
                return
            if isinstance(raw, bytes) and (not raw or raw.isspace()):
                continue
            yield self._parse(raw)

    # ------------------------------------------------------------------ lines
    def _next_line(self) -> "bytes | _TooLong | None":
        """The next line without its terminator; None at the end of the file; TOO_LONG
        for a line over MAX_LINE_BYTES, which has then been read past, never held whole."""
        try:
            # Room for the longest allowed line and a CRLF: a longer read means too long.
            piece = self._stream.readline(MAX_LINE_BYTES + 2)
            if not piece:
                return None
            consumed = len(piece)
            line = piece.rstrip(b"\r\n") if piece.endswith(b"\n") else piece
            too_long = len(line) > MAX_LINE_BYTES
            if too_long and not piece.endswith(b"\n"):
                while piece and not piece.endswith(b"\n"):
                    piece = self._stream.readline(_SKIP_PIECE_BYTES)
                    consumed += len(piece)
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:
            raise UnreadableFileError(
                f"the gzip data is corrupt or truncated after line {self.position.line} "
                f"({error}); the rows before it were imported"
            ) from error
        if self.position.offset == 0 and line.startswith(_UTF8_BOM):
            line = line[len(_UTF8_BOM) :]
        self.position = Position(self.position.offset + consumed, self.position.line + 1)
        return _TOO_LONG if too_long else line

    def _read_header(self) -> None:
        while True:
            raw = self._next_line()
            if raw is None:
                empty = self.position.offset == 0
                raise UnreadableFileError(
                    "the file is empty" if empty else "the file has no header row"
                )
            if isinstance(raw, _TooLong):
                raise UnreadableFileError("the header line is longer than 1 MiB")
            if raw and not raw.isspace():
                break
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise UnreadableFileError(f"the file is not UTF-8 text: {_describe(error)}") from error
        try:
            columns = [name.strip() for name in next(csv.reader([text], strict=True))]
        except csv.Error as error:
            raise UnreadableFileError(f"the header row is not valid CSV: {error}") from error
        duplicates = sorted({name for name in columns if columns.count(name) > 1})
        if duplicates:
            raise UnreadableFileError(f"the header names a column twice: {', '.join(duplicates)}")
        missing = [name for name in REQUIRED_FIELDS if name not in columns]
        if missing:
            raise UnreadableFileError(
                f"the header row must name the columns {', '.join(REQUIRED_FIELDS)}; "
                f"missing: {', '.join(missing)} (first line: {text[:200]!r})"
            )
        self.columns = columns
        self._ignore([name for name in columns if name not in CATALOG_FIELDS])

    def _ignore(self, names: list[str]) -> None:
        for name in names:
            if name not in self.ignored_names and len(self.ignored_names) < _MAX_IGNORED_NAMES:
                self.ignored_names.append(name)

    # ------------------------------------------------------------------- rows
    def _parse(self, raw: "bytes | _TooLong") -> ParsedRow:
        line = self.position.line
        if isinstance(raw, _TooLong):
            return ParsedRow(
                line, None, problems=_problem("line", "longer than 1 MiB; the line was skipped")
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            return ParsedRow(
                line, None, problems=_problem("line", f"not UTF-8 text: {_describe(error)}")
            )
        if self._kind.format is FileFormat.CSV:
            return self._csv_row(line, text)
        return self._json_row(line, text)

    def _csv_row(self, line: int, text: str) -> ParsedRow:
        assert self.columns is not None
        try:
            values = next(csv.reader([text], strict=True))
        except csv.Error as error:
            return ParsedRow(line, None, problems=_problem("line", f"not valid CSV: {error}"))
        if len(values) != len(self.columns):
            return ParsedRow(
                line,
                None,
                problems=_problem(
                    "line",
                    f"has {len(values)} values but the header names {len(self.columns)} "
                    "columns (is a value with a comma unquoted?)",
                ),
            )
        record = {
            name: value.strip()
            for name, value in zip(self.columns, values, strict=True)
            if name in CATALOG_FIELDS and (name in REQUIRED_FIELDS or value.strip())
        }
        return _validated(line, record, strict=False)

    def _json_row(self, line: int, text: str) -> ParsedRow:
        try:
            record: Any = json.loads(text)
        except json.JSONDecodeError as error:
            return ParsedRow(
                line,
                None,
                problems=_problem("line", f"not valid JSON: {error.msg} at column {error.colno}"),
            )
        if not isinstance(record, dict):
            return ParsedRow(line, None, problems=_problem("line", "must be a JSON object"))
        self._ignore([name for name in record if name not in CATALOG_FIELDS])
        catalog_fields = {name: record[name] for name in CATALOG_FIELDS if name in record}
        return _validated(line, catalog_fields, strict=True)


class _TooLong:
    """Stands for a line over MAX_LINE_BYTES."""


_TOO_LONG = _TooLong()


def _validated(line: int, record: dict[str, Any], *, strict: bool) -> ParsedRow:
    """CSV values are text and are converted ("12" -> 12); JSON values must already be
    of the field's type (12, not "12" or 12.5)."""
    try:
        return ParsedRow(line, CatalogEntry.model_validate(record, strict=strict))
    except ValidationError as error:
        sku = record.get("sku")
        return ParsedRow(
            line,
            None,
            sku=sku[:_MAX_QUOTED_SKU] if isinstance(sku, str) else None,
            problems=[
                ErrorDetail(
                    field=".".join(str(part) for part in problem["loc"]) or "line",
                    message=problem["msg"],
                )
                for problem in error.errors()
            ],
        )


def _describe(error: UnicodeDecodeError) -> str:
    return f"byte 0x{error.object[error.start]:02x} at column {error.start + 1}; save it as UTF-8"
