"""The one raw-SQL layer (ncm.kit.sql): placeholders per dialect, fetch/execute, hydration into
models, set-based statements with ON CONFLICT, COPY with its SQLite fallback, and the bulk
loading helpers. Every test runs on the backend of the pass (PostgreSQL, then SQLite)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from ncm.catalog.models import Album, Artist, FeePolicy, Genre, Track
from ncm.comments import service as comment_service
from ncm.comments.models import Comment, CommentState, TargetType
from ncm.comments.targets import ThreadRef
from ncm.kit import sql as kit_sql
from ncm.kit.sql import (
    Bulk,
    any_of,
    as_models,
    by_id,
    copy_rows,
    estimated_rows,
    execute,
    fetch,
    fetch_models,
    fetch_rows,
    first_of_each,
    hydrator,
    index_statements,
    raw_connection,
    related_by,
    reserve_ids,
    sql,
)
from ncm.kit.sql import reads as reads_module
from tests import factories
from tests.conftest import count_queries, make_user

# --- placeholders ----------------------------------------------------------------------------


@pytest.mark.parametrize("postgres", [True, False], ids=["postgres", "sqlite"])
def test_numbered_placeholders_are_rewritten_for_each_dialect(
    monkeypatch: pytest.MonkeyPatch, postgres: bool
) -> None:
    monkeypatch.setattr(reads_module, "is_postgres", lambda: postgres)
    text = "SELECT id FROM tracks WHERE album_id = $1 AND duration_ms > $2"
    assert sql(text) == (text if postgres else text.replace("$1", "?").replace("$2", "?"))
    where, params = any_of("id", [3, 4, 5], 2)
    if postgres:
        assert (where, params) == ("id = ANY($2)", [[3, 4, 5]])
    else:
        assert (where, params) == ("id IN ($2, $3, $4)", [3, 4, 5])
        assert (
            sql(f"SELECT 1 WHERE x = $1 AND {where}") == "SELECT 1 WHERE x = ? AND id IN (?, ?, ?)"
        )
    assert any_of("id", [], 1)[0] == ("id = ANY($1)" if postgres else "id IN (NULL)")


async def test_fetch_and_execute_run_one_text_on_the_live_dialect() -> None:
    album = await factories.album("A")
    tracks = [await factories.track(f"t{i}", on=album) for i in range(3)]
    where, params = any_of("id", [t.id for t in tracks[:2]], 2)
    rows = await fetch(
        f"SELECT id, title FROM tracks WHERE album_id = $1 AND {where} ORDER BY id",
        [album.id, *params],
    )
    assert rows == [{"id": t.id, "title": t.title} for t in tracks[:2]]
    changed = await execute("UPDATE tracks SET play_count = $1 WHERE album_id = $2", [7, album.id])
    assert changed == 3
    assert await Track.filter(play_count=7).count() == 3
    assert await fetch("SELECT id FROM tracks WHERE id = $1", [-1]) == []


# --- hydration -------------------------------------------------------------------------------


async def test_rows_become_models_with_python_values() -> None:
    album = await factories.album("Hydrated")
    made = await factories.track("song", on=album)
    await Track.filter(id=made.id).update(explicit=True, fee_policy=FeePolicy.MEMBERS_ONLY)
    rows = await fetch(f"SELECT {kit_sql.columns(Track)} FROM tracks WHERE id = $1", [made.id])
    (track,) = as_models(Track, rows)
    assert isinstance(track, Track) and track.pk == made.id
    assert track.explicit is True and track.fee_policy == FeePolicy.MEMBERS_ONLY
    assert isinstance(track.created_at, datetime) and track.created_at.tzinfo is not None
    # The explicit column list leaves generated extras (search_vector) behind.
    assert "search_vector" not in kit_sql.columns(Track)

    with count_queries() as one:
        found = await by_id(Track, [made.id, -5])
    assert list(found) == [made.id] and one.count == 1


def _state(model: Any) -> dict[str, Any]:
    """Each attribute's value and type; a timestamp also by its text and offset (the
    hydrator keeps asyncpg's ``datetime.UTC`` where Tortoise moves it into its
    ``ZoneInfo("UTC")``: the same instant, written the same)."""
    return {
        k: (v, type(v), v.isoformat(), v.utcoffset()) if isinstance(v, datetime) else (v, type(v))
        for k, v in vars(model).items()
    }


async def test_hydrated_models_equal_tortoise_own_on_every_row_shape() -> None:
    """``hydrator`` makes the same model as ``Model._init_from_db``: the same attributes with
    values of the same types (booleans from SQLite's integers, aware timestamps in UTC,
    enums, nulls), from dicts and from the driver's own rows; a row missing a column
    gives Tortoise's partial model."""
    album = await factories.album("Hydrated")
    made = await factories.track("song", on=album)
    await Track.filter(id=made.id).update(explicit=True, fee_policy=FeePolicy.MEMBERS_ONLY)
    writer = await make_user("writer")
    comment = await comment_service.post_comment(writer, ThreadRef(TargetType.TRACK, made.id), "hi")
    for model, pk in ((Track, made.id), (Album, album.id), (Comment, comment.id)):
        text = f"SELECT {kit_sql.columns(model)} FROM {model._meta.db_table} WHERE id = $1"
        for rows in (await fetch(text, [pk]), await fetch_rows(text, [pk])):
            (expected,) = [model._init_from_db(**row) for row in rows]
            (got,) = as_models(model, rows)
            assert type(got) is model and _state(got) == _state(expected)
            assert got.pk == pk and not got._partial
    # A joined row names the model's columns with a prefix (the track page's album).
    names = [c.strip() for c in kit_sql.columns(Album).split(",")]
    joined = ", ".join(f"{c} AS al__{c}" for c in names)
    (row,) = await fetch_rows(f"SELECT {joined} FROM albums WHERE id = $1", [album.id])
    own_text = f"SELECT {kit_sql.columns(Album)} FROM albums WHERE id = $1"
    (own,) = as_models(Album, await fetch(own_text, [album.id]))
    assert _state(hydrator(Album, "al__")(row)) == _state(own)
    partial = hydrator(Track)({"id": made.id, "title": "song"})
    assert partial._partial and partial.title == "song"


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-04T01:02:03.123456+00:00",  # PostgreSQL's JSON
        "2026-12-04 01:02:03.123456+00:00",  # SQLite's column
        "2026-12-04 01:02:03+08:00",
        "2026-12-04T01:02:03Z",
        "2026-12-04 01:02:03",  # naive: made aware in Tortoise's zone
        "20261204T010203Z",  # compact: iso8601's
    ],
)
def test_text_timestamps_read_as_tortoise_reads_them(text: str) -> None:
    from tortoise import fields

    own = fields.DatetimeField().to_python_value(text)
    got = kit_sql.as_datetime(text)
    assert (got, got.isoformat(), got.utcoffset()) == (own, own.isoformat(), own.utcoffset())


