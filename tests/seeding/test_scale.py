from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from tortoise import connections
from typer.testing import CliRunner

from ncm.accounts.models import User
from ncm.accounts.passwords import verify_password
from ncm.catalog.models import Album, Artist, Genre, License, Rendition, Track, TrackArtist
from ncm.cli.main import app
from ncm.comments.models import Comment, CommentThread
from ncm.errors import InvalidInput
from ncm.search.service import SearchType, search
from ncm.search.text import document_tokens
from ncm.seeding.rows import EMAIL_DOMAIN, isrc_for
from ncm.seeding.scale import BENCH_PASSWORD, seed_scale
from ncm.seeding.words import EN_WORDS, GENRES, ZH_WORDS
from tests.cli.helpers import ncm
from tests.conftest import BACKEND

TRACKS, USERS = 2_000, 500
SEARCHABLE = ("tracks", "albums", "artists", "users")


async def _sql(query: str, *params: Any) -> list[dict[str, Any]]:
    return await connections.get("default").execute_query_dict(query, list(params))


async def _one(query: str, *params: Any) -> Any:
    return next(iter((await _sql(query, *params))[0].values()))


async def _index_definitions() -> list[tuple[str, str]]:
    rows = await _sql(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname"
    )
    return [(r["indexname"], r["indexdef"]) for r in rows]


async def _matches(tsquery: str) -> int:
    return int(
        await _one(
            "SELECT count(*) FROM tracks WHERE search_vector @@ to_tsquery('simple', $1)",
            tsquery,
        )
    )


async def _check_integrity() -> None:
    orphans = await _sql(
        """
        SELECT
          (SELECT count(*) FROM tracks t WHERE NOT EXISTS (
             SELECT 1 FROM track_artists ta WHERE ta.track_id = t.id AND ta.position = 0))
            AS without_main_artist,
          (SELECT count(*) FROM tracks t WHERE (
             SELECT count(*) FROM renditions r WHERE r.track_id = t.id
               AND r.quality IN ('STANDARD', 'EXHIGH')) <> 2) AS without_renditions,
          (SELECT count(*) FROM tracks t WHERE NOT EXISTS (
             SELECT 1 FROM licenses l WHERE l.track_id = t.id AND l.region = '*'))
            AS without_license,
          (SELECT count(*) FROM tracks t WHERE (
             SELECT count(*) FROM track_genres g WHERE g.track_id = t.id) NOT IN (1, 2))
            AS bad_genre_count,
          (SELECT count(*) FROM tracks t LEFT JOIN albums a ON a.id = t.album_id
             WHERE a.id IS NULL) AS without_album,
          (SELECT count(*) FROM albums al LEFT JOIN artists a ON a.id = al.artist_id
             WHERE a.id IS NULL) AS album_without_artist,
          (SELECT count(*) FROM track_artists ta LEFT JOIN artists a ON a.id = ta.artist_id
             WHERE a.id IS NULL) AS dangling_credit,
          (SELECT count(*) FROM track_artists ta JOIN tracks t ON t.id = ta.track_id
             JOIN albums al ON al.id = t.album_id
             WHERE ta.position = 0 AND ta.artist_id <> al.artist_id) AS main_not_album_artist,
          (SELECT count(*) FROM (SELECT track_id FROM renditions EXCEPT SELECT id FROM tracks) x)
            AS dangling_rendition,
          (SELECT count(*) FROM (SELECT track_id FROM track_genres EXCEPT SELECT id FROM tracks) x)
            AS dangling_genre
        """
    )
    assert orphans == [dict.fromkeys(orphans[0], 0)], orphans


async def _random_ids(table: str, n: int) -> list[int]:
    rows = await _sql(f"SELECT id FROM {table} ORDER BY random() LIMIT $1", n)
    return [r["id"] for r in rows]


async def _check_search_text(sample: int = 150) -> None:
    ids = await _random_ids("tracks", sample)
    rows = await Track.filter(id__in=ids)
    credits: dict[int, list[str]] = {}
    for link in (
        await TrackArtist.filter(track_id__in=ids).order_by("position").select_related("artist")
    ):
        credits.setdefault(link.track_id, []).append(link.artist.name)
    albums = {a.id: a for a in await Album.filter(id__in=[t.album_id for t in rows])}
    for t in rows:
        album = albums[t.album_id]  # type: ignore[index]
        assert t.search_text == document_tokens(t.title, *credits[t.id], album.title), t.id
        assert t.isrc == isrc_for(t.id)
    for al in await Album.filter(id__in=await _random_ids("albums", 50)).select_related("artist"):
        assert al.search_text == document_tokens(al.title, al.artist.name)
    for ar in await Artist.filter(id__in=await _random_ids("artists", 50)):
        assert ar.search_text == document_tokens(ar.name)
    for u in await User.filter(id__in=await _random_ids("users", 50)):
        assert u.search_text == document_tokens(u.handle, u.display_name)


