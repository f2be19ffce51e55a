"""The importer's record validation (pydantic models and file-level rules), without a database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ncm.catalog.importer import PARSE_ERROR, RowRejected, Validator, parse_file
from ncm.catalog.importer.validation import AlbumIn, ArtistIn
from ncm.kit.unset import UNSET

OK: dict[str, Any] = {
    "external_id": "t-1",
    "title": " Cafe\u0301 ",
    "artists": ["A"],
    "duration_ms": 1,
}


def rejected(*records: dict[str, Any]) -> str:
    validator = Validator()
    for line, record in enumerate(records[:-1], start=1):
        validator.validate(line, record)
    with pytest.raises(RowRejected) as caught:
        validator.validate(len(records), records[-1])
    return caught.value.reason


def test_a_valid_record_is_normalized_and_keeps_what_it_leaves_out_unset() -> None:
    row = Validator().validate(1, OK)
    assert row.fields == {"external_id": "t-1", "title": "Café", "duration_ms": 1}
    assert row.artists == [ArtistIn("A")]
    assert row.album is UNSET and row.genres is None and row.licenses is None


def test_explicit_nulls_differ_from_absent_keys() -> None:
    row = Validator().validate(1, {**OK, "album": None, "language": None, "explicit": None})
    assert row.album is None  # off its album
    assert row.fields["language"] is None  # cleared
    assert "explicit" not in row.fields  # null: not given
    album = Validator().validate(1, {**OK, "album": {"title": "X", "release_date": None}}).album
    assert isinstance(album, AlbumIn)
    assert album.release_date is None and album.cover_url is UNSET


def test_every_reason_is_reported_with_its_place() -> None:
    reason = rejected(
        {
            "title": 5,
            "artists": [None, {"name": "x", "zz": 1}],
            "album": {"title": "", "artist": "a", "artist_external_id": "b"},
            "renditions": [{"quality": "STANDARD"}],
            "licenses": ["CN", {"region": "cn"}],
            "foo": 1,
        }
    ).split("; ")
    assert reason[:2] == ["unknown field(s) foo", "unknown field(s) zz in artists[1]"]
    assert "title must be a string (got 5)" in reason
    assert "artists[0] must be a name or an object (got null)" in reason
    assert "album title is missing" in reason
    assert "duration_ms is missing" in reason
    assert "renditions[0] is missing bitrate, format, path, size_bytes" in reason
    assert "a track needs an isrc or an external_id" in reason


def test_album_artist_and_artist_external_id_are_exclusive() -> None:
    reason = rejected({**OK, "album": {"title": "X", "artist": "B", "artist_external_id": "b"}})
    assert reason == "give the album's artist or artist_external_id, not both"


def test_the_first_description_of_an_artist_wins_for_the_file() -> None:
    validator = Validator()
    first = validator.validate(1, {**OK, "artists": [{"name": "Jay", "external_id": "a-1"}]})
    later = validator.validate(
        2, {**OK, "external_id": "t-2", "artists": [{"name": "Jay Chou", "external_id": "a-1"}]}
    )
    assert later.artists[0] is first.artists[0]


def test_a_truncated_json_line_names_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"title": "a"}\n{"title": "b", "artists": ["x"\n{"title" "c"}\n')
    rows = dict(parse_file(path))
    assert rows[2][PARSE_ERROR] == (
        "malformed JSON: line 2, column 31: the line ends inside the object"
    )
    assert rows[3][PARSE_ERROR] == "malformed JSON: line 3, column 10: Expecting ':' delimiter"
