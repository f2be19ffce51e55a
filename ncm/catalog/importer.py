"""Catalog import: create or update tracks, with their artists, album, genres, renditions and
licenses, from a JSON Lines or CSV file (``ncm catalog import FILE``).

JSON Lines (``.jsonl``, ``.ndjson``, ``.json``): one JSON object per line, one track each::

    {"isrc": "CNA0K2300001", "external_id": "t-1", "title": "晴天",
     "artists": [{"name": "周杰伦", "external_id": "a-1", "region": "TW"}],
     "album": {"title": "叶惠美", "external_id": "al-1", "release_date": "2003-07-31",
               "cover_url": null, "artist_external_id": "a-1"},
     "disc_number": 1, "track_number": 1, "duration_ms": 269000, "language": "zh",
     "explicit": false, "fee_policy": "FREE", "status": "AVAILABLE", "genres": ["pop"],
     "renditions": [{"quality": "STANDARD", "bitrate": 128, "format": "wav",
                     "size_bytes": 480044, "path": "demo/1/standard.wav"}],
     "licenses": [{"region": "*", "available_from": null, "available_until": null}]}

Fields (unknown keys are rejected, so a typo never passes silently):

* ``title`` (required), ``duration_ms`` (required, a positive integer of milliseconds).
* ``isrc`` and/or ``external_id``: at least one, they identify the track on re-import. An ISRC is
  12 characters ``[A-Z]{2}[A-Z0-9]{3}[0-9]{7}``; hyphens are dropped and letters upper-cased.
* ``artists`` (required, credit order): names, or objects ``{name, external_id?, region?}``.
* ``album``: a title, an object ``{title, external_id?, release_date?, cover_url?,
  artist_external_id? | artist?}``, or ``null`` to take the track off its album. The album artist
  is the track's first artist unless ``artist`` (a name or an artist object) or
  ``artist_external_id`` (one of the track's artists, an artist earlier in the file, or one
  already in the catalog) says otherwise.
* ``disc_number``, ``track_number`` (1..32767), ``language`` (a tag such as ``zh`` or ``ja-JP``),
  ``explicit`` (true/false), ``fee_policy`` (FREE, MEMBERS_ONLY, FREE_STANDARD), ``status``
  (AVAILABLE, WITHDRAWN).
* ``genres``: slugs (``pop``, ``k-pop``); an unknown slug creates the genre, named ``Pop``, ``K-Pop``.
* ``renditions``: ``{quality, bitrate, format, size_bytes, path}``, one per quality (STANDARD,
  HIGHER, EXHIGH, LOSSLESS, HIRES); ``path`` is relative to the media root.
* ``licenses``: ``{region, available_from?, available_until?}`` (or just a region), region an ISO
  3166-1 alpha-2 code or ``*`` for everywhere, times ISO 8601 (a date means midnight UTC, a time
  without an offset is UTC).

CSV (``.csv``, UTF-8, a header row; a record's line is the line it starts on): columns ``isrc``,
``external_id``, ``title``, ``artists`` (names separated by ``;``), ``album`` (title),
``album_external_id``, ``release_date``, ``disc_number``, ``track_number``, ``duration_ms``,
``language``, ``explicit`` (true/false/1/0/yes/no), ``fee_policy``, ``genres`` (``;``), ``regions``
(``;``-separated ISO codes or ``*``: licenses without a time window). ``title``, ``artists`` and
``duration_ms`` and one of ``isrc``/``external_id`` are required columns; an unknown column makes
the whole file fail. An empty cell means "not given".

Rules:

* Upsert, idempotent: a track is matched by ISRC, else by external_id; an artist by external_id,
  else by exact name; an album by external_id, else by (title, album artist). Importing the same
  file again writes nothing and reports every row as unchanged.
* A key that is absent leaves the stored value alone; ``genres``, ``renditions`` and ``licenses``,
  when present, replace the track's set; ``artists`` always does. In CSV an empty ``regions``
  cell leaves licenses alone.
* The first record of a file that names an artist or album (by external_id, else by name/title)
  sets its name and details for the whole import; later records only refer to it.
* Every row is validated first; a rejected row is reported with its line number and reason and
  never stops the others. Malformed JSON on a line is a rejection of that line.
* Accepted rows are written in chunks of ``CHUNK_SIZE`` (500), each chunk in one transaction
  with set-based SQL: one lookup per table (``= ANY($1)`` arrays on PostgreSQL, ``IN (?, ...)``
  on SQLite), then one ``INSERT ... RETURNING`` / ``UPDATE`` / ``DELETE`` per table, about
  fifteen statements per chunk whatever its size. Columns a row leaves out get the model's
  defaults. If a chunk fails in the database anyway (a concurrent import, say), it is rolled
  back and retried row by row, each row in its own transaction: the good rows land, the bad
  one is rejected with the database's reason, and no row is ever half-written.
* ``search_text`` (ncm.search.text) is computed for every track, album and artist written, and
  recomputed for the other tracks and albums of an artist or album whose name changes.
* Speed (PostgreSQL, 20,000 tracks with ~7 rows each across the link tables): the first import
  is bound by the database's foreign-key checks and index upkeep, a re-import by Python
  (parsing and validation). Artists without an external_id are looked up by name, which has
  no index: with a very large artists table, add one.
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields import BooleanField, DateField, DatetimeField, Field
from tortoise.fields.data import CharEnumFieldInstance, IntEnumFieldInstance
from tortoise.models import Model
from tortoise.transactions import in_transaction

from ncm.catalog.errors import CatalogErrorCode
from ncm.catalog.models import (
    Album,
    Artist,
    FeePolicy,
    Genre,
    License,
    Quality,
    Rendition,
    Track,
    TrackArtist,
    TrackGenre,
    TrackStatus,
)
from ncm.errors import InvalidInput
from ncm.kit.regions import LANGUAGE_RE, REGIONS
from ncm.kit.text import BIGINT_MAX
from ncm.search.text import document_tokens

logger = logging.getLogger(__name__)

CHUNK_SIZE = 500
MAX_CHUNK_SIZE = 5_000  # keeps every lookup list far below SQLite's variable limit
JSON_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})
CSV_SUFFIXES = frozenset({".csv"})
# parse_file yields {PARSE_ERROR: reason} for a line it cannot read; import_records rejects it.
PARSE_ERROR = "__parse_error__"

ISRC_RE = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}\d{7}$")
GENRE_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
URL_RE = re.compile(r"^https?://[^\s/]+(/\S*)?$")
# Absolute (/x, \\x, C:), a ".." step, or a NUL: not a path relative to the media root.
UNSAFE_PATH_RE = re.compile(r"^[/\\]|^[A-Za-z]:|(?:^|[/\\])\.\.(?:[/\\]|$)|\x00")
SMALLINT_MAX = 32_767
INT_MAX = 2_147_483_647


TRACK_KEYS = frozenset(
    {
        "isrc",
        "external_id",
        "title",
        "artists",
        "album",
        "disc_number",
        "track_number",
        "duration_ms",
        "language",
        "explicit",
        "fee_policy",
        "status",
        "genres",
        "renditions",
        "licenses",
    }
)
ARTIST_KEYS = frozenset({"name", "external_id", "region"})
ALBUM_KEYS = frozenset(
    {"title", "external_id", "release_date", "cover_url", "artist_external_id", "artist"}
)
RENDITION_KEYS = frozenset({"quality", "bitrate", "format", "size_bytes", "path"})
LICENSE_KEYS = frozenset({"region", "available_from", "available_until"})
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

Record = tuple[int, dict[str, Any]]
M = TypeVar("M", bound=Model)


# --- results -----------------------------------------------------------------------------


class ImportFileError(InvalidInput):
    """The file as a whole cannot be read or parsed (missing, unknown extension, bad header)."""

    code = CatalogErrorCode.UNREADABLE_FILE


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    reason: str


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    artists_created: int = 0
    artists_updated: int = 0
    albums_created: int = 0
    albums_updated: int = 0
    genres_created: int = 0

    @property
    def rows(self) -> int:
        return self.created + self.updated + self.unchanged + len(self.rejected)

    @property
    def ok(self) -> bool:
        return not self.rejected

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows"] = self.rows
        return data

    def summary(self) -> dict[str, int]:
        """The counts, for a table."""
        return {
            "rows": self.rows,
            "tracks created": self.created,
            "tracks updated": self.updated,
            "tracks unchanged": self.unchanged,
            "rows rejected": len(self.rejected),
            "artists created": self.artists_created,
            "artists updated": self.artists_updated,
            "albums created": self.albums_created,
            "albums updated": self.albums_updated,
            "genres created": self.genres_created,
        }


# --- reading files -----------------------------------------------------------------------


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
                yield number, _json_record(line)
    except OSError as exc:
        raise _read_error(path, exc) from exc


def _json_record(line: bytes) -> dict[str, Any]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return {PARSE_ERROR: "the line is not valid UTF-8"}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return {PARSE_ERROR: f"malformed JSON: {exc.msg} (column {exc.colno})"}
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
            record[column] = int(cell) if re.fullmatch(r"[+-]?\d+", cell) else cell
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


# --- validation --------------------------------------------------------------------------


class Unset:
    """A key that the record does not give (as opposed to an explicit null)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET = Unset()

ArtistKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class ArtistIn:
    name: str
    external_id: str | None = None
    region: str | None = None  # None: not given, keep what is stored

    @property
    def key(self) -> ArtistKey:
        return ("ext", self.external_id) if self.external_id else ("name", self.name)


@dataclass(frozen=True, slots=True)
class AlbumIn:
    title: str
    artist: ArtistIn | str  # str: the external_id of an artist already in the catalog
    external_id: str | None = None
    release_date: date | Unset | None = UNSET
    cover_url: str | Unset | None = UNSET

    @property
    def artist_key(self) -> ArtistKey:
        return ("ext", self.artist) if isinstance(self.artist, str) else self.artist.key

    @property
    def key(self) -> tuple[str, ...]:
        if self.external_id:
            return ("ext", self.external_id)
        return ("title", self.title, *self.artist_key)


class RenditionIn(NamedTuple):
    quality: Quality
    bitrate: int
    format: str
    size_bytes: int
    path: str


class LicenseIn(NamedTuple):
    region: str
    available_from: datetime | None
    available_until: datetime | None


@dataclass(slots=True)
class TrackIn:
    line: int
    fields: dict[str, Any]  # Track columns the record gives: title, duration_ms always
    artists: list[ArtistIn]
    album: AlbumIn | Unset | None = UNSET
    genres: list[str] | None = None  # None: not given
    renditions: list[RenditionIn] | None = None
    licenses: list[LicenseIn] | None = None

    @property
    def isrc(self) -> str | None:
        return self.fields.get("isrc")

    @property
    def external_id(self) -> str | None:
        return self.fields.get("external_id")


class RowRejected(Exception):
    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reason = "; ".join(reasons)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(
    data: Mapping[str, Any],
    key: str,
    errors: list[str],
    *,
    label: str | None = None,
    max_len: int,
    required: bool = False,
    allow_int: bool = False,
) -> str | None:
    label = label or key
    value = data.get(key)
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is not None and not isinstance(value, str):
        errors.append(f"{label} must be a string (got {_show(value)})")
        return None
    value = unicodedata.normalize("NFC", value.strip()) if value else ""
    if not value:
        if required:
            errors.append(f"{label} is missing")
        return None
    if len(value) > max_len:
        errors.append(f"{label} is longer than {max_len} characters")
        return None
    return value


def _int(
    value: Any, label: str, errors: list[str], *, minimum: int = 1, maximum: int = INT_MAX
) -> int | None:
    kind = "a positive" if minimum == 1 else "a non-negative"
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        errors.append(f"{label} must be {kind} integer (got {_show(value)})")
        return None
    if value > maximum:
        errors.append(f"{label} must be at most {maximum} (got {value})")
        return None
    return value


E = TypeVar("E", FeePolicy, TrackStatus, Quality)


def _enum(value: Any, enum: type[E], label: str, errors: list[str]) -> E | None:
    if isinstance(value, str):
        try:
            return enum(value.strip().upper())
        except ValueError:
            pass
    choices = ", ".join(member.value for member in enum)
    errors.append(f"unknown {label} {_show(value)} (expected one of {choices})")
    return None


def _region(value: Any, label: str, errors: list[str], *, allow_all: bool) -> str | None:
    code = value.strip().upper() if isinstance(value, str) else None
    if code is not None and (code in REGIONS or (allow_all and code == "*")):
        return code
    expected = "an ISO 3166-1 alpha-2 code such as CN" + (" or *" if allow_all else "")
    errors.append(f"bad {label} {_show(value)} (expected {expected})")
    return None


def _date(value: Any, label: str, errors: list[str]) -> date | None:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    errors.append(f"bad {label} {_show(value)} (expected a date such as 2003-07-31)")
    return None


def _datetime(value: Any, label: str, errors: list[str]) -> datetime | None:
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
            parsed = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                return parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
    errors.append(f"bad {label} {_show(value)} (expected ISO 8601 such as 2024-01-31T00:00:00Z)")
    return None


def _unknown_keys(data: Mapping[str, Any], allowed: frozenset[str], where: str) -> str | None:
    if allowed.issuperset(data):
        return None
    return f"unknown field(s) {', '.join(sorted(set(data) - allowed))}{where}"


def normalize_isrc(value: str) -> str:
    return value.strip().replace("-", "").upper()


_QUALITIES = {q.value: q for q in Quality}


def _quick_rendition(item: dict[str, Any]) -> RenditionIn | None:
    """A well-formed rendition without the detailed checks; None sends it through them."""
    quality = item.get("quality")
    bitrate = item.get("bitrate")
    size = item.get("size_bytes")
    fmt = item.get("format")
    path = item.get("path")
    if (
        len(item) == len(RENDITION_KEYS)
        and type(bitrate) is int
        and 0 < bitrate <= INT_MAX
        and type(size) is int
        and 0 <= size <= BIGINT_MAX
        and type(quality) is str
        and quality in _QUALITIES
        and type(fmt) is str
        and 0 < len(fmt) <= 16
        and fmt.isascii()
        and fmt == fmt.strip()
        and type(path) is str
        and 0 < len(path) <= 500
        and path == path.strip()
        and path.isascii()
        and not UNSAFE_PATH_RE.search(path)
    ):
        return RenditionIn(_QUALITIES[quality], bitrate, fmt.lower(), size, path)
    return None


