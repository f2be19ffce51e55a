"""The catalog importer: formats, upserts, validation, transactions, search text."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from ncm.catalog.importer import (
    ImportFileError,
    ImportReport,
    import_file,
    import_records,
    parse_file,
)
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
from ncm.kit.sql import Bulk
from ncm.search.service import SearchType, search
from ncm.search.text import document_tokens
from tests import factories
from tests.conftest import count_queries

SUNNY: dict[str, Any] = {
    "isrc": "CNA0K2300001",
    "external_id": "t-1",
    "title": "晴天",
    "artists": [{"name": "周杰伦", "external_id": "a-1", "region": "TW"}],
    "album": {
        "title": "叶惠美",
        "external_id": "al-1",
        "release_date": "2003-07-31",
        "cover_url": None,
        "artist_external_id": "a-1",
    },
    "disc_number": 1,
    "track_number": 1,
    "duration_ms": 269000,
    "language": "zh",
    "explicit": False,
    "fee_policy": "FREE",
    "status": "AVAILABLE",
    "genres": ["pop"],
    "renditions": [
        {
            "quality": "STANDARD",
            "bitrate": 128,
            "format": "wav",
            "size_bytes": 480044,
            "path": "demo/1/standard.wav",
        }
    ],
    "licenses": [{"region": "*", "available_from": None, "available_until": None}],
}
RACING: dict[str, Any] = {
    "isrc": "JPA1B2400002",
    "title": "夜に駆ける",
    "artists": [{"name": "YOASOBI", "external_id": "a-2", "region": "JP"}],
    "album": {"title": "THE BOOK", "external_id": "al-2", "release_date": "2021-01-06"},
    "duration_ms": 261000,
    "language": "ja",
    "fee_policy": "MEMBERS_ONLY",
    "genres": ["j-pop", "pop"],
    "renditions": [
        {"quality": "LOSSLESS", "bitrate": 1411, "format": "FLAC", "size_bytes": 9, "path": "b/l"},
        {"quality": "STANDARD", "bitrate": 128, "format": "mp3", "size_bytes": 4, "path": "b/s"},
    ],
    "licenses": [
        {"region": "JP"},
        {
            "region": "us",
            "available_from": "2024-01-01",
            "available_until": "2030-01-01T08:00+08:00",
        },
    ],
}
CAFE: dict[str, Any] = {
    "external_id": "t-3",
    "title": "Café del Mar",
    "artists": ["Energy 52", "Ibiza Crew"],
    "album": "Café Classics",
    "duration_ms": 453000,
    "explicit": True,
    "status": "WITHDRAWN",
    "genres": ["trance"],
}


def record(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(base)
    data.update(changes)
    return data


def write_jsonl(tmp_path: Path, *lines: dict[str, Any] | str, name: str = "c.jsonl") -> Path:
    path = tmp_path / name
    path.write_text(
        "".join(
            (x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)) + "\n" for x in lines
        ),
        encoding="utf-8",
    )
    return path


async def row_counts() -> dict[str, int]:
    models = [Track, Artist, Album, Genre, TrackArtist, TrackGenre, Rendition, License]
    return {m.__name__: await m.all().count() for m in models}


async def artist_names(track: Track) -> list[str]:
    links = (
        await TrackArtist.filter(track_id=track.id).order_by("position").select_related("artist")
    )
    return [link.artist.name for link in links]


def reasons(report: ImportReport) -> dict[int, str]:
    return {r.line: r.reason for r in report.rejected}


async def test_jsonl_creates_tracks_with_everything_they_need(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path, SUNNY, RACING, CAFE)

    report = await import_file(path)

    assert (report.created, report.updated, report.unchanged, report.rejected) == (3, 0, 0, [])
    assert (report.artists_created, report.albums_created, report.genres_created) == (4, 3, 3)
    sunny = await Track.get(isrc="CNA0K2300001")
    assert (sunny.external_id, sunny.title, sunny.duration_ms, sunny.language) == (
        "t-1",
        "晴天",
        269000,
        "zh",
    )
    assert (sunny.fee_policy, sunny.status, sunny.explicit) == (
        FeePolicy.FREE,
        TrackStatus.AVAILABLE,
        False,
    )
    jay = await Artist.get(external_id="a-1")
    assert (jay.name, jay.region, jay.search_text) == ("周杰伦", "TW", document_tokens("周杰伦"))
    album = await Album.get(external_id="al-1")
    assert (album.title, album.artist_id, album.release_date) == (
        "叶惠美",
        jay.id,
        date(2003, 7, 31),
    )
    assert album.search_text == document_tokens("叶惠美", "周杰伦")
    assert sunny.album_id == album.id
    assert sunny.search_text == document_tokens("晴天", "周杰伦", "叶惠美")
    assert [g.slug for g in await Genre.filter(track_links__track_id=sunny.id)] == ["pop"]
    rendition = await Rendition.get(track_id=sunny.id)
    assert (rendition.quality, rendition.bitrate, rendition.path) == (
        Quality.STANDARD,
        128,
        "demo/1/standard.wav",
    )
    assert await License.filter(track_id=sunny.id).values_list("region", flat=True) == ["*"]

    racing = await Track.get(isrc="JPA1B2400002")
    assert racing.fee_policy == FeePolicy.MEMBERS_ONLY
    assert sorted(
        await Genre.filter(track_links__track_id=racing.id).values_list("slug", flat=True)
    ) == [
        "j-pop",
        "pop",
    ]
    assert (await Genre.get(slug="j-pop")).name == "J-Pop"
    formats = (
        await Rendition.filter(track_id=racing.id)
        .order_by("bitrate")
        .values_list("format", flat=True)
    )
    assert formats == ["mp3", "flac"]
    us = await License.get(track_id=racing.id, region="US")
    assert us.available_from == datetime(2024, 1, 1, tzinfo=UTC)
    assert us.available_until == datetime(2030, 1, 1, 0, 0, tzinfo=UTC)

    cafe = await Track.get(external_id="t-3")
    assert cafe.isrc is None and cafe.explicit is True and cafe.status == TrackStatus.WITHDRAWN
    assert await artist_names(cafe) == ["Energy 52", "Ibiza Crew"]
    cafe_album = await Album.get(title="Café Classics").select_related("artist")
    assert cafe_album.artist.name == "Energy 52"  # the album artist defaults to the first artist
    assert cafe.search_text == document_tokens(
        "Café del Mar", "Energy 52", "Ibiza Crew", "Café Classics"
    )


async def test_imported_rows_are_found_by_search(tmp_path: Path) -> None:
    await import_file(write_jsonl(tmp_path, SUNNY, RACING, CAFE))

    tracks = await search("晴天", [SearchType.TRACK], 10, None)
    assert [h.id for h in tracks.items] == [(await Track.get(external_id="t-1")).id]
    by_artist = await search("yoaso", [SearchType.TRACK, SearchType.ARTIST], 10, None)
    assert {h.type for h in by_artist.items} == {SearchType.TRACK, SearchType.ARTIST}
    accented = await search("cafe", [SearchType.ALBUM], 10, None)
    assert [h.id for h in accented.items] == [(await Album.get(title="Café Classics")).id]


async def test_csv_import(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text(
        "\ufeffisrc,external_id,title,artists,album,album_external_id,release_date,disc_number,"
        "track_number,duration_ms,language,explicit,fee_policy,genres,regions\n"
        "CNA0K2300001,t-1,晴天,周杰伦,叶惠美,al-1,2003-07-31,1,1,269000,zh,false,FREE,pop,*\n"
        "JP-A1B-24-00002,,夜に駆ける,YOASOBI,THE BOOK,,,,,261000,ja,1,members_only,j-pop;pop,JP;US\n"
        "\n"
        ',t-3,"Café del Mar, Pt. 1",Energy 52; Ibiza Crew,,,,,2,453000,,yes,,,\n',
        encoding="utf-8",
    )

    report = await import_file(path)

    assert (report.created, report.rejected) == (3, [])
    sunny = await Track.get(isrc="CNA0K2300001")
    assert (sunny.title, sunny.external_id, sunny.duration_ms) == ("晴天", "t-1", 269000)
    assert (await Album.get(id=sunny.album_id)).release_date == date(2003, 7, 31)
    racing = await Track.get(isrc="JPA1B2400002")  # hyphens dropped
    assert (racing.explicit, racing.fee_policy) == (True, FeePolicy.MEMBERS_ONLY)
    assert sorted(await License.filter(track_id=racing.id).values_list("region", flat=True)) == [
        "JP",
        "US",
    ]
    cafe = await Track.get(external_id="t-3")
    assert (cafe.title, cafe.track_number, cafe.album_id, cafe.explicit) == (
        "Café del Mar, Pt. 1",
        2,
        None,
        True,
    )
    assert await artist_names(cafe) == ["Energy 52", "Ibiza Crew"]
    assert await License.filter(track_id=cafe.id).count() == 0  # empty regions: none given


async def test_csv_rejections_point_at_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        "external_id,title,artists,duration_ms,explicit\n"
        "t-1,Ok,A,1000,false\n"
        't-2,"Multi\nline",A,abc,false\n'
        "t-3,Ok too,A,1000,maybe\n"
        "t-4,Too,many,1000,false,extra\n",
        encoding="utf-8",
    )
    report = await import_file(path)
    assert report.created == 1
    found = reasons(report)
    assert set(found) == {3, 5, 6}
    assert "duration_ms must be a positive integer" in found[3]
    assert "explicit must be true or false" in found[5]
    assert "has 6 fields, the header has 5" in found[6]


async def test_reimport_changes_nothing(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path, SUNNY, RACING, CAFE)
    await import_file(path)
    before = await row_counts()
    stamps = dict(await Track.all().values_list("id", "updated_at"))

    again = await import_file(path)

    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 3, [])
    assert (again.artists_created, again.albums_created, again.genres_created) == (0, 0, 0)
    assert (again.artists_updated, again.albums_updated) == (0, 0)
    assert await row_counts() == before
    assert dict(await Track.all().values_list("id", "updated_at")) == stamps


async def test_changed_title_updates_the_track_and_its_search_text(tmp_path: Path) -> None:
    await import_file(write_jsonl(tmp_path, SUNNY, RACING))
    sunny = await Track.get(isrc="CNA0K2300001")

    report = await import_file(write_jsonl(tmp_path, record(SUNNY, title="晴天 (Live)"), RACING))

    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    updated = await Track.get(id=sunny.id)
    assert updated.title == "晴天 (Live)"
    assert updated.search_text == document_tokens("晴天 (Live)", "周杰伦", "叶惠美")
    assert "live" in updated.search_text.split()
    assert updated.updated_at > sunny.updated_at
    hits = await search("live", [SearchType.TRACK], 10, None)
    assert [h.id for h in hits.items] == [sunny.id]


async def test_changed_fields_are_updated(tmp_path: Path) -> None:
    await import_file(write_jsonl(tmp_path, SUNNY, RACING))
    changed = record(
        SUNNY,
        duration_ms=270500,
        disc_number=2,
        track_number=7,
        language="zh-TW",
        explicit=True,
        fee_policy="FREE_STANDARD",
        status="WITHDRAWN",
        album={
            **SUNNY["album"],
            "release_date": "2003-08-01",
            "cover_url": "https://img.example.com/y.jpg",
        },
        artists=[{"name": "周杰伦", "external_id": "a-1", "region": "CN"}],
    )

    report = await import_file(write_jsonl(tmp_path, changed, RACING))

    assert (report.updated, report.unchanged, report.albums_updated, report.artists_updated) == (
        1,
        1,
        1,
        1,
    )
    track = await Track.get(isrc="CNA0K2300001")
    assert (track.duration_ms, track.disc_number, track.track_number, track.language) == (
        270500,
        2,
        7,
        "zh-TW",
    )
    assert (track.explicit, track.fee_policy, track.status) == (
        True,
        FeePolicy.FREE_STANDARD,
        TrackStatus.WITHDRAWN,
    )
    album = await Album.get(external_id="al-1")
    assert (album.release_date, album.cover_url) == (
        date(2003, 8, 1),
        "https://img.example.com/y.jpg",
    )
    assert (await Artist.get(external_id="a-1")).region == "CN"
    assert (await import_file(write_jsonl(tmp_path, changed, RACING))).unchanged == 2


async def test_changed_artists_replace_the_credits_and_search_text(tmp_path: Path) -> None:
    await import_file(write_jsonl(tmp_path, CAFE))
    cafe = await Track.get(external_id="t-3")

    changed = record(CAFE, artists=["Ibiza Crew", "DJ Nova"])
    report = await import_file(write_jsonl(tmp_path, changed))

    assert (report.updated, report.artists_created) == (1, 1)
    assert await artist_names(cafe) == ["Ibiza Crew", "DJ Nova"]
    track = await Track.get(id=cafe.id)
    assert track.search_text == document_tokens(
        "Café del Mar", "Ibiza Crew", "DJ Nova", "Café Classics"
    )
    assert "energy" not in track.search_text.split()


async def test_artist_rename_refreshes_search_text_of_rows_not_in_the_file(tmp_path: Path) -> None:
    other = record(SUNNY, isrc="CNA0K2300009", external_id="t-9", title="稻香")
    await import_file(write_jsonl(tmp_path, SUNNY, other))

    renamed = record(SUNNY, artists=[{"name": "Jay Chou", "external_id": "a-1"}])
    report = await import_file(write_jsonl(tmp_path, renamed))

    assert (report.updated, report.artists_updated, report.artists_created) == (1, 1, 0)
    assert (await Artist.get(external_id="a-1")).search_text == document_tokens("Jay Chou")
    untouched = await Track.get(external_id="t-9")
    assert untouched.search_text == document_tokens("稻香", "Jay Chou", "叶惠美")
    album = await Album.get(external_id="al-1")
    assert album.search_text == document_tokens("叶惠美", "Jay Chou")
    assert await Artist.all().count() == 1


async def test_album_rename_refreshes_its_other_tracks(tmp_path: Path) -> None:
    other = record(SUNNY, isrc="CNA0K2300009", external_id="t-9", title="稻香")
    await import_file(write_jsonl(tmp_path, SUNNY, other))

    album = {**SUNNY["album"], "title": "Ye Hui Mei"}
    await import_file(write_jsonl(tmp_path, record(SUNNY, album=album)))

    assert (await Album.get(external_id="al-1")).title == "Ye Hui Mei"
    assert (await Track.get(external_id="t-9")).search_text == document_tokens(
        "稻香", "周杰伦", "Ye Hui Mei"
    )


async def test_renditions_and_licenses_are_replaced_only_when_given(tmp_path: Path) -> None:
    await import_file(write_jsonl(tmp_path, RACING))
    track = await Track.get(isrc="JPA1B2400002")
    higher = [
        {"quality": "HIGHER", "bitrate": 320, "format": "mp3", "size_bytes": 7, "path": "b/h"}
    ]

    report = await import_file(
        write_jsonl(tmp_path, record(RACING, renditions=higher, licenses=["*"]))
    )
    assert report.updated == 1
    assert await Rendition.filter(track_id=track.id).values_list("quality", flat=True) == [
        Quality.HIGHER
    ]
    assert await License.filter(track_id=track.id).values_list("region", flat=True) == ["*"]

    without = record(RACING)
    for key in ("renditions", "licenses", "genres", "album"):
        del without[key]
    report = await import_file(write_jsonl(tmp_path, without))
    assert report.unchanged == 1
    assert await Rendition.filter(track_id=track.id).count() == 1
    assert await License.filter(track_id=track.id).count() == 1
    assert await TrackGenre.filter(track_id=track.id).count() == 2
    assert (await Track.get(id=track.id)).album_id is not None

    await import_file(write_jsonl(tmp_path, record(RACING, album=None, genres=[])))
    detached = await Track.get(id=track.id)
    assert detached.album_id is None
    assert detached.search_text == document_tokens("夜に駆ける", "YOASOBI")
    assert await TrackGenre.filter(track_id=track.id).count() == 0


async def test_matching_rules(tmp_path: Path) -> None:
    # An artist already in the catalog without an external id is matched by name and given it;
    # one without an id in the file is matched by exact name.
    jay = await factories.artist("周杰伦")
    swift = await factories.artist("Taylor Swift")
    hits = await factories.album("Greatest Hits", by=swift)
    rows = [
        SUNNY,
        {
            "external_id": "s-1",
            "title": "Love Story",
            "artists": ["Taylor Swift"],
            "album": "Greatest Hits",
            "duration_ms": 235000,
        },
        {
            "external_id": "s-2",
            "title": "Shake It Off",
            "artists": ["Taylor Swift"],
            "album": "Greatest Hits",
            "duration_ms": 219000,
        },
        {
            "external_id": "q-1",
            "title": "Bohemian Rhapsody",
            "artists": ["Queen"],
            "album": "Greatest Hits",
            "duration_ms": 355000,
        },
    ]
    report = await import_file(write_jsonl(tmp_path, *rows))

    assert report.created == 4
    assert report.artists_created == 1  # Queen
    assert (await Artist.get(id=jay.id)).external_id == "a-1"
    assert await Artist.filter(name="Taylor Swift").count() == 1
    assert await Track.filter(album_id=hits.id).count() == 2
    assert await Album.filter(title="Greatest Hits").count() == 2  # Queen's is another album

    # A track is matched by ISRC first, then by external_id.
    by_isrc = record(SUNNY, external_id="t-1-new")
    by_ext = {**rows[1], "isrc": "USA1B2400003"}
    again = await import_file(write_jsonl(tmp_path, by_isrc, by_ext))
    assert (again.created, again.updated) == (0, 2)
    assert (await Track.get(isrc="CNA0K2300001")).external_id == "t-1-new"
    assert (await Track.get(external_id="s-1")).isrc == "USA1B2400003"
    assert await Track.all().count() == 4


async def test_ambiguous_matches_are_rejected(tmp_path: Path) -> None:
    await import_file(write_jsonl(tmp_path, SUNNY, RACING))

    both = record(SUNNY, external_id="t-1", isrc="JPA1B2400002")
    report = await import_file(write_jsonl(tmp_path, both))
    assert [r.line for r in report.rejected] == [1]
    assert "isrc JPA1B2400002 is track" in report.rejected[0].reason
    assert "but external_id 't-1' is track" in report.rejected[0].reason

    # Two rows of one file that reach the same track through different keys.
    by_code = record(SUNNY, external_id=None)
    by_id = record(SUNNY, isrc=None, title="Changed")
    report = await import_file(write_jsonl(tmp_path, by_code, by_id))
    assert report.unchanged == 1
    assert [r.line for r in report.rejected] == [2]
    assert "matches the same track" in report.rejected[0].reason
    assert "as line 1" in report.rejected[0].reason
    assert (await Track.get(isrc="CNA0K2300001")).title == "晴天"


BAD_ROWS: list[tuple[dict[str, Any] | str, str]] = [
    (record(CAFE, title=""), "title is missing"),
    (record(CAFE, duration_ms="3:45"), 'duration_ms must be a positive integer (got "3:45")'),
    (record(CAFE, duration_ms=0), "duration_ms must be a positive integer (got 0)"),
    (record(CAFE, isrc="CN123"), "invalid isrc"),
    (record(CAFE, fee_policy="PAID"), "unknown fee_policy"),
    (record(CAFE, status="GONE"), "unknown status"),
    (
        record(RACING, renditions=[{**RACING["renditions"][0], "quality": "ULTRA"}]),
        "unknown renditions[0] quality",
    ),
    (
        record(RACING, renditions=[{**RACING["renditions"][0], "path": "/etc/passwd"}]),
        "must be relative",
    ),
    (record(RACING, licenses=[{"region": "XX"}]), "bad licenses[0] region"),
    (
        record(RACING, licenses=[{"region": "*", "available_from": "yesterday"}]),
        "bad licenses[0] available_from",
    ),
    (
        record(
            RACING,
            licenses=[
                {"region": "CN", "available_from": "2025-01-01", "available_until": "2024-01-01"}
            ],
        ),
        "must be after",
    ),
    (
        record(SUNNY, album={**SUNNY["album"], "release_date": "2003-02-30"}),
        "bad album release_date",
    ),
    (record(SUNNY, artists=[{"name": "周杰伦", "region": "Taiwan"}]), "bad artists[0] region"),
    (record(CAFE, artists=[]), "artists is missing"),
    (record(CAFE, titel="typo"), "unknown field(s) titel"),
    (record(CAFE, external_id=None), "needs an isrc or an external_id"),
    (record(CAFE, genres=["Hip Hop!"]), "bad genre"),
    (record(CAFE, explicit="no"), "explicit must be true or false"),
    ("{not json", "malformed JSON"),
    ("[1, 2]", "must hold one JSON object"),
]


@pytest.mark.parametrize(("bad", "reason"), BAD_ROWS, ids=[r for _, r in BAD_ROWS])
async def test_bad_rows_are_rejected_with_their_line_and_reason(
    tmp_path: Path, bad: dict[str, Any] | str, reason: str
) -> None:
    good = [record(CAFE, external_id=f"ok-{i}") for i in range(2)]
    if isinstance(bad, dict) and bad.get("external_id") == "t-3":
        bad["external_id"] = "bad-1"
    path = write_jsonl(tmp_path, good[0], "", bad, good[1])

    report = await import_file(path)

    assert [r.line for r in report.rejected] == [3]
    assert reason in report.rejected[0].reason
    assert report.created == 2
    assert set(await Track.all().values_list("external_id", flat=True)) == {"ok-0", "ok-1"}


async def test_duplicates_within_a_file_are_rejected_across_chunks(tmp_path: Path) -> None:
    rows = [record(CAFE, external_id=f"t-{i}", isrc=f"GBA1B24{i:05d}") for i in range(5)]
    rows.append(record(CAFE, external_id="t-x", isrc="GBA1B2400001"))
    rows.append(record(CAFE, external_id="t-2"))
    records = list(enumerate(rows, start=1))

    report = await import_records(records, chunk_size=2)

    assert report.created == 5
    found = reasons(report)
    assert found[6] == "duplicate isrc GBA1B2400001 (first on line 2)"
    assert found[7] == "duplicate external_id 't-2' (first on line 3)"
    assert await Artist.all().count() == 2  # shared across chunks, created once
    assert await Album.all().count() == 1


async def test_first_description_of_an_artist_wins_within_a_file(tmp_path: Path) -> None:
    first = record(SUNNY)
    second = record(
        SUNNY,
        isrc="CNA0K2300002",
        external_id="t-2",
        artists=[{"name": "Jay Chou", "external_id": "a-1"}],
    )
    report = await import_records([(1, first), (2, second)], chunk_size=1)
    assert report.created == 2 and report.artists_created == 1
    assert [a.name for a in await Artist.all()] == ["周杰伦"]
    again = await import_records([(1, first), (2, second)], chunk_size=1)
    assert again.unchanged == 2 and again.artists_updated == 0


async def test_a_failing_row_is_rolled_back_and_the_others_land(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Make the database refuse the licenses of one row (a real unique violation), after its
    # track, artist, album and genre were already inserted in the same transaction.
    original = Bulk.insert

    async def sabotaged(
        self: Bulk, model: Any, rows: Sequence[dict[str, Any]], *args: Any, **kwargs: Any
    ) -> list[dict[str, Any]]:
        if model is License:
            rows = [*rows, *(dict(r) for r in rows if r["region"] == "ZW")]
        return await original(self, model, rows, *args, **kwargs)

    monkeypatch.setattr(Bulk, "insert", sabotaged)
    bad = {
        "external_id": "bad",
        "title": "Doomed",
        "artists": ["Only Here"],
        "album": "Lost",
        "duration_ms": 1000,
        "genres": ["doom"],
        "licenses": ["ZW"],
    }
    path = write_jsonl(tmp_path, SUNNY, bad, RACING)

    report = await import_file(path)

    assert (report.created, [r.line for r in report.rejected]) == (2, [2])
    assert report.rejected[0].reason.startswith("could not be written:")
    assert (report.artists_created, report.albums_created) == (2, 2)
    assert not await Track.filter(external_id="bad").exists()
    assert not await Artist.filter(name="Only Here").exists()
    assert not await Album.filter(title="Lost").exists()
    assert not await Genre.filter(slug="doom").exists()
    for isrc in ("CNA0K2300001", "JPA1B2400002"):
        track = await Track.get(isrc=isrc)
        assert await License.filter(track_id=track.id).count() >= 1
        assert await TrackArtist.filter(track_id=track.id).count() == 1
    assert await row_counts() == {
        "Track": 2,
        "Artist": 2,
        "Album": 2,
        "Genre": 2,
        "TrackArtist": 2,
        "TrackGenre": 3,
        "Rendition": 3,
        "License": 3,
    }


async def test_album_artist_must_exist(tmp_path: Path) -> None:
    ghost = record(
        SUNNY, isrc=None, external_id="g-1", album={"title": "X", "artist_external_id": "nobody"}
    )
    other = record(RACING, album={"title": "Split", "artist_external_id": "a-1"})
    report = await import_file(write_jsonl(tmp_path, ghost, SUNNY, other))
    assert [r.line for r in report.rejected] == [1]
    assert "artist_external_id 'nobody'" in report.rejected[0].reason
    split = await Album.get(title="Split").select_related("artist")
    assert split.artist.name == "周杰伦"  # an artist earlier in the file
    assert not await Artist.filter(name="X").exists()


async def test_lookups_are_batched(tmp_path: Path) -> None:
    def rows(n: int, prefix: str) -> list[tuple[int, dict[str, Any]]]:
        return [
            (
                i,
                record(
                    RACING,
                    isrc=None,
                    external_id=f"{prefix}-{i}",
                    title=f"Song {i}",
                    artists=[f"{prefix} artist {i}", "Guest"],
                    album=f"{prefix} album {i % 3}",
                    genres=[f"{prefix}-genre", "pop"],
                ),
            )
            for i in range(1, n + 1)
        ]

    with count_queries() as few:
        await import_records(rows(3, "a"))
    with count_queries() as many:
        await import_records(rows(60, "b"))
    assert many.count == few.count
    with count_queries() as again:
        report = await import_records(rows(60, "b"))
    assert report.unchanged == 60
    assert again.count < few.count


async def test_progress_is_reported(tmp_path: Path) -> None:
    seen: list[int] = []
    rows = [(i, record(CAFE, external_id=f"p-{i}")) for i in range(1, 8)]
    await import_records(rows, progress=seen.append, chunk_size=3)
    assert seen == sorted(seen) and seen[-1] == 7 and len(seen) >= 2


def test_parse_file_refuses_files_it_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="no such file"):
        parse_file(tmp_path / "missing.jsonl")
    (tmp_path / "c.xml").write_text("<tracks/>")
    with pytest.raises(ImportFileError, match=r"unknown file type '\.xml'"):
        parse_file(tmp_path / "c.xml")
    (tmp_path / "c.json").write_text('[{"title": "x"}]')
    with pytest.raises(ImportFileError, match="JSON array"):
        parse_file(tmp_path / "c.json")
    (tmp_path / "a.csv").write_text("external_id,title,artists\nx,y,z\n")
    with pytest.raises(ImportFileError, match="missing required column"):
        parse_file(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("external_id,title,artists,duration_ms,titel\n")
    with pytest.raises(ImportFileError, match="unknown column"):
        parse_file(tmp_path / "b.csv")


def test_parse_file_reads_lines_with_their_numbers(tmp_path: Path) -> None:
    path = tmp_path / "c.ndjson"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n\n  \n{"b": "\xe6\x99\xb4"}\n\xff\xfe\n{"c": 3}')
    rows = list(parse_file(path))
    assert [line for line, _ in rows] == [1, 4, 5, 6]
    assert rows[0][1] == {"a": 1} and rows[1][1] == {"b": "晴"} and rows[3][1] == {"c": 3}
    assert "not valid UTF-8" in next(iter(rows[2][1].values()))


async def test_a_quality_or_region_given_twice_or_a_scalar_list_is_rejected(tmp_path: Path) -> None:
    rendition = {
        "quality": "EXHIGH",
        "bitrate": 320,
        "format": "mp3",
        "size_bytes": 1000,
        "path": "a/b.mp3",
    }
    twice_quality = record(SUNNY, renditions=[rendition, dict(rendition, path="a/c.mp3")])
    twice_region = record(RACING, licenses=["CN", {"region": "CN"}])
    not_a_list = record(SUNNY, isrc=None, external_id="t-9", title="Other", licenses="CN")
    report = await import_file(write_jsonl(tmp_path, twice_quality, twice_region, not_a_list))

    found = reasons(report)
    assert "renditions[1]: quality EXHIGH is given twice" in found[1]
    assert "licenses[1]: region CN is given twice" in found[2]
    assert 'licenses must be a list (got "CN")' in found[3]
    assert not await Track.exists()
