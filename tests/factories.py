"""Small builders for catalog rows in tests (the importer has its own tests)."""

from __future__ import annotations

import itertools
from typing import Any

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
)
from ncm.search.text import document_tokens

_seq = itertools.count(1)


async def genre(slug: str = "pop") -> Genre:
    found, _ = await Genre.get_or_create(slug=slug, defaults={"name": slug.title()})
    return found


async def artist(name: str | None = None) -> Artist:
    name = name or f"Artist {next(_seq)}"
    return await Artist.create(name=name, search_text=document_tokens(name))


async def album(title: str | None = None, by: Artist | None = None) -> Album:
    by = by or await artist()
    title = title or f"Album {next(_seq)}"
    return await Album.create(title=title, artist=by, search_text=document_tokens(title, by.name))


async def track(
    title: str | None = None,
    *,
    artists: list[Artist] | None = None,
    on: Album | None = None,
    genres: list[str] = ("pop",),  # type: ignore[assignment]
    fee_policy: FeePolicy = FeePolicy.FREE,
    play_count: int = 0,
    **fields: Any,
) -> Track:
    artists = artists or [await artist()]
    on = on if on is not None else await album(by=artists[0])
    title = title or f"Track {next(_seq)}"
    row = await Track.create(
        title=title,
        album=on,
        duration_ms=200_000,
        fee_policy=fee_policy,
        play_count=play_count,
        search_text=document_tokens(title, *(a.name for a in artists), on.title),
        **fields,
    )
    for position, a in enumerate(artists):
        await TrackArtist.create(track=row, artist=a, position=position)
    for slug in genres:
        await TrackGenre.create(track=row, genre=await genre(slug))
    await Rendition.create(
        track=row,
        quality=Quality.STANDARD,
        bitrate=128,
        format="mp3",
        size_bytes=3_200_000,
        path=f"t/{row.id}/std.mp3",
    )
    await License.create(track=row, region="*")
    return row