class Validator:
    """Checks records one by one and remembers what the file has said so far (duplicate
    ISRCs and external ids, the first description of each artist and album)."""

    def __init__(self) -> None:
        self.isrc_lines: dict[str, int] = {}
        self.external_id_lines: dict[str, int] = {}
        self.artists: dict[ArtistKey, ArtistIn] = {}
        self.albums: dict[tuple[str, ...], AlbumIn] = {}

    def validate(self, line: int, raw: Mapping[str, Any]) -> TrackIn:
        """The record as a TrackIn, or RowRejected with every reason found."""
        if PARSE_ERROR in raw:
            raise RowRejected([str(raw[PARSE_ERROR])])
        errors: list[str] = []
        if problem := _unknown_keys(raw, TRACK_KEYS, ""):
            errors.append(problem)
        fields = self._track_fields(raw, errors)
        artists = self._artists(raw.get("artists"), errors)
        album = self._album(raw, artists, errors)
        genres = self._genres(raw, errors)
        renditions = self._renditions(raw, errors)
        licenses = self._licenses(raw, errors)

        isrc, external_id = fields.get("isrc"), fields.get("external_id")
        if not isrc and not external_id and raw.get("isrc") is None:
            errors.append("a track needs an isrc or an external_id")
        if isrc and isrc in self.isrc_lines:
            errors.append(f"duplicate isrc {isrc} (first on line {self.isrc_lines[isrc]})")
        if external_id and external_id in self.external_id_lines:
            first = self.external_id_lines[external_id]
            errors.append(f"duplicate external_id {external_id!r} (first on line {first})")
        if errors:
            raise RowRejected(errors)

        # Accepted: the first description of an artist or album wins for the whole file.
        canonical: list[ArtistIn] = []
        for artist in artists:
            artist = self.artists.setdefault(artist.key, artist)
            if artist not in canonical:
                canonical.append(artist)
        if isinstance(album, AlbumIn):
            if isinstance(album.artist, ArtistIn):
                album_artist = self.artists.setdefault(album.artist.key, album.artist)
                if album_artist is not album.artist:
                    album = AlbumIn(
                        album.title,
                        album_artist,
                        album.external_id,
                        album.release_date,
                        album.cover_url,
                    )
            album = self.albums.setdefault(album.key, album)
        if isrc:
            self.isrc_lines[isrc] = line
        if external_id:
            self.external_id_lines[external_id] = line
        return TrackIn(line, fields, canonical, album, genres, renditions, licenses)

    def _track_fields(self, raw: Mapping[str, Any], errors: list[str]) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        title = _text(raw, "title", errors, max_len=300, required=True)
        if title:
            fields["title"] = title
        if "duration_ms" not in raw or raw["duration_ms"] is None:
            errors.append("duration_ms is missing")
        elif (duration := _int(raw["duration_ms"], "duration_ms", errors)) is not None:
            fields["duration_ms"] = duration
        if raw.get("isrc") is not None:
            value = raw["isrc"]
            isrc = normalize_isrc(value) if isinstance(value, str) else None
            if isrc and ISRC_RE.match(isrc):
                fields["isrc"] = isrc
            else:
                errors.append(
                    f"invalid isrc {_show(value)} (12 characters: 2 letters, 3 letters or "
                    "digits, 7 digits, such as CNA0K2300001)"
                )
        external_id = _text(raw, "external_id", errors, max_len=64, allow_int=True)
        if external_id:
            fields["external_id"] = external_id
        for key in ("disc_number", "track_number"):
            if raw.get(key) is not None:
                number = _int(raw[key], key, errors, maximum=SMALLINT_MAX)
                if number is not None:
                    fields[key] = number
        if "language" in raw:
            language = _text(raw, "language", errors, max_len=16)
            if language and not LANGUAGE_RE.match(language):
                errors.append(f"bad language {_show(language)} (expected a tag such as zh or ja)")
            fields["language"] = language
        if raw.get("explicit") is not None:
            if isinstance(raw["explicit"], bool):
                fields["explicit"] = raw["explicit"]
            else:
                errors.append(f"explicit must be true or false (got {_show(raw['explicit'])})")
        if raw.get("fee_policy") is not None:
            fee_policy = _enum(raw["fee_policy"], FeePolicy, "fee_policy", errors)
            if fee_policy is not None:
                fields["fee_policy"] = fee_policy
        if raw.get("status") is not None:
            status = _enum(raw["status"], TrackStatus, "status", errors)
            if status is not None:
                fields["status"] = status
        return fields

    def _artist(self, value: Any, label: str, errors: list[str]) -> ArtistIn | None:
        if isinstance(value, str):
            label = f"{label} name"
            name = _text({"name": value}, "name", errors, label=label, max_len=200, required=True)
            return ArtistIn(name) if name else None
        if not isinstance(value, dict):
            errors.append(f"{label} must be a name or an object (got {_show(value)})")
            return None
        if problem := _unknown_keys(value, ARTIST_KEYS, f" in {label}"):
            errors.append(problem)
        name = _text(value, "name", errors, label=f"{label} name", max_len=200, required=True)
        external_id = _text(
            value, "external_id", errors, label=f"{label} external_id", max_len=64, allow_int=True
        )
        region = None
        if value.get("region") not in (None, ""):
            region = _region(value["region"], f"{label} region", errors, allow_all=False)
        return ArtistIn(name, external_id, region) if name else None

    def _artists(self, value: Any, errors: list[str]) -> list[ArtistIn]:
        if value is None or value == []:
            errors.append("artists is missing (give at least one artist)")
            return []
        if not isinstance(value, list):
            errors.append(f"artists must be a list (got {_show(value)})")
            return []
        artists = []
        for index, item in enumerate(value):
            artist = self._artist(item, f"artists[{index}]", errors)
            if artist is not None:
                artists.append(artist)
        return artists

    def _album(
        self, raw: Mapping[str, Any], artists: list[ArtistIn], errors: list[str]
    ) -> AlbumIn | Unset | None:
        if "album" not in raw:
            return UNSET
        value = raw["album"]
        if value is None:
            return None
        if isinstance(value, str):
            value = {"title": value}
        if not isinstance(value, dict):
            errors.append(f"album must be a title or an object (got {_show(value)})")
            return UNSET
        if problem := _unknown_keys(value, ALBUM_KEYS, " in album"):
            errors.append(problem)
        title = _text(value, "title", errors, label="album title", max_len=300, required=True)
        external_id = _text(
            value, "external_id", errors, label="album external_id", max_len=64, allow_int=True
        )
        release_date: date | Unset | None = UNSET
        if "release_date" in value:
            release_date = (
                None
                if value["release_date"] in (None, "")
                else _date(value["release_date"], "album release_date", errors)
            )
        cover_url: str | Unset | None = UNSET
        if "cover_url" in value:
            cover_url = _text(value, "cover_url", errors, label="album cover_url", max_len=500)
            if cover_url and not URL_RE.match(cover_url):
                errors.append(f"bad album cover_url {_show(cover_url)} (expected an http(s) URL)")
        artist: ArtistIn | str | None = artists[0] if artists else None
        ref = _text(
            value,
            "artist_external_id",
            errors,
            label="album artist_external_id",
            max_len=64,
            allow_int=True,
        )
        if value.get("artist") is not None:
            if ref:
                errors.append("give the album's artist or artist_external_id, not both")
            artist = self._artist(value["artist"], "album artist", errors)
        elif ref:
            given = [a for a in artists if a.external_id == ref]
            artist = given[0] if given else self.artists.get(("ext", ref), ref)
        if not title or artist is None:
            return UNSET
        return AlbumIn(title, artist, external_id, release_date, cover_url)

    def _genres(self, raw: Mapping[str, Any], errors: list[str]) -> list[str] | None:
        value = _optional_list(raw, "genres", "a list of slugs", errors)
        if value is None:
            return None
        slugs: list[str] = []
        for item in value:
            slug = item.strip().lower() if isinstance(item, str) else None
            if slug is None or not GENRE_SLUG_RE.match(slug):
                errors.append(f"bad genre {_show(item)} (expected a slug such as pop or k-pop)")
            elif slug not in slugs:
                slugs.append(slug)
        return slugs

    def _renditions(self, raw: Mapping[str, Any], errors: list[str]) -> list[RenditionIn] | None:
        value = _optional_list(raw, "renditions", "a list", errors)
        if value is None:
            return None
        renditions: list[RenditionIn] = []
        for index, item in enumerate(value):
            label = f"renditions[{index}]"
            if not isinstance(item, dict):
                errors.append(f"{label} must be an object")
                continue
            if (quick := _quick_rendition(item)) is not None:
                _add_once(renditions, quick, "quality", label, errors)
                continue
            if problem := _unknown_keys(item, RENDITION_KEYS, f" in {label}"):
                errors.append(problem)
            if any(item.get(k) is None for k in RENDITION_KEYS):
                missing = sorted(k for k in RENDITION_KEYS if item.get(k) is None)
                errors.append(f"{label} is missing {', '.join(missing)}")
                continue
            before = len(errors)
            quality = _enum(item["quality"], Quality, f"{label} quality", errors)
            bitrate = _int(item["bitrate"], f"{label} bitrate", errors)
            size = _int(
                item["size_bytes"], f"{label} size_bytes", errors, minimum=0, maximum=BIGINT_MAX
            )
            fmt = _text(item, "format", errors, label=f"{label} format", max_len=16, required=True)
            path = _text(item, "path", errors, label=f"{label} path", max_len=500, required=True)
            if path and UNSAFE_PATH_RE.search(path):
                errors.append(f"{label} path must be relative to the media root (got {path!r})")
            if len(errors) > before:
                continue
            assert quality is not None and bitrate is not None and size is not None
            assert fmt is not None and path is not None
            rendition = RenditionIn(quality, bitrate, fmt.lower(), size, path)
            _add_once(renditions, rendition, "quality", label, errors)
        return renditions

    def _licenses(self, raw: Mapping[str, Any], errors: list[str]) -> list[LicenseIn] | None:
        value = _optional_list(raw, "licenses", "a list", errors)
        if value is None:
            return None
        licenses: list[LicenseIn] = []
        for index, item in enumerate(value):
            label = f"licenses[{index}]"
            if isinstance(item, str):
                item = {"region": item}
            if not isinstance(item, dict):
                errors.append(f"{label} must be an object or a region")
                continue
            if problem := _unknown_keys(item, LICENSE_KEYS, f" in {label}"):
                errors.append(problem)
            before = len(errors)
            region = _region(item.get("region"), f"{label} region", errors, allow_all=True)
            start = end = None
            if item.get("available_from") not in (None, ""):
                start = _datetime(item["available_from"], f"{label} available_from", errors)
            if item.get("available_until") not in (None, ""):
                end = _datetime(item["available_until"], f"{label} available_until", errors)
            if start and end and end <= start:
                errors.append(f"{label}: available_until must be after available_from")
            if len(errors) > before or region is None:
                continue
            _add_once(licenses, LicenseIn(region, start, end), "region", label, errors)
        return licenses


