"""Catalog reads: tracks, albums, artists and genres, in batches for the DataLoaders."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from ncm.catalog.models import (
    QUALITY_ORDER,
    Album,
    Artist,
    Genre,
    License,
    Rendition,
    Track,
)
from ncm.errors import NotFound
from ncm.kit.db import is_postgres
from ncm.kit.pagination import Page, page_by_id_desc
from ncm.kit.sql import by_id, columns, fetch_rows, hydrator, related_by, rows_by
from ncm.kit.text import max_length

TOP_TRACKS = 10
R = TypeVar("R")
V = TypeVar("V")
M = TypeVar("M")
SLUG_MAX = max_length(Genre, "slug")


async def get_track(track_id: int) -> Track:
    track = await Track.get_or_none(id=track_id)
    if track is None:
        raise NotFound("No such track.", field="id")
    return track


async def find_genre(slug: str) -> Genre:
    slug = slug.strip().lower()
    genre = await Genre.get_or_none(slug=slug) if len(slug) <= SLUG_MAX else None
    if genre is None:
        raise NotFound(f"No genre {slug!r}.", field="genre")
    return genre


async def tracks_by_ids(ids: Sequence[int]) -> dict[int, Track]:
    return await by_id(Track, ids)


@dataclass(frozen=True)
class TrackBundle:
    """A track with the relations a page asked for (``None``: not fetched)."""

    track: Track
    artists: list[Artist] | None
    album: Album | None
    genres: list[Genre] | None


BUNDLE_PARTS = frozenset({"artists", "album", "genres"})


async def track_bundle(parts: frozenset[str], ids: Sequence[int]) -> dict[int, TrackBundle]:
    """A track with its artists (credit order), album and genres (by name), whichever of
    ``BUNDLE_PARTS`` are asked for, in one statement on PostgreSQL (the album joined, the
    artists and genres aggregated as JSON): the track page is one round trip where the
    loaders make four. The same rows as ``tracks_by_ids``, ``artists_of_tracks``,
    ``albums_by_ids`` and ``genres_of_tracks``, which the embedded SQLite runs instead.

    One id is compared with ``=``, so PostgreSQL keeps one generic plan for the statement
    (with ``= ANY($1)`` it planned it again for some executions); a page of them (search)
    takes the array."""
    if not ids:
        return {}
    if not is_postgres():
        tracks = await tracks_by_ids(ids)
        album_ids = [t.album_id for t in tracks.values() if t.album_id is not None]
        artists = await artists_of_tracks(ids) if "artists" in parts else None
        albums = await albums_by_ids(album_ids) if "album" in parts else {}
        genres = await genres_of_tracks(ids) if "genres" in parts else None
        return {
            pk: TrackBundle(
                t,
                artists.get(pk, []) if artists is not None else None,
                albums.get(t.album_id) if t.album_id is not None else None,
                genres.get(pk, []) if genres is not None else None,
            )
            for pk, t in tracks.items()
        }
    many = len(ids) > 1
    rows = await fetch_rows(_bundle_sql(parts, many), [list(ids) if many else ids[0]])
    out: dict[int, TrackBundle] = {}
    track_of, album_of = hydrator(Track), hydrator(Album, "al__")
    for row in rows:
        track = track_of(row)
        album = album_of(row) if "album" in parts and row["al__id"] is not None else None
        out[track.id] = TrackBundle(
            track,
            _from_json(Artist, row["artists__"]) if "artists" in parts else None,
            album,
            _from_json(Genre, row["genres__"]) if "genres" in parts else None,
        )
    return out


_BUNDLE_SQL: dict[tuple[frozenset[str], bool], str] = {}


def _bundle_sql(parts: frozenset[str], many: bool) -> str:
    found = _BUNDLE_SQL.get((parts, many))
    if found is not None:
        return found
    select, joins = [columns(Track, "t")], []
    if "album" in parts:
        select.append(", ".join(f"al.{c} AS al__{c}" for c in _names(Album)))
        joins.append(" LEFT JOIN albums al ON al.id = t.album_id")
    for part, model, link, key, order in (
        ("artists", Artist, "track_artists", "artist_id", "l.position"),
        ("genres", Genre, "track_genres", "genre_id", "m.name"),
    ):
        if part in parts:
            fields_ = ", ".join(f"'{c}', m.{c}" for c in _names(model))
            select.append(
                f"(SELECT json_agg(json_build_object({fields_}) ORDER BY {order})"
                f" FROM {link} l JOIN {model._meta.db_table} m ON m.id = l.{key}"
                f" WHERE l.track_id = t.id) AS {part}__"
            )
    where = "t.id = ANY($1::bigint[])" if many else "t.id = $1"
    found = _BUNDLE_SQL[parts, many] = (
        f"SELECT {', '.join(select)} FROM tracks t{''.join(joins)} WHERE {where}"
    )
    return found


def _names(model: type[Any]) -> list[str]:
    return [name.strip() for name in columns(model).split(",")]


def _from_json(model: type[Any], text: str | None) -> list[Any]:
    """Models from a JSON array of their rows (``created_at`` is parsed by its field)."""
    if text is None:
        return []
    hydrate = hydrator(model)
    return [hydrate(item) for item in orjson.loads(text)]


async def albums_by_ids(ids: Sequence[int]) -> dict[int, Album]:
    return await by_id(Album, ids)


async def artists_by_ids(ids: Sequence[int]) -> dict[int, Artist]:
    return await by_id(Artist, ids)


async def genres_by_ids(ids: Sequence[int]) -> dict[int, Genre]:
    return await by_id(Genre, ids)


async def all_genres() -> list[Genre]:
    return await Genre.all().order_by("name")


def _group(
    rows: Iterable[R], key: Callable[[R], int | None], value: Callable[[R], V]
) -> dict[int, list[V]]:
    """Rows in their order, grouped under ``key(row)`` (rows without a key are dropped)."""
    result: dict[int, list[V]] = defaultdict(list)
    for row in rows:
        k = key(row)
        if k is not None:
            result[k].append(value(row))
    return result


def _pairs(pairs: Iterable[tuple[int, M]]) -> dict[int, list[M]]:
    return _group(pairs, lambda p: p[0], lambda p: p[1])


async def artists_of_tracks(track_ids: Sequence[int]) -> dict[int, list[Artist]]:
    """Each track's artists in credit order: one query for any number of tracks."""
    order = "l.track_id, l.position"
    return _pairs(
        await related_by(Artist, "track_artists", "artist_id", "track_id", track_ids, order)
    )