@pytest.mark.postgres_only
async def test_seed_scale_adds_a_consistent_searchable_catalog() -> None:
    before = await _index_definitions()
    report = await seed_scale(tracks=TRACKS, users=USERS, rebuild_indexes=True, seed=42)

    # Row counts: the report and the tables agree.
    assert report["rows_tracks"] == await Track.all().count() == TRACKS
    assert report["rows_artists"] == await Artist.all().count() == TRACKS // 20
    assert report["rows_albums"] == await Album.all().count() == TRACKS // 8
    assert report["rows_users"] == await User.all().count() == USERS
    assert report["rows_licenses"] == await License.all().count() == TRACKS
    renditions = await Rendition.all().count()
    assert report["rows_renditions"] == renditions and 2 * TRACKS < renditions < 5 * TRACKS
    credits = await TrackArtist.all().count()
    assert report["rows_track_artists"] == credits and TRACKS < credits < 2 * TRACKS
    assert report["genres_created"] == len(GENRES)
    assert {"electronic", "dance", "hip-hop", "soundtrack", "rock", "pop"} <= set(
        await Genre.all().values_list("slug", flat=True)
    )
    await _check_integrity()

    # Dropped and rebuilt indexes come back exactly as they were (names and definitions).
    assert await _index_definitions() == before
    # The sessions' timestamp codec does not leak into Tortoise's pool.
    assert isinstance((await Track.first()).created_at, datetime)  # type: ignore[union-attr]

    await _check_search_text()
    plays = [r["play_count"] for r in await _sql("SELECT play_count FROM tracks")]
    plays.sort()
    assert plays[-1] > 50 * plays[len(plays) // 2] > 0  # a long tail with a few huge hits

    user = await User.all().order_by("-id").first()
    assert user is not None and await verify_password(user.password_hash, BENCH_PASSWORD)
    assert user.email == f"{user.handle}@{EMAIL_DOMAIN}"


@pytest.mark.postgres_only
async def test_search_finds_seeded_words_with_realistic_match_sets() -> None:
    await seed_scale(tracks=TRACKS, users=0, seed=7)
    # A two-character Chinese word matches about 0.1-1 % of the tracks.
    zh = {word: await _matches(word) for word in ZH_WORDS}
    assert 0.001 < sum(zh.values()) / len(zh) / TRACKS < 0.012
    word = max(zh, key=lambda w: zh[w])
    page = await search(word, [SearchType.TRACK], 20, None)
    assert len(page.items) == min(20, zh[word])
    for hit in page.items:
        track = await Track.get(id=hit.id)
        assert word in track.search_text.split()
    # So does a five-letter prefix of an English word.
    prefixes = sorted({w[:5] for w in EN_WORDS if len(w) >= 5})
    en = {prefix: await _matches(f"{prefix}:*") for prefix in prefixes}
    assert 0.001 < sum(en.values()) / len(en) / TRACKS < 0.015
    prefix = max(en, key=lambda p: en[p])
    page = await search(prefix, [SearchType.TRACK], 20, None)
    assert len(page.items) == min(20, en[prefix])
    for hit in page.items:
        track = await Track.get(id=hit.id)
        assert any(token.startswith(prefix) for token in track.search_text.split())


@pytest.mark.postgres_only
async def test_running_twice_adds_rows_after_the_existing_ones() -> None:
    first = await seed_scale(tracks=300, users=100)
    max_track = await _one("SELECT max(id) FROM tracks")
    # Rows inserted elsewhere meanwhile take ids from the sequences, not from a seeded range.
    await Genre.create(slug="city-pop", name="City Pop")
    second = await seed_scale(tracks=300, users=100, rebuild_indexes=False)
    assert second["first_track_id"] == max_track + 1
    assert second["first_user_id"] > first["first_user_id"]  # type: ignore[operator]
    assert second["genres_created"] == 0
    assert await Track.all().count() == 600 and await User.all().count() == 200
    assert await Artist.all().count() == 30 and await Album.all().count() == 74
    await _check_integrity()
    await _check_search_text(sample=100)
    # Sequences moved past the seeded ids: an ordinary insert gets a fresh id.
    artist = await Artist.create(name="After the seed", search_text="after the seed")
    assert artist.id > await _one("SELECT max(id) FROM artists WHERE id <> $1", artist.id)
    rendition_ids = await _one("SELECT count(DISTINCT id) = count(*) FROM renditions")
    assert rendition_ids is True


@pytest.mark.postgres_only
async def test_cli_prints_the_report() -> None:
    result = ncm("seed", "scale", "--tracks", "100", "--users", "10", "--json")
    assert result.returncode == 0, result.stderr
    # Progress goes to stderr, so stdout is exactly the JSON report.
    report = json.loads(result.stdout)
    assert result.stderr.strip()
    assert report["rows_tracks"] == 100 and report["rows_users"] == 10
    assert report["user_password"] == BENCH_PASSWORD
    assert "comments_added" not in report
    assert await Track.all().count() == 100


@pytest.mark.postgres_only
async def test_one_entry_point_seeds_comments_on_the_catalog_it_made() -> None:
    result = ncm(
        "seed",
        "scale",
        "--tracks",
        "200",
        "--users",
        "150",
        "--comments",
        "1000",
        "--hot-track-share",
        "0.5",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["rows_tracks"] == 200 and report["rows_users"] == 150
    added = report["comments_added"]
    assert added == await Comment.all().count() and 500 < added < 2000
    hot = await CommentThread.get(id=report["comments_hot_thread_id"])
    assert hot.comment_count > 0.25 * added
    assert await Track.all().count() == 200  # enough tracks already: none added for comments


def test_bad_sizes_are_refused_before_any_work() -> None:
    runner = CliRunner()
    for bad in (["--tracks", "-1"], ["--comments", "-5"], ["--hot-track-share", "2"]):
        result = runner.invoke(app, ["seed", "scale", *bad])
        assert result.exit_code == 2, (bad, result.output)  # a usage error: nothing ran


@pytest.mark.skipif(BACKEND != "sqlite", reason="the SQLite refusal runs on the SQLite pass")
async def test_sqlite_is_refused_with_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="seed scale needs PostgreSQL"):
        await seed_scale(tracks=10, users=10)
    assert await Track.all().count() == 0 and await User.all().count() == 0
    result = ncm("seed", "scale", "--tracks", "10", "--users", "0")
    assert result.returncode == 1 and "seed scale needs PostgreSQL" in result.stderr