def _optional_list(
    raw: Mapping[str, Any], key: str, expected: str, errors: list[str]
) -> list[Any] | None:
    """``raw[key]`` when it is a list; ``None`` when absent (nothing said) or not a list
    (an error noted)."""
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        errors.append(f"{key} must be {expected} (got {_show(value)})")
        return None
    return value


def _add_once(items: list[Any], item: Any, key: str, label: str, errors: list[str]) -> None:
    """Append ``item`` unless one with the same ``key`` attribute is there (an error)."""
    value = getattr(item, key)
    if any(getattr(other, key) == value for other in items):
        shown = value.value if isinstance(value, Enum) else value
        errors.append(f"{label}: {key} {shown} is given twice")
    else:
        items.append(item)


# --- SQL ---------------------------------------------------------------------------------

Row = dict[str, Any]


def _batches(items: Sequence[Any], size: int = CHUNK_SIZE) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@cache
def _fields(model: type[Model]) -> dict[str, Field[Any]]:
    """The model's columns (name -> field), without a generated primary key."""
    meta = model._meta
    return {
        name: meta.fields_map[name]
        for name in meta.db_fields
        if not (meta.fields_map[name].pk and meta.fields_map[name].generated)
    }


@cache
def _pg_type(model: type[Model], column: str) -> str:
    # VARCHAR without its length: a too-long value then fails instead of being cut.
    field = model._meta.fields_map[column]
    return re.sub(r"\(.*\)", "", str(field.get_for_dialect("postgres", "SQL_TYPE")))


_CONVERTED = (DateField, DatetimeField, BooleanField)  # come back from SQLite as text or int


def _names(columns: Iterable[str]) -> str:
    """Quoted column names, comma-separated (they come from the models, never from input)."""
    return ", ".join(f'"{c}"' for c in columns)


def _db_value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _column(model: type[Model], column: str, rows: Sequence[Row], now: datetime) -> list[Any]:
    """One column's values for an insert; a row without the column gets the model's default."""
    field = _fields(model)[column]
    default: Any = None
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        default = now
    elif callable(field.default):
        return [row[column] if column in row else field.default() for row in rows]
    elif field.default is not None:
        default = field.default
    elif not field.null and any(column not in row for row in rows):
        raise ValueError(f"no value for {model._meta.db_table}.{column}")
    values = [row.get(column, default) for row in rows]
    if isinstance(field, CharEnumFieldInstance | IntEnumFieldInstance):
        return [_db_value(v) for v in values]
    return values