async def genres_of_tracks(track_ids: Sequence[int]) -> dict[int, list[Genre]]:
    order = "l.track_id, m.name"
    return _pairs(await related_by(Genre, "track_genres", "genre_id", "track_id", track_ids, order))


async def renditions_of_tracks(track_ids: Sequence[int]) -> dict[int, list[Rendition]]:
    rows = await rows_by(Rendition, "track_id", track_ids)
    rows.sort(key=lambda r: QUALITY_ORDER.index(r.quality))
    return _group(rows, lambda r: r.track_id, lambda r: r)


async def licenses_of_tracks(track_ids: Sequence[int]) -> dict[int, list[License]]:
    rows = await rows_by(License, "track_id", track_ids, " ORDER BY region")
    return _group(rows, lambda r: r.track_id, lambda r: r)


async def tracks_of_albums(album_ids: Sequence[int]) -> dict[int, list[Track]]:
    order = " ORDER BY album_id, disc_number, track_number, id"
    rows = await rows_by(Track, "album_id", album_ids, order)
    return _group(rows, lambda r: r.album_id, lambda r: r)


async def top_tracks_of_artist(artist_id: int, limit: int = TOP_TRACKS) -> list[Track]:
    return (
        await Track.filter(artist_links__artist_id=artist_id)
        .order_by("-play_count", "-id")
        .limit(limit)
    )


async def albums_of_artist(artist_id: int, first: int | None, after: str | None) -> Page[Album]:
    """An artist's albums, newest first."""
    return await page_by_id_desc(Album.filter(artist_id=artist_id), first, after)


async def tracks_page(genre: str | None, first: int | None, after: str | None) -> Page[Track]:
    """Tracks, newest first, optionally of one genre (seeks the (genre_id, track_id) index)."""
    if genre is None:
        return await page_by_id_desc(Track.all(), first, after)
    found = await find_genre(genre)
    return await page_by_id_desc(Track.filter(genre_links__genre_id=found.id), first, after)


async def describe_track(track_id: int) -> dict[str, object]:
    """Everything about one track, flattened for the CLI."""
    track = await get_track(track_id)
    ids = [track.id]
    artists = (await artists_of_tracks(ids)).get(track.id, [])
    genres = (await genres_of_tracks(ids)).get(track.id, [])
    renditions = (await renditions_of_tracks(ids)).get(track.id, [])
    licenses = (await licenses_of_tracks(ids)).get(track.id, [])
    album = (await albums_by_ids([track.album_id])).get(track.album_id) if track.album_id else None
    return {
        "id": track.id,
        "title": track.title,
        "artists": ", ".join(a.name for a in artists),
        "album": album.title if album else None,
        "duration": f"{track.duration_ms // 60000}:{track.duration_ms // 1000 % 60:02d}",
        "isrc": track.isrc,
        "language": track.language,
        "explicit": track.explicit,
        "fee_policy": track.fee_policy,
        "status": track.status,
        "genres": ", ".join(g.slug for g in genres),
        "renditions": ", ".join(f"{r.quality.value} {r.bitrate}k {r.format}" for r in renditions),
        "licenses": ", ".join(
            f"{lic.region}"
            + (f" from {lic.available_from:%Y-%m-%d}" if lic.available_from else "")
            + (f" until {lic.available_until:%Y-%m-%d}" if lic.available_until else "")
            for lic in licenses
        ),
        "plays": track.play_count,
        "likes": track.like_count,
        "comments": track.comment_count,
        "shares": track.share_count,
    }
