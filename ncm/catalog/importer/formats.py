"""Reading import files: JSON Lines and CSV records as ``(line, dict)``, lazily.

A file that cannot be used at all raises :class:`ImportFileError` at once; a single
unreadable line becomes ``(line, {PARSE_ERROR: reason})``, which the importer rejects like
any invalid row. CSV rows are turned into the JSON record shape (:func:`csv_record`), so
validation sees one shape whatever the format.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ncm.errors import InvalidInput

JSON_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})
CSV_SUFFIXES = frozenset({".csv"})
# parse_file yields {PARSE_ERROR: reason} for a line it cannot read; the importer rejects it.
PARSE_ERROR = "__parse_error__"

CSV_COLUMNS = (
    "isrc",
    "external_id",
    "title",
    "artists",
    "album",
    "album_external_id",
    "release_date",
    "disc_number",
    "track_number",
    "duration_ms",
    "language",
    "explicit",
    "fee_policy",
    "genres",
    "regions",
)
CSV_REQUIRED = ("title", "artists", "duration_ms")
CSV_TRUE = frozenset({"true", "1", "yes", "y"})
CSV_FALSE = frozenset({"false", "0", "no", "n"})
_INTEGER = re.compile(r"[+-]?\d+")

Record = tuple[int, dict[str, Any]]


class ImportFileError(InvalidInput):
    """The file as a whole cannot be read or parsed (missing, unknown extension, bad header)."""

    code = "UNREADABLE_FILE"


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in JSON_SUFFIXES:
        return "jsonl"
    if suffix in CSV_SUFFIXES:
        return "csv"
    known = ", ".join(sorted(JSON_SUFFIXES | CSV_SUFFIXES))
    raise ImportFileError(
        f"{path.name}: unknown file type {suffix or '(none)'!r}; expected one of {known}",
        field="file",
    )


def _check_readable(path: Path) -> bytes:
    """The first bytes of the file, or ImportFileError if it cannot be opened."""
    try:
        with path.open("rb") as fh:
            return fh.read(4096)
    except IsADirectoryError as exc:
        raise ImportFileError(f"{path} is a directory", field="file") from exc
    except FileNotFoundError as exc:
        raise ImportFileError(f"{path}: no such file", field="file") from exc
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read ({exc.strerror})", field="file") from exc


def parse_file(path: str | Path) -> Iterator[Record]:
    """The file's records as ``(line_number, dict)``, read lazily.

    Raises ImportFileError at once when the file cannot be used at all (missing, unreadable,
    unknown extension, a CSV header without the required columns, a JSON array instead of
    JSON Lines). A single unreadable line becomes ``(line, {PARSE_ERROR: reason})``.
    """
    path = Path(path)
    kind = _kind(path)
    head = _check_readable(path)
    if kind == "csv":
        header = _csv_header(path)
        return _csv_records(path, header)
    if head.removeprefix(codecs.BOM_UTF8).lstrip().startswith(b"["):
        raise ImportFileError(
            f"{path.name} holds a JSON array; write one JSON object per line (JSON Lines)",
            field="file",
        )
    return _jsonl_records(path)


def estimate_records(path: str | Path) -> int:
    """About how many records the file holds (its lines, less a CSV header): for progress."""
    path = Path(path)
    lines = 0
    last = b"\n"
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    if last != b"\n":
        lines += 1
    if _kind(path) == "csv":
        lines -= 1
    return max(lines, 0)


def _read_error(path: Path, exc: OSError) -> ImportFileError:
    return ImportFileError(f"{path}: reading failed ({exc.strerror or exc})", field="file")


def _jsonl_records(path: Path) -> Iterator[Record]:
    try:
        with path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                line = raw.removeprefix(codecs.BOM_UTF8) if number == 1 else raw
                if not line.strip():
                    continue
                yield number, json_record(line, number)
    except OSError as exc:
        raise _read_error(path, exc) from exc


def json_record(line: bytes, number: int) -> dict[str, Any]:
    """One JSON Lines line as a record; ``{PARSE_ERROR: reason}`` if it is not one."""
    try:
        text = line.decode("utf-8").rstrip("\r\n")  # columns count within the line
    except UnicodeDecodeError as exc:
        return {PARSE_ERROR: f"line {number} is not valid UTF-8 (byte {exc.start + 1})"}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {number}, column {exc.colno}"
        if exc.pos >= len(text.rstrip()):
            # Nothing wrong until the line ran out: the object was cut short.
            return {PARSE_ERROR: f"malformed JSON: {where}: the line ends inside the object"}
        return {PARSE_ERROR: f"malformed JSON: {where}: {exc.msg}"}
    if not isinstance(value, dict):
        kind = "an array" if isinstance(value, list) else type(value).__name__
        return {PARSE_ERROR: f"a line must hold one JSON object, not {kind}"}
    return value


class _CsvLines:
    """Decodes a CSV file line by line, remembering the lines that are not UTF-8."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bad: set[int] = set()

    def __iter__(self) -> Iterator[str]:
        with self.path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                line = raw.removeprefix(codecs.BOM_UTF8) if number == 1 else raw
                try:
                    yield line.decode("utf-8")
                except UnicodeDecodeError:
                    self.bad.add(number)
                    yield "\n"


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """``(first line, cells, error)`` for every non-blank CSV record."""
    lines = _CsvLines(path)
    reader = csv.reader(iter(lines))
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, None, f"malformed CSV: {exc}"
            continue
        end = reader.line_num
        if any(start <= n <= end for n in lines.bad):
            yield start, None, "the line is not valid UTF-8"
        elif cells and any(c.strip() for c in cells):
            yield start, cells, None


def _csv_header(path: Path) -> list[str]:
    try:
        for line, cells, error in _csv_rows(path):
            if cells is None:
                raise ImportFileError(f"{path.name} line {line}: {error}", field="file")
            header = [c.strip().lower() for c in cells]
            break
        else:
            return []  # an empty file: nothing to import
    except OSError as exc:
        raise _read_error(path, exc) from exc
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if unknown:
        raise ImportFileError(
            f"{path.name}: unknown column(s) {', '.join(map(repr, unknown))}; "
            f"known columns are {', '.join(CSV_COLUMNS)}",
            field="file",
        )
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise ImportFileError(f"{path.name}: repeated column(s) {', '.join(duplicated)}")
    missing = [c for c in CSV_REQUIRED if c not in header]
    if missing:
        raise ImportFileError(
            f"{path.name}: missing required column(s) {', '.join(missing)}", field="file"
        )
    if "isrc" not in header and "external_id" not in header:
        raise ImportFileError(
            f"{path.name}: needs an isrc or an external_id column to identify tracks",
            field="file",
        )
    return header


def _csv_records(path: Path, header: list[str]) -> Iterator[Record]:
    if not header:
        return
    first = True
    try:
        for line, cells, error in _csv_rows(path):
            if first:  # the header
                first = False
                continue
            if cells is None:
                yield line, {PARSE_ERROR: error or "unreadable line"}
            elif len(cells) != len(header):
                reason = f"has {len(cells)} fields, the header has {len(header)}"
                yield line, {PARSE_ERROR: reason}
            else:
                yield line, csv_record(dict(zip(header, cells, strict=True)))
    except OSError as exc:
        raise _read_error(path, exc) from exc


def _split(cell: str) -> list[str]:
    return [part.strip() for part in cell.split(";") if part.strip()]


def csv_record(row: Mapping[str, str]) -> dict[str, Any]:
    """A CSV row (column -> cell) as a record in the JSON shape; empty cells are left out."""
    record: dict[str, Any] = {}
    album: dict[str, Any] = {}
    for column, raw in row.items():
        cell = raw.strip()
        if not cell:
            continue
        if column in ("artists", "genres"):
            record[column] = _split(cell)
        elif column == "regions":
            record["licenses"] = [{"region": region} for region in _split(cell)]
        elif column == "album":
            album["title"] = cell
        elif column == "album_external_id":
            album["external_id"] = cell
        elif column == "release_date":
            album["release_date"] = cell
        elif column in ("disc_number", "track_number", "duration_ms"):
            record[column] = int(cell) if _INTEGER.fullmatch(cell) else cell
        elif column == "explicit":
            lowered = cell.lower()
            record[column] = (
                True if lowered in CSV_TRUE else False if lowered in CSV_FALSE else cell
            )
        else:
            record[column] = cell
    if album:
        record["album"] = album
    return record