def test_unreadable_text_timestamps_fail_as_tortoise_fails() -> None:
    from tortoise import fields

    with pytest.raises(ValueError) as own:
        fields.DatetimeField().to_python_value("not a time")
    with pytest.raises(ValueError) as got:
        kit_sql.as_datetime("not a time")
    assert type(got.value) is type(own.value)


def test_hydrated_enums_are_members_and_unknown_values_fail_as_tortoise_fails() -> None:
    """An enum column is one dictionary lookup; a value the enum does not hold is refused
    by Tortoise's own conversion, as ``_init_from_db`` refuses it."""
    row = {c.strip(): None for c in kit_sql.columns(Comment).split(",")}
    row.update(id=1, thread_id=2, author_id=3, body="x", listed=True, like_count=0)
    row.update(reply_count=0, hot_score=0.0, created_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert hydrator(Comment)({**row, "state": "HIDDEN"}).state is CommentState.HIDDEN
    with pytest.raises(ValueError):
        Comment._init_from_db(**{**row, "state": "GONE"})
    with pytest.raises(ValueError):
        hydrator(Comment)({**row, "state": "GONE"})


async def test_fetch_models_reads_writes_with_returning_as_models() -> None:
    """A write with RETURNING goes through the driver's dict path (Tortoise's asyncpg client
    answers a write without rows otherwise)."""
    album = await factories.album("Returned")
    (row,) = await fetch_models(
        Album,
        f"UPDATE albums SET title = $1 WHERE id = $2 RETURNING {kit_sql.columns(Album)}",
        ["Renamed", album.id],
    )
    assert isinstance(row, Album) and row.title == "Renamed" and row.pk == album.id


async def test_first_of_each_and_related_by_batch_their_parents() -> None:
    albums = [await factories.album(f"al{i}") for i in range(2)]
    for album in albums:
        for n in range(3):
            await factories.track(f"{album.title}-{n}", on=album)
    with count_queries() as one:
        firsts = await first_of_each(Track, "album_id", [a.id for a in albums], "id", 2)
    assert one.count == 1
    assert {k: [t.title for t in v] for k, v in firsts.items()} == {
        albums[0].id: ["al0-0", "al0-1"],
        albums[1].id: ["al1-0", "al1-1"],
    }
    singer, guest = await factories.artist("Singer"), await factories.artist("Guest")
    track = await factories.track("duet", artists=[singer, guest])
    pairs = await related_by(
        Artist, "track_artists", "artist_id", "track_id", [track.id], "l.position"
    )
    assert [(key, artist.name) for key, artist in pairs] == [
        (track.id, "Singer"),
        (track.id, "Guest"),
    ]


async def test_bulk_select_hydrates_dates_times_and_booleans_on_both_dialects() -> None:
    artist = await factories.artist("X")
    album = await Album.create(title="Dated", artist=artist, release_date=date(2003, 7, 31))
    await factories.track("t", on=album)
    async with in_transaction() as conn:
        bulk = Bulk(conn)
        (row,) = await bulk.select(Album, ("id", "release_date"), {"id": [album.id, album.id]})
        (track,) = await bulk.select(Track, ("explicit", "created_at"), {"album_id": [album.id]})
    assert row == {"id": album.id, "release_date": date(2003, 7, 31)}
    assert track["explicit"] is False and isinstance(track["created_at"], datetime)
    assert await Bulk().select(Album, ("id",), {"id": []}) == []


# --- set-based writes ------------------------------------------------------------------------


async def test_bulk_insert_fills_defaults_and_returns_ids_in_one_statement() -> None:
    rows = [{"title": f"s{i}", "duration_ms": 1000 + i} for i in range(250)]
    async with in_transaction() as conn:
        with count_queries() as writes:
            made = await Bulk(conn).insert(Track, rows, returning=("id", "title"))
    assert writes.count == 1
    assert sorted(r["title"] for r in made) == sorted(r["title"] for r in rows)
    track = await Track.get(id=made[0]["id"])
    assert (track.disc_number, track.explicit, track.fee_policy) == (1, False, FeePolicy.FREE)
    assert track.created_at is not None and track.updated_at is not None
    with pytest.raises(ValueError, match=r"no value for tracks\.title"):
        await Bulk().insert(Track, [{"duration_ms": 1}])


async def test_bulk_insert_on_conflict_skips_or_updates_existing_rows() -> None:
    await Genre.create(slug="pop", name="Old Pop")
    rows = [{"slug": "pop", "name": "Pop"}, {"slug": "rock", "name": "Rock"}]
    async with in_transaction() as conn:
        created = await Bulk(conn).insert(Genre, rows, returning=("slug",), conflict=("slug",))
    assert [r["slug"] for r in created] == ["rock"]  # the existing one is skipped
    assert (await Genre.get(slug="pop")).name == "Old Pop"

    async with in_transaction() as conn:
        await Bulk(conn).insert(
            Genre, [{"slug": "pop", "name": "Pop"}], conflict=("slug",), update=("name",)
        )
    assert (await Genre.get(slug="pop")).name == "Pop"
    assert await Genre.all().count() == 2

    # Without ON CONFLICT a duplicate is an error, and the transaction writes nothing.
    with pytest.raises(Exception, match=r"(?i)unique"):
        async with in_transaction() as conn:
            await Bulk(conn).insert(Genre, [{"slug": "jazz", "name": "Jazz"}, rows[1]])
    assert not await Genre.filter(slug="jazz").exists()


async def test_bulk_update_and_delete_by_sets() -> None:
    tracks = [await factories.track(f"u{i}") for i in range(4)]
    async with in_transaction() as conn:
        bulk = Bulk(conn)
        await bulk.update(
            Track,
            [
                {"id": t.id, "title": f"new {t.id}", "fee_policy": FeePolicy.MEMBERS_ONLY}
                for t in tracks[:3]
            ],
            ["title", "fee_policy"],
        )
        await bulk.delete(Track, "id", [tracks[0].id])
    left = {t.id: t for t in await Track.all()}
    assert set(left) == {t.id for t in tracks[1:]}
    assert left[tracks[1].id].title == f"new {tracks[1].id}"
    assert left[tracks[1].id].fee_policy == FeePolicy.MEMBERS_ONLY
    assert left[tracks[3].id].title == "u3"


async def test_bulk_select_batches_long_lists_under_sqlite_limits() -> None:
    await Bulk().insert(Genre, [{"slug": f"g{i}", "name": f"G{i}"} for i in range(2000)])
    async with in_transaction() as conn:
        found = await Bulk(conn).select(
            Genre, ("slug",), {"slug": [f"g{i}" for i in range(0, 2000, 2)]}
        )
    assert len(found) == 1000


# --- loading ---------------------------------------------------------------------------------


async def test_copy_rows_loads_rows_lazily_on_both_dialects() -> None:
    def rows() -> object:
        for i in range(1500):
            yield (f"c{i}", f"C{i}")

    written = await copy_rows("genres", ("slug", "name"), rows())  # type: ignore[arg-type]
    assert written == 1500 == await Genre.all().count()
    assert (await Genre.get(slug="c1499")).name == "C1499"


@pytest.mark.postgres_only
async def test_copy_reserved_ids_and_index_rebuilds_on_postgres() -> None:
    await Genre.create(slug="before", name="Before")
    async with raw_connection() as conn:
        first = await reserve_ids(conn, "genres", 10)
        written = await copy_rows(
            "genres", ("id", "slug", "name"), [(first + i, f"r{i}", "R") for i in range(10)], conn
        )
        assert written == 10
        assert await estimated_rows(conn, "genres") >= 0
        statements = await index_statements(conn, "tracks")
        secondary = await index_statements(conn, "tracks", unique=False)
    after = await Genre.create(slug="after", name="After")
    assert after.id == first + 10  # the sequence moved past the reserved range
    drops = [drop for drop, _ in statements]
    assert any("tracks_isrc_key" in d for d in drops)  # a unique constraint
    assert all("CONSTRAINT" not in drop for drop, _ in secondary)
    assert all(create.startswith("CREATE INDEX") for _, create in secondary)
    # The primary key stays: foreign keys depend on it.
    assert not any("tracks_pkey" in d for d in drops)


def test_datetimes_from_raw_rows_are_aware() -> None:
    assert kit_sql.as_datetime("2024-01-02 03:04:05+00:00") == datetime(
        2024, 1, 2, 3, 4, 5, tzinfo=UTC
    )