class Sql:
    """The few set-based statements the importer needs, for PostgreSQL (one array parameter
    per column, ``$n``) and SQLite (``?`` lists, batched under its variable limit)."""

    SQLITE_MAX_VARIABLES = 30_000

    def __init__(self, conn: BaseDBAsyncClient) -> None:
        self.conn = conn
        self.pg = conn.capabilities.dialect == "postgres"
        self.custom_plans = False

    async def _plan(self, custom: bool) -> None:
        """Lookups are planned for their actual arrays and the tables' current size; writes
        keep PostgreSQL's plan cache.

        asyncpg prepares statements, and PostgreSQL would settle on one generic plan for a
        lookup, picked while the tables were small (a sequential scan): during a large first
        import the tables grow under that plan and every chunk gets slower. The setting is
        switched back for writes because it also applies to the plans of the foreign-key
        checks that every inserted row runs.
        """
        if self.pg and custom != self.custom_plans:
            mode = "force_custom_plan" if custom else "auto"
            await self.conn.execute_script(f"SET LOCAL plan_cache_mode = {mode}")
            self.custom_plans = custom

    def _python(self, model: type[Model], rows: list[Row]) -> list[Row]:
        if self.pg or not rows:
            return rows
        fields = model._meta.fields_map
        convert = [c for c in rows[0] if isinstance(fields.get(c), _CONVERTED)]
        for row in rows:
            for column in convert:
                if row[column] is not None:
                    row[column] = fields[column].to_python_value(row[column])
        return rows

    async def select(
        self,
        model: type[Model],
        columns: Sequence[str],
        where: Mapping[str, Sequence[Any]],
        *,
        join: str = "AND",
    ) -> list[Row]:
        """Rows whose ``column`` is one of the values, for each condition of ``where``."""
        where = {k: list(dict.fromkeys(v)) for k, v in where.items() if v}
        if not where:
            return []
        table = model._meta.db_table
        head = f'SELECT {_names(columns)} FROM "{table}" WHERE '
        if self.pg:
            await self._plan(custom=True)
            conditions = [
                f'"{column}" = ANY(${n}::{_pg_type(model, column)}[])'
                for n, column in enumerate(where, start=1)
            ]
            sql = head + f" {join} ".join(conditions)
            return await self.conn.execute_query_dict(sql, list(where.values()))
        rows: list[Row] = []
        if len(where) == 1:  # one long list: in batches
            ((column, values),) = where.items()
            for batch in _batches(values, 900):
                sql = head + f'"{column}" IN ({", ".join("?" * len(batch))})'
                rows.extend(await self.conn.execute_query_dict(sql, list(batch)))
        else:
            conditions = [f'"{c}" IN ({", ".join("?" * len(v))})' for c, v in where.items()]
            params = [value for values in where.values() for value in values]
            rows = await self.conn.execute_query_dict(head + f" {join} ".join(conditions), params)
        return self._python(model, rows)

    async def insert(
        self, model: type[Model], rows: Sequence[Row], returning: Sequence[str] = ()
    ) -> list[Row]:
        """Inserts the rows; columns they leave out get the model's defaults."""
        if not rows:
            return []
        now = datetime.now(UTC)
        columns = list(_fields(model))
        data = [_column(model, c, rows, now) for c in columns]
        table = model._meta.db_table
        names = _names(columns)
        back = f" RETURNING {_names(returning)}" if returning else ""
        if self.pg:
            await self._plan(custom=False)
            arrays = ", ".join(f"${n}::{_pg_type(model, c)}[]" for n, c in enumerate(columns, 1))
            sql = f'INSERT INTO "{table}" ({names}) SELECT * FROM unnest({arrays}){back}'
            if returning:
                return await self.conn.execute_query_dict(sql, data)
            await self.conn.execute_query(sql, data)
            return []
        out: list[Row] = []
        one = f"({', '.join('?' * len(columns))})"
        matrix = list(zip(*data, strict=True))
        for batch in _batches(matrix, max(1, self.SQLITE_MAX_VARIABLES // len(columns))):
            sql = f'INSERT INTO "{table}" ({names}) VALUES {", ".join([one] * len(batch))}{back}'
            params = [value for row in batch for value in row]
            if returning:
                out.extend(await self.conn.execute_query_dict(sql, params))
            else:
                await self.conn.execute_query(sql, params)
        return out

    async def update(self, model: type[Model], rows: Sequence[Row], columns: Sequence[str]) -> None:
        """Sets ``columns`` of each row, found by its ``id``."""
        if not rows:
            return
        table = model._meta.db_table
        if self.pg:
            await self._plan(custom=False)
            names = ["id", *columns]
            arrays = ", ".join(
                f"${n}::{'BIGINT' if c == 'id' else _pg_type(model, c)}[]"
                for n, c in enumerate(names, start=1)
            )
            sets = ", ".join(f'"{c}" = u."{c}"' for c in columns)
            sql = (
                f'UPDATE "{table}" AS t SET {sets} FROM unnest({arrays}) '
                f"AS u({_names(names)}) WHERE t.id = u.id"
            )
            params = [[_db_value(row[c]) for row in rows] for c in names]
            await self.conn.execute_query(sql, params)
            return
        sets = ", ".join(f'"{c}" = ?' for c in columns)
        await self.conn.execute_many(
            f'UPDATE "{table}" SET {sets} WHERE id = ?',
            [[*(_db_value(row[c]) for c in columns), row["id"]] for row in rows],
        )

    async def delete(self, model: type[Model], column: str, values: Sequence[Any]) -> None:
        if not values:
            return
        table = model._meta.db_table
        if self.pg:
            await self._plan(custom=False)
            sql = f'DELETE FROM "{table}" WHERE "{column}" = ANY($1::{_pg_type(model, column)}[])'
            await self.conn.execute_query(sql, [list(values)])
            return
        for batch in _batches(values, 900):
            sql = f'DELETE FROM "{table}" WHERE "{column}" IN ({", ".join("?" * len(batch))})'
            await self.conn.execute_query(sql, list(batch))


# --- writing -----------------------------------------------------------------------------


@dataclass
class ChunkOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    artists_created: int = 0
    artists_updated: int = 0
    albums_created: int = 0
    albums_updated: int = 0
    genres_created: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    touched: dict[int, int] = field(default_factory=dict)  # track id -> line

    def add_to(self, report: ImportReport, touched: dict[int, int]) -> None:
        report.created += self.created
        report.updated += self.updated
        report.unchanged += self.unchanged
        report.artists_created += self.artists_created
        report.artists_updated += self.artists_updated
        report.albums_created += self.albums_created
        report.albums_updated += self.albums_updated
        report.genres_created += self.genres_created
        report.rejected.extend(self.rejected)
        touched.update(self.touched)


# Artist and album names repeat across chunks: their tokens are computed once per process.
_tokens = lru_cache(maxsize=65_536)(document_tokens)

ARTIST_COLUMNS = ("id", "name", "external_id", "region", "search_text")
ALBUM_COLUMNS = (
    "id",
    "title",
    "external_id",
    "artist_id",
    "release_date",
    "cover_url",
    "search_text",
)
TRACK_COLUMNS = (
    "id",
    "isrc",
    "external_id",
    "title",
    "album_id",
    "disc_number",
    "track_number",
    "duration_ms",
    "language",
    "explicit",
    "fee_policy",
    "status",
    "search_text",
)


@dataclass(slots=True)
class LinkPlan:
    """What to (re)write under one track: its credits, genres, renditions, licenses."""

    row: TrackIn
    track: Row
    artist_ids: list[int]
    new: bool
    artists: bool = True
    genres: bool = True
    renditions: bool = True
    licenses: bool = True


class ChunkWriter:
    """Writes one chunk of validated rows with a handful of set-based statements per table.

    Run it inside a transaction. Artists, albums and tracks are plain dicts here (``id`` is
    None until inserted); inserts return their ids with RETURNING.
    """

    def __init__(self, rows: list[TrackIn], touched: Mapping[int, int], sql: Sql) -> None:
        self.rows = rows
        self.touched = touched
        self.sql = sql
        self.out = ChunkOutcome()
        self.artists_by_ext: dict[str, Row] = {}
        self.artists: dict[ArtistKey, Row] = {}
        self.albums: dict[tuple[str, ...], Row] = {}
        self.genres: dict[str, int] = {}
        self.renamed_artists: set[int] = set()
        self.renamed_albums: set[int] = set()

    def reject(self, row: TrackIn, reason: str) -> None:
        self.out.rejected.append(Rejection(row.line, reason))

    async def run(self) -> ChunkOutcome:
        matches = await self._match_tracks()
        await self._check_album_artists()
        if self.rows:
            await self._write_artists()
            await self._write_albums()
            await self._write_genres()
            await self._write_tracks(matches)
            if self.renamed_artists or self.renamed_albums:
                await refresh_search_text(
                    self.renamed_artists,
                    self.renamed_albums,
                    skip_tracks=set(self.out.touched),
                    skip_albums={a["id"] for a in self.albums.values()},
                )
        return self.out

    async def _match_tracks(self) -> dict[int, Row]:
        """Existing tracks by row line; rejects rows that match ambiguously (before writing)."""
        isrcs = [r.isrc for r in self.rows if r.isrc]
        external_ids = [r.external_id for r in self.rows if r.external_id]
        existing = await self.sql.select(
            Track, TRACK_COLUMNS, {"isrc": isrcs, "external_id": external_ids}, join="OR"
        )
        by_isrc = {t["isrc"]: t for t in existing if t["isrc"]}
        by_ext = {t["external_id"]: t for t in existing if t["external_id"]}
        matches: dict[int, Row] = {}
        claimed: dict[int, int] = {}
        kept = []
        for row in self.rows:
            by_code = by_isrc.get(row.isrc) if row.isrc else None
            by_id = by_ext.get(row.external_id) if row.external_id else None
            if by_code and by_id and by_code["id"] != by_id["id"]:
                self.reject(
                    row,
                    f"isrc {row.isrc} is track #{by_code['id']} but external_id "
                    f"{row.external_id!r} is track #{by_id['id']}",
                )
                continue
            track = by_code or by_id
            if track is not None:
                first = self.touched.get(track["id"]) or claimed.get(track["id"])
                if first is not None:
                    self.reject(row, f"matches the same track (#{track['id']}) as line {first}")
                    continue
                claimed[track["id"]] = row.line
                matches[row.line] = track
            kept.append(row)
        self.rows = kept
        return matches

    async def _check_album_artists(self) -> None:
        """Loads artists by external_id; rejects rows whose album artist is nowhere."""
        wanted: set[str] = set()
        for row in self.rows:
            wanted.update(a.external_id for a in row.artists if a.external_id)
            if isinstance(row.album, AlbumIn):
                if isinstance(row.album.artist, str):
                    wanted.add(row.album.artist)
                elif row.album.artist.external_id:
                    wanted.add(row.album.artist.external_id)
        found = await self.sql.select(Artist, ARTIST_COLUMNS, {"external_id": sorted(wanted)})
        self.artists_by_ext = {a["external_id"]: a for a in found}
        kept = []
        for row in self.rows:
            album = row.album
            if (
                isinstance(album, AlbumIn)
                and isinstance(album.artist, str)
                and album.artist not in self.artists_by_ext
            ):
                self.reject(
                    row,
                    f"album artist_external_id {album.artist!r} is none of the track's "
                    "artists, no artist earlier in the file and no artist in the catalog",
                )
                continue
            kept.append(row)
        self.rows = kept

    def _artist_specs(self) -> list[ArtistIn]:
        specs: dict[ArtistKey, ArtistIn] = {}
        for row in self.rows:
            for artist in row.artists:
                specs.setdefault(artist.key, artist)
            if isinstance(row.album, AlbumIn) and isinstance(row.album.artist, ArtistIn):
                specs.setdefault(row.album.artist.key, row.album.artist)
        return list(specs.values())

    async def _write_artists(self) -> None:
        specs = self._artist_specs()
        by_ext = self.artists_by_ext
        names = {s.name for s in specs if not s.external_id or s.external_id not in by_ext}
        by_name: dict[str, list[Row]] = defaultdict(list)
        found = await self.sql.select(Artist, ARTIST_COLUMNS, {"name": sorted(names)})
        for candidate in sorted(found, key=lambda a: a["id"]):
            by_name[candidate["name"]].append(candidate)
        new: list[Row] = []
        dirty: dict[int, Row] = {}
        for spec in specs:
            artist: Row | None = None
            if spec.external_id:
                artist = by_ext.get(spec.external_id)
                if artist is None:
                    # Not known by this id: take over a same-named artist that has no id yet.
                    unclaimed = [a for a in by_name[spec.name] if a["external_id"] is None]
                    if unclaimed:
                        artist = unclaimed[0]
                        artist["external_id"] = spec.external_id
                        by_ext[spec.external_id] = artist
                        if artist["id"] is not None:
                            dirty[artist["id"]] = artist
            elif by_name[spec.name]:
                artist = by_name[spec.name][0]
            if artist is None:
                artist = {
                    "id": None,
                    "name": spec.name,
                    "external_id": spec.external_id,
                    "region": spec.region,
                    "search_text": _tokens(spec.name),
                }
                new.append(artist)
                by_name[spec.name].append(artist)
                if spec.external_id:
                    by_ext[spec.external_id] = artist
            elif artist["id"] is not None:
                changed = False
                if spec.external_id and artist["name"] != spec.name:
                    if artist in by_name[artist["name"]]:
                        by_name[artist["name"]].remove(artist)
                    artist["name"] = spec.name
                    by_name[spec.name].append(artist)
                    self.renamed_artists.add(artist["id"])
                    changed = True
                if spec.region and artist["region"] != spec.region:
                    artist["region"] = spec.region
                    changed = True
                search_text = _tokens(artist["name"])
                if artist["search_text"] != search_text:
                    artist["search_text"] = search_text
                    changed = True
                if changed:
                    dirty[artist["id"]] = artist
            self.artists[spec.key] = artist
        if dirty:
            await self.sql.update(
                Artist, list(dirty.values()), ["name", "external_id", "region", "search_text"]
            )
            self.out.artists_updated += len(dirty)
        if new:
            inserted = await self.sql.insert(Artist, new, returning=("id", "external_id", "name"))
            # A new artist is the only one with its external_id, or without one by its name.
            ids = {r["external_id"] or ("name", r["name"]): r["id"] for r in inserted}
            for made in new:
                made["id"] = ids[made["external_id"] or ("name", made["name"])]
            self.out.artists_created += len(new)

    def _album_artist(self, album: AlbumIn) -> Row:
        if isinstance(album.artist, str):
            return self.artists_by_ext[album.artist]
        return self.artists[album.artist.key]

    async def _write_albums(self) -> None:
        specs: dict[tuple[str, ...], AlbumIn] = {}
        for row in self.rows:
            if isinstance(row.album, AlbumIn):
                specs.setdefault(row.album.key, row.album)
        if not specs:
            return
        exts = [s.external_id for s in specs.values() if s.external_id]
        found = await self.sql.select(Album, ALBUM_COLUMNS, {"external_id": exts})
        by_ext: dict[str, Row] = {a["external_id"]: a for a in found}
        titles = sorted(
            {s.title for s in specs.values() if not s.external_id or s.external_id not in by_ext}
        )
        artist_ids = sorted({self._album_artist(s)["id"] for s in specs.values()})
        by_pair: dict[tuple[str, int], list[Row]] = defaultdict(list)
        if titles:
            found = await self.sql.select(
                Album, ALBUM_COLUMNS, {"title": titles, "artist_id": artist_ids}
            )
            for candidate in sorted(found, key=lambda a: a["id"]):
                by_pair[(candidate["title"], candidate["artist_id"])].append(candidate)
        new: list[Row] = []
        dirty: dict[int, Row] = {}
        for key, spec in specs.items():
            artist = self._album_artist(spec)
            pair = (spec.title, artist["id"])
            album: Row | None = None
            changed = False
            if spec.external_id and spec.external_id in by_ext:
                album = by_ext[spec.external_id]
                if album["title"] != spec.title:
                    album["title"] = spec.title
                    self.renamed_albums.add(album["id"])
                    changed = True
                if album["artist_id"] != artist["id"]:
                    album["artist_id"] = artist["id"]
                    changed = True
            elif spec.external_id:
                unclaimed = [a for a in by_pair[pair] if a["external_id"] is None]
                if unclaimed:
                    album = unclaimed[0]
                    album["external_id"] = spec.external_id
                    by_ext[spec.external_id] = album
                    changed = album["id"] is not None
            elif by_pair[pair]:
                album = by_pair[pair][0]
            if album is None:
                album = {
                    "id": None,
                    "title": spec.title,
                    "external_id": spec.external_id,
                    "artist_id": artist["id"],
                    "release_date": None
                    if isinstance(spec.release_date, Unset)
                    else spec.release_date,
                    "cover_url": None if isinstance(spec.cover_url, Unset) else spec.cover_url,
                    "search_text": _tokens(spec.title, artist["name"]),
                }
                new.append(album)
                by_pair[pair].append(album)
                if spec.external_id:
                    by_ext[spec.external_id] = album
            elif album["id"] is not None:
                if (
                    not isinstance(spec.release_date, Unset)
                    and album["release_date"] != spec.release_date
                ):
                    album["release_date"] = spec.release_date
                    changed = True
                if not isinstance(spec.cover_url, Unset) and album["cover_url"] != spec.cover_url:
                    album["cover_url"] = spec.cover_url
                    changed = True
                search_text = _tokens(album["title"], artist["name"])
                if album["search_text"] != search_text:
                    album["search_text"] = search_text
                    changed = True
                if changed:
                    dirty[album["id"]] = album
            self.albums[key] = album
        if dirty:
            columns = [
                "title",
                "external_id",
                "artist_id",
                "release_date",
                "cover_url",
                "search_text",
            ]
            await self.sql.update(Album, list(dirty.values()), columns)
            self.out.albums_updated += len(dirty)
        if new:
            inserted = await self.sql.insert(
                Album, new, returning=("id", "external_id", "title", "artist_id")
            )
            ids = {r["external_id"] or (r["title"], r["artist_id"]): r["id"] for r in inserted}
            for album in new:
                album["id"] = ids[album["external_id"] or (album["title"], album["artist_id"])]
            self.out.albums_created += len(new)

    async def _write_genres(self) -> None:
        slugs = sorted({slug for row in self.rows for slug in row.genres or ()})
        found = await self.sql.select(Genre, ("id", "slug"), {"slug": slugs})
        self.genres = {g["slug"]: g["id"] for g in found}
        missing = [s for s in slugs if s not in self.genres]
        if missing:
            rows = [{"slug": s, "name": s.title()} for s in missing]
            inserted = await self.sql.insert(Genre, rows, returning=("id", "slug"))
            self.genres.update({g["slug"]: g["id"] for g in inserted})
            self.out.genres_created += len(missing)

    async def _write_tracks(self, matches: dict[int, Row]) -> None:
        existing_ids = [t["id"] for t in matches.values()]
        current_artists: dict[int, list[int]] = defaultdict(list)
        current_genres: dict[int, set[int]] = defaultdict(set)
        current_renditions: dict[int, set[tuple[Any, ...]]] = defaultdict(set)
        current_licenses: dict[int, set[tuple[Any, ...]]] = defaultdict(set)
        album_titles: dict[int, str] = {}
        if existing_ids:
            links = await self.sql.select(
                TrackArtist, ("track_id", "artist_id", "position", "id"), {"track_id": existing_ids}
            )
            for link in sorted(links, key=lambda r: (r["track_id"], r["position"], r["id"])):
                current_artists[link["track_id"]].append(link["artist_id"])
            if any(r.genres is not None for r in self.rows):
                for link in await self.sql.select(
                    TrackGenre, ("track_id", "genre_id"), {"track_id": existing_ids}
                ):
                    current_genres[link["track_id"]].add(link["genre_id"])
            if any(r.renditions is not None for r in self.rows):
                kinds: tuple[str, ...] = RenditionIn._fields
                for r in await self.sql.select(
                    Rendition, ("track_id", *kinds), {"track_id": existing_ids}
                ):
                    current_renditions[r["track_id"]].add(tuple(r[c] for c in kinds))
            if any(r.licenses is not None for r in self.rows):
                kinds = LicenseIn._fields
                for r in await self.sql.select(
                    License, ("track_id", *kinds), {"track_id": existing_ids}
                ):
                    current_licenses[r["track_id"]].add(tuple(r[c] for c in kinds))
            kept_albums = {
                t["album_id"]
                for row in self.rows
                if isinstance(row.album, Unset)
                and (t := matches.get(row.line)) is not None
                and t["album_id"] is not None
            }
            found = await self.sql.select(Album, ("id", "title"), {"id": sorted(kept_albums)})
            album_titles = {a["id"]: a["title"] for a in found}

        now = datetime.now(UTC)
        new_tracks: list[tuple[TrackIn, Row, list[int]]] = []
        updated: list[Row] = []
        update_columns: set[str] = set()
        plans: list[LinkPlan] = []
        for row in self.rows:
            track = matches.get(row.line)
            artists = list(
                {self.artists[a.key]["id"]: self.artists[a.key] for a in row.artists}.values()
            )
            target = dict(row.fields)
            album_title: str | None = None
            if isinstance(row.album, AlbumIn):
                album = self.albums[row.album.key]
                target["album_id"] = album["id"]
                album_title = album["title"]
            elif row.album is None:
                target["album_id"] = None
            elif track is not None and track["album_id"] is not None:
                album_title = album_titles.get(track["album_id"])
            target["search_text"] = document_tokens(
                target["title"], *(a["name"] for a in artists), album_title
            )
            artist_ids = [a["id"] for a in artists]
            if track is None:
                new_tracks.append((row, target, artist_ids))
                continue
            changed = [k for k, v in target.items() if track[k] != v]
            track.update((k, target[k]) for k in changed)
            relink_artists = current_artists[track["id"]] != artist_ids
            relink_genres = row.genres is not None and current_genres[track["id"]] != {
                self.genres[s] for s in row.genres
            }
            redo_renditions = row.renditions is not None and current_renditions[track["id"]] != set(
                row.renditions
            )
            redo_licenses = row.licenses is not None and current_licenses[track["id"]] != set(
                row.licenses
            )
            self.out.touched[track["id"]] = row.line
            if changed or relink_artists or relink_genres or redo_renditions or redo_licenses:
                track["updated_at"] = now
                updated.append(track)
                update_columns.update(changed)
                self.out.updated += 1
                plans.append(
                    LinkPlan(
                        row,
                        track,
                        artist_ids,
                        new=False,
                        artists=relink_artists,
                        genres=relink_genres,
                        renditions=redo_renditions,
                        licenses=redo_licenses,
                    )
                )
            else:
                self.out.unchanged += 1

        if new_tracks:
            inserted = await self.sql.insert(
                Track, [t for _, t, _ in new_tracks], returning=("id", "isrc", "external_id")
            )
            by_isrc = {r["isrc"]: r["id"] for r in inserted if r["isrc"]}
            by_ext = {r["external_id"]: r["id"] for r in inserted if not r["isrc"]}
            for row, track, artist_ids in new_tracks:
                track["id"] = (
                    by_isrc[track["isrc"]] if track.get("isrc") else by_ext[track["external_id"]]
                )
                self.out.touched[track["id"]] = row.line
                plans.append(LinkPlan(row, track, artist_ids, new=True))
            self.out.created += len(new_tracks)
        if updated:
            await self.sql.update(Track, updated, sorted(update_columns | {"updated_at"}))
        await self._write_links(plans)

    async def _write_links(self, plans: list[LinkPlan]) -> None:
        """Replaces the links that changed; a new track has none to delete."""
        artist_links: list[Row] = []
        genre_links: list[Row] = []
        renditions: list[Row] = []
        licenses: list[Row] = []
        clear: dict[type[Model], list[int]] = defaultdict(list)
        for plan in plans:
            row, track_id = plan.row, plan.track["id"]
            if plan.artists:
                if not plan.new:
                    clear[TrackArtist].append(track_id)
                artist_links.extend(
                    {"track_id": track_id, "artist_id": artist_id, "position": position}
                    for position, artist_id in enumerate(plan.artist_ids)
                )
            if plan.genres and row.genres is not None:
                if not plan.new:
                    clear[TrackGenre].append(track_id)
                genre_links.extend(
                    {"track_id": track_id, "genre_id": self.genres[slug]} for slug in row.genres
                )
            if plan.renditions and row.renditions is not None:
                if not plan.new:
                    clear[Rendition].append(track_id)
                renditions.extend({"track_id": track_id, **r._asdict()} for r in row.renditions)
            if plan.licenses and row.licenses is not None:
                if not plan.new:
                    clear[License].append(track_id)
                licenses.extend({"track_id": track_id, **lic._asdict()} for lic in row.licenses)
        for model, track_ids in clear.items():
            await self.sql.delete(model, "track_id", track_ids)
        await self.sql.insert(TrackArtist, artist_links)
        await self.sql.insert(TrackGenre, genre_links)
        await self.sql.insert(Rendition, renditions)
        await self.sql.insert(License, licenses)


async def refresh_search_text(
    artist_ids: Iterable[int],
    album_ids: Iterable[int],
    *,
    skip_tracks: set[int] | None = None,
    skip_albums: set[int] | None = None,
) -> int:
    """Recompute ``search_text`` of the albums and tracks that show these artists' names or
    these albums' titles (after a rename). Returns the number of rows rewritten."""
    from ncm.catalog.service import albums_by_ids, artists_of_tracks

    artist_ids, album_ids = sorted(set(artist_ids)), sorted(set(album_ids))
    skip_tracks, skip_albums = skip_tracks or set(), skip_albums or set()
    rewritten = 0
    if artist_ids:
        albums = await Album.filter(artist_id__in=artist_ids).select_related("artist")
        stale = []
        for album in albums:
            text = document_tokens(album.title, album.artist.name)
            if album.id not in skip_albums and album.search_text != text:
                album.search_text = text
                stale.append(album)
        if stale:
            await Album.bulk_update(stale, fields=["search_text"], batch_size=100)
            rewritten += len(stale)
    track_ids: set[int] = set()
    if artist_ids:
        linked = await TrackArtist.filter(artist_id__in=artist_ids).values_list("track_id")
        track_ids.update(row[0] for row in linked)
    if album_ids:
        on_albums = await Track.filter(album_id__in=album_ids).values_list("id")
        track_ids.update(row[0] for row in on_albums)
    for batch in _batches(sorted(track_ids - skip_tracks)):
        tracks = await Track.filter(id__in=list(batch))
        names = await artists_of_tracks(batch)
        albums_of = await albums_by_ids([t.album_id for t in tracks if t.album_id is not None])
        stale_tracks = []
        for track in tracks:
            on = albums_of.get(track.album_id) if track.album_id is not None else None
            text = document_tokens(
                track.title,
                *(a.name for a in names.get(track.id, [])),
                on.title if on else None,
            )
            if track.search_text != text:
                track.search_text = text
                stale_tracks.append(track)
        if stale_tracks:
            await Track.bulk_update(stale_tracks, fields=["search_text"], batch_size=100)
            rewritten += len(stale_tracks)
    return rewritten


async def _write(rows: list[TrackIn], report: ImportReport, touched: dict[int, int]) -> None:
    """One transaction for the chunk; if the database refuses it, one per row."""
    try:
        async with in_transaction() as conn:
            outcome = await ChunkWriter(rows, touched, Sql(conn)).run()
    except Exception as exc:
        if len(rows) == 1:
            logger.warning("import: line %d not written: %s", rows[0].line, exc)
            report.rejected.append(Rejection(rows[0].line, f"could not be written: {exc}"))
            return
        logger.warning(
            "import: chunk of lines %d-%d failed (%s); retrying row by row",
            rows[0].line,
            rows[-1].line,
            exc,
        )
        for row in rows:
            await _write([row], report, touched)
        return
    outcome.add_to(report, touched)


async def import_records(
    records: Iterable[Record],
    *,
    progress: Callable[[int], None] | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> ImportReport:
    """Validate and upsert the records; ``progress(n)`` is told how many were handled so far."""
    chunk_size = max(1, min(chunk_size, MAX_CHUNK_SIZE))
    report = ImportReport()
    validator = Validator()
    touched: dict[int, int] = {}
    pending: list[TrackIn] = []
    handled = reported = 0
    for line, raw in records:
        handled += 1
        try:
            pending.append(validator.validate(line, raw))
        except RowRejected as exc:
            report.rejected.append(Rejection(line, exc.reason))
        if len(pending) >= chunk_size:
            await _write(pending, report, touched)
            pending = []
        if progress is not None and handled - reported >= chunk_size:
            progress(handled)
            reported = handled
    if pending:
        await _write(pending, report, touched)
    if progress is not None:
        progress(handled)
    report.rejected.sort(key=lambda r: r.line)
    return report


async def import_file(
    path: str | Path, progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Import a JSON Lines or CSV file (see the module docstring for the format)."""
    return await import_records(parse_file(path), progress=progress)
