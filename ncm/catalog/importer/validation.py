"""Validating import records: pydantic models of a record, and the file-level checks.

:class:`TrackRecord` and the models under it describe one record (the JSON shape; CSV rows are
converted to it). Every field rule is a small validator that raises :class:`Problem` with a
message template; :func:`reasons` turns pydantic's errors into the importer's reasons, naming
each place the way the file does (``artists[0] name``, ``renditions[1] quality``). Unknown keys
are rejected (``extra="forbid"``), so a typo never passes silently.

:class:`Validator` adds what one record cannot know: ISRCs and external ids repeated in the
file, and the first description of each artist and album, which wins for the whole import.
Its output, :class:`TrackIn`, is what the writer needs, with :data:`ncm.kit.unset.UNSET` for a
key the record leaves out (as opposed to an explicit null).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Annotated, Any, NamedTuple

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    model_validator,
)

from ncm.catalog.importer.formats import PARSE_ERROR
from ncm.catalog.models import FeePolicy, Quality, TrackStatus
from ncm.kit.regions import LANGUAGE_RE, REGIONS
from ncm.kit.text import BIGINT_MAX
from ncm.kit.unset import UNSET

ISRC_RE = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}\d{7}$")
GENRE_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
URL_RE = re.compile(r"^https?://[^\s/]+(/\S*)?$")
# Absolute (/x, \\x, C:), a ".." step, or a NUL: not a path relative to the media root.
UNSAFE_PATH_RE = re.compile(r"^[/\\]|^[A-Za-z]:|(?:^|[/\\])\.\.(?:[/\\]|$)|\x00")
SMALLINT_MAX = 32_767
INT_MAX = 2_147_483_647


# --- field rules -------------------------------------------------------------------------


class Problem(ValueError):
    """A field's value is wrong. ``template`` may name ``{label}`` (where the value sits in
    the record, filled in by :func:`reasons`) and ``{got}`` (the value, shortened)."""

    def __init__(self, template: str, value: Any = None) -> None:
        super().__init__(template)
        self.template = template
        self.value = value


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(
    max_len: int,
    *,
    required: bool = False,
    allow_int: bool = False,
    like: tuple[re.Pattern[str], str] | None = None,
) -> Any:
    """Trimmed, NFC-normalized text; empty is ``None`` (or "missing" if required).
    ``like``: a pattern the text must match, and what it looks like (for the message)."""

    def check(value: Any) -> str | None:
        if type(value) is str:
            value = value.strip()
            if not value.isascii():
                value = unicodedata.normalize("NFC", value)
        elif allow_int and type(value) is int:
            value = str(value)
        elif value is not None:
            raise Problem("{label} must be a string (got {got})", value)
        if not value:
            if required:
                raise Problem("{label} is missing")
            return None
        if len(value) > max_len:
            raise Problem(f"{{label}} is longer than {max_len} characters")
        if like is not None and not like[0].match(value):
            raise Problem(f"bad {{label}} {{got}} (expected {like[1]})", value)
        return value

    return PlainValidator(check)


def _int(*, minimum: int = 1, maximum: int = INT_MAX) -> Any:
    kind = "a positive" if minimum == 1 else "a non-negative"

    def check(value: Any) -> int:
        if value is None:
            raise Problem("{label} is missing")
        if type(value) is not int or value < minimum:
            raise Problem(f"{{label}} must be {kind} integer (got {{got}})", value)
        if value > maximum:
            raise Problem(f"{{label}} must be at most {maximum} (got {{got}})", value)
        return value

    return PlainValidator(check)


def _enum(enum: type[Enum]) -> Any:
    choices = ", ".join(str(member.value) for member in enum)

    members = {str(member.value): member for member in enum}

    def check(value: Any) -> Enum:
        if isinstance(value, str):
            found = members.get(value) or members.get(value.strip().upper())
            if found is not None:
                return found
        raise Problem(f"unknown {{label}} {{got}} (expected one of {choices})", value)

    return PlainValidator(check)


def _region(*, allow_all: bool) -> Any:
    expected = "an ISO 3166-1 alpha-2 code such as CN" + (" or *" if allow_all else "")

    def check(value: Any) -> str | None:
        if value is None or value == "":
            if allow_all:
                raise Problem(f"bad {{label}} {{got}} (expected {expected})", value)
            return None
        code = value.strip().upper() if isinstance(value, str) else None
        if code is not None and (code in REGIONS or (allow_all and code == "*")):
            return code
        raise Problem(f"bad {{label}} {{got}} (expected {expected})", value)

    return PlainValidator(check)


def _check_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise Problem("bad {label} {got} (expected a date such as 2003-07-31)", value)


def _check_datetime(value: Any) -> datetime | None:
    """ISO 8601; a date means midnight UTC, a time without an offset is UTC."""
    if value is None or value == "":
        return None
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
    raise Problem("bad {label} {got} (expected ISO 8601 such as 2024-01-31T00:00:00Z)", value)


def normalize_isrc(value: str) -> str:
    return value.strip().replace("-", "").upper()


def _check_isrc(value: Any) -> str | None:
    if value is None:
        return None
    isrc = normalize_isrc(value) if isinstance(value, str) else None
    if isrc and ISRC_RE.match(isrc):
        return isrc
    raise Problem(
        "invalid isrc {got} (12 characters: 2 letters, 3 letters or digits, 7 digits,"
        " such as CNA0K2300001)",
        value,
    )


def _check_explicit(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise Problem("{label} must be true or false (got {got})", value)


def _check_genre(value: Any) -> str:
    slug = value.strip().lower() if isinstance(value, str) else None
    if slug is None or not GENRE_SLUG_RE.match(slug):
        raise Problem("bad genre {got} (expected a slug such as pop or k-pop)", value)
    return slug


_path_text = _text(500, required=True).func


def _check_path(value: Any) -> str:
    path = _path_text(value)
    assert path is not None
    if UNSAFE_PATH_RE.search(path):
        raise Problem("{label} must be relative to the media root (got {got})", path)
    return path


def _one_of(key: str, expected: str, *, optional: bool = True) -> Callable[[Any], Any]:
    """A value given as a string stands for ``{key: value}``; anything else but an object
    (or, if ``optional``, null) is an error."""

    def wrap(value: Any) -> Any:
        if isinstance(value, dict) or (optional and value is None):
            return value
        if isinstance(value, str):
            return {key: value}
        raise Problem(f"{{label}} must be {expected} (got {{got}})", value)

    return wrap


def _object(value: Any) -> Any:
    if isinstance(value, dict):
        return value
    raise Problem("{label} must be an object")


def _license_item(value: Any) -> Any:
    if isinstance(value, str):
        return {"region": value}
    if isinstance(value, dict):
        return value
    raise Problem("{label} must be an object or a region")


def _optional_list(expected: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value is None or isinstance(value, list):
            return value
        raise Problem(f"{{label}} must be {expected} (got {{got}})", value)

    return check


def _required_list(value: Any) -> Any:
    if value is None or value == []:
        raise Problem("{label} is missing (give at least one artist)")
    if not isinstance(value, list):
        raise Problem("{label} must be a list (got {got})", value)
    return value


def _once(items: Sequence[Any], key: str, label: str) -> None:
    """No two items with the same ``key``: each one given again is a problem."""
    values = [getattr(item, key) for item in items]
    if len(set(values)) == len(values):
        return
    seen: set[Any] = set()
    problems = []
    for index, value in enumerate(values):
        if value in seen:
            shown = value.value if isinstance(value, Enum) else value
            problems.append(f"{label}[{index}]: {key} {shown} is given twice")
        seen.add(value)
    if problems:
        raise Problem("; ".join(problems))


# --- the record ----------------------------------------------------------------------------

_RECORD = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

Name = Annotated[str, _text(200, required=True)]
ExternalId = Annotated[str | None, _text(64, allow_int=True)]


class ArtistRecord(BaseModel):
    """An artist: ``{name, external_id?, region?}``, or just a name."""

    model_config = _RECORD
    name: Name
    external_id: ExternalId = None
    region: Annotated[str | None, _region(allow_all=False)] = None


ArtistItem = Annotated[
    ArtistRecord, BeforeValidator(_one_of("name", "a name or an object", optional=False))
]


class AlbumRecord(BaseModel):
    """An album: ``{title, external_id?, release_date?, cover_url?, artist_external_id? |
    artist?}``, or just a title. Which keys were given: ``model_fields_set``."""

    model_config = _RECORD
    title: Annotated[str, _text(300, required=True)]
    external_id: ExternalId = None
    release_date: Annotated[date | None, PlainValidator(_check_date)] = None
    cover_url: Annotated[str | None, _text(500, like=(URL_RE, "an http(s) URL"))] = None
    artist_external_id: ExternalId = None
    artist: Annotated[
        ArtistRecord | None, BeforeValidator(_one_of("name", "a name or an object"))
    ] = None

    @model_validator(mode="after")
    def _one_artist(self) -> AlbumRecord:
        if self.artist is not None and self.artist_external_id:
            raise Problem("give the album's artist or artist_external_id, not both")
        return self


class RenditionRecord(BaseModel):
    model_config = _RECORD
    quality: Annotated[Quality, _enum(Quality)]
    bitrate: Annotated[int, _int()]
    format: Annotated[str, _text(16, required=True)]
    size_bytes: Annotated[int, _int(minimum=0, maximum=BIGINT_MAX)]
    path: Annotated[str, PlainValidator(_check_path)]


class LicenseRecord(BaseModel):
    model_config = _RECORD
    region: Annotated[str, _region(allow_all=True)]
    available_from: Annotated[datetime | None, PlainValidator(_check_datetime)] = None
    available_until: Annotated[datetime | None, PlainValidator(_check_datetime)] = None

    @model_validator(mode="after")
    def _window(self) -> LicenseRecord:
        start, end = self.available_from, self.available_until
        if start and end and end <= start:
            raise Problem("{label}: available_until must be after available_from")
        return self


def _unique_slugs(slugs: list[str]) -> list[str]:
    return list(dict.fromkeys(slugs))


def _unique(key: str, label: str) -> Callable[[list[Any]], list[Any]]:
    def check(items: list[Any]) -> list[Any]:
        _once(items, key, label)
        return items

    return check


class TrackRecord(BaseModel):
    """One record: a track with its artists, album, genres, renditions and licenses."""

    model_config = _RECORD
    isrc: Annotated[str | None, PlainValidator(_check_isrc)] = None
    external_id: ExternalId = None
    title: Annotated[str, _text(300, required=True)]
    artists: Annotated[
        list[ArtistItem], BeforeValidator(_required_list), Field(validate_default=True)
    ] = None  # type: ignore[assignment]  # None is refused ("artists is missing")
    album: Annotated[
        AlbumRecord | None, BeforeValidator(_one_of("title", "a title or an object"))
    ] = None
    disc_number: Annotated[int | None, _int(maximum=SMALLINT_MAX)] = None
    track_number: Annotated[int | None, _int(maximum=SMALLINT_MAX)] = None
    duration_ms: Annotated[int, _int()]
    language: Annotated[str | None, _text(16, like=(LANGUAGE_RE, "a tag such as zh or ja"))] = None
    explicit: Annotated[bool | None, PlainValidator(_check_explicit)] = None
    fee_policy: Annotated[FeePolicy | None, _enum(FeePolicy)] = None
    status: Annotated[TrackStatus | None, _enum(TrackStatus)] = None
    genres: Annotated[
        list[Annotated[str, PlainValidator(_check_genre)]] | None,
        BeforeValidator(_optional_list("a list of slugs")),
    ] = None
    renditions: Annotated[
        list[Annotated[RenditionRecord, BeforeValidator(_object)]] | None,
        BeforeValidator(_optional_list("a list")),
    ] = None
    licenses: Annotated[
        list[Annotated[LicenseRecord, BeforeValidator(_license_item)]] | None,
        BeforeValidator(_optional_list("a list")),
    ] = None

    @model_validator(mode="after")
    def _sets(self) -> TrackRecord:
        problems = []
        for items, key, label in (
            (self.renditions, "quality", "renditions"),
            (self.licenses, "region", "licenses"),
        ):
            try:
                _once(items or (), key, label)
            except Problem as exc:
                problems.append(exc.template)
        if problems:
            raise Problem("; ".join(problems))
        return self


# Fields of a record that are columns of the track; None means "not given" except for
# language, where an explicit null clears it.
TRACK_FIELDS = (
    "isrc",
    "external_id",
    "title",
    "disc_number",
    "track_number",
    "duration_ms",
    "language",
    "explicit",
    "fee_policy",
    "status",
)


def _label(loc: Iterable[int | str]) -> str:
    """``('artists', 0, 'name')`` as ``artists[0] name``."""
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int) and parts:
            parts[-1] += f"[{part}]"
        else:
            parts.append(str(part))
    return " ".join(parts)


def reasons(error: ValidationError) -> list[str]:
    """pydantic's errors as the importer's reasons, in the record's order; unknown keys are
    gathered per object (``unknown field(s) a, b in album``)."""
    found: list[str] = []
    unknown: dict[tuple[Any, ...], list[str]] = {}
    missing: dict[tuple[Any, ...], list[str]] = {}
    for item in error.errors(include_url=False):
        loc, kind = item["loc"], item["type"]
        if kind in ("extra_forbidden", "missing"):
            keys = (unknown if kind == "extra_forbidden" else missing).setdefault(loc[:-1], [])
            if not keys and kind == "missing":
                found.append(loc[:-1])  # type: ignore[arg-type]  # a place, filled in below
            keys.append(str(loc[-1]))
            continue
        label = _label(loc)
        problem = (item.get("ctx") or {}).get("error")
        if isinstance(problem, Problem):
            found.append(problem.template.format(label=label, got=_show(problem.value)))
        else:  # a rule without its own message: pydantic's
            found.append(f"{label}: {item['msg']}" if label else item["msg"])
    for index, place in enumerate(found):
        if isinstance(place, tuple):  # missing keys, one message per object
            keys = missing[place]
            if not place or len(keys) == 1:
                found[index] = "; ".join(f"{_label((*place, key))} is missing" for key in keys)
            else:
                found[index] = f"{_label(place)} is missing {', '.join(sorted(keys))}"
    extra = [
        f"unknown field(s) {', '.join(sorted(keys))}" + (f" in {_label(where)}" if where else "")
        for where, keys in sorted(unknown.items(), key=lambda item: len(item[0]))
    ]
    return extra + found


# --- what the writer gets -------------------------------------------------------------------

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
    release_date: date | None = UNSET  # UNSET: not given, keep what is stored
    cover_url: str | None = UNSET

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
    album: AlbumIn | None = UNSET  # UNSET: not given; None: take the track off its album
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


def _artist(record: ArtistRecord) -> ArtistIn:
    return ArtistIn(record.name, record.external_id, record.region)


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
        record: TrackRecord | None = None
        try:
            record = TrackRecord.model_validate(raw)
        except ValidationError as exc:
            errors = reasons(exc)
        external_id = raw.get("external_id")
        if raw.get("isrc") is None and (
            external_id is None or (isinstance(external_id, str) and not external_id.strip())
        ):
            errors.append("a track needs an isrc or an external_id")
        if record is None or errors:
            raise RowRejected(errors)

        isrc, external_id = record.isrc, record.external_id
        if isrc and isrc in self.isrc_lines:
            errors.append(f"duplicate isrc {isrc} (first on line {self.isrc_lines[isrc]})")
        if external_id and external_id in self.external_id_lines:
            first = self.external_id_lines[external_id]
            errors.append(f"duplicate external_id {external_id!r} (first on line {first})")
        artists = [_artist(a) for a in record.artists]
        album = self._album(record, artists, errors)
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

        given, values = record.model_fields_set, record.__dict__
        fields = {
            key: values[key]
            for key in TRACK_FIELDS
            if key in given and (values[key] is not None or key == "language")
        }
        return TrackIn(
            line,
            fields,
            canonical,
            album,
            _unique_slugs(record.genres) if record.genres is not None else None,
            [
                RenditionIn(r.quality, r.bitrate, r.format.lower(), r.size_bytes, r.path)
                for r in record.renditions
            ]
            if record.renditions is not None
            else None,
            [LicenseIn(x.region, x.available_from, x.available_until) for x in record.licenses]
            if record.licenses is not None
            else None,
        )

    def _album(self, record: TrackRecord, artists: list[ArtistIn], errors: list[str]) -> Any:
        """The record's album (UNSET when it gives none), its artist resolved: an artist
        object, one of the track's artists, an artist earlier in the file, or the external id
        of one the writer must find in the catalog."""
        if "album" not in record.model_fields_set:
            return UNSET
        album = record.album
        if album is None:
            return None
        artist: ArtistIn | str = artists[0]
        if album.artist is not None:
            artist = _artist(album.artist)
        elif ref := album.artist_external_id:
            given = [a for a in artists if a.external_id == ref]
            artist = given[0] if given else self.artists.get(("ext", ref), ref)
        given_keys = album.model_fields_set
        return AlbumIn(
            album.title,
            artist,
            album.external_id,
            album.release_date if "release_date" in given_keys else UNSET,
            album.cover_url if "cover_url" in given_keys else UNSET,
        )
