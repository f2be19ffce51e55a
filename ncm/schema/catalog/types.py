from __future__ import annotations

from collections.abc import Awaitable
from datetime import date, datetime
from typing import Any

import strawberry

from ncm.catalog import models as m
from ncm.catalog import service as catalog
from ncm.playlists.likes import liked_states
from ncm.schema.base import Connection, ModelView, Node, connection
from ncm.schema.context import Context, Info
from ncm.schema.executor import NOT_PRIMED, answered_by
from ncm.schema.nodes import register_node

FeePolicy = strawberry.enum(
    m.FeePolicy,
    name="FeePolicy",
    description="FREE; MEMBERS_ONLY; FREE_STANDARD: standard quality free, higher for members.",
)
strawberry.enum(m.TrackStatus, name="TrackStatus")
Quality = strawberry.enum(
    m.Quality,
    name="Quality",
    description="STANDARD 128k, HIGHER 192k, EXHIGH 320k, LOSSLESS, HIRES.",
)


@strawberry.type
class Genre(Node, ModelView):
    slug: str
    name: str


@strawberry.type(description="One encoded file of a track.")
class Rendition(ModelView):
    quality: m.Quality
    bitrate: int = strawberry.field(description="kbit/s")
    format: str
    size_bytes: float = strawberry.field(description="Bytes (a Float: files can exceed 2^31).")


@strawberry.type(description="Where and when a track may be played; region `*` is everywhere.")
class License(ModelView):
    region: str
    available_from: datetime | None
    available_until: datetime | None


@strawberry.type
class Artist(Node, ModelView):
    pk: strawberry.Private[int]
    name: str
    bio: str
    avatar_url: str | None
    region: str | None
    subscriber_count: int

    @strawberry.field(description="Albums, newest first.")
    async def albums(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Album]:
        return connection(await catalog.albums_of_artist(self.pk, first, after), Album.from_model)

    @strawberry.field(description="The most played tracks (at most 50).")
    async def top_tracks(self, info: Info, limit: int = 10) -> list[Track]:
        limit = max(0, min(limit, 50))
        return [Track.from_model(t) for t in await catalog.top_tracks_of_artist(self.pk, limit)]


@strawberry.type
class Album(Node, ModelView):
    pk: strawberry.Private[int]
    artist_pk: strawberry.Private[int]
    title: str
    release_date: date | None
    cover_url: str | None
    comment_count: int
    subscriber_count: int
    share_count: int

    @strawberry.field
    async def artist(self, info: Info) -> Artist:
        return Artist.from_model(
            await info.context.loaders.one(catalog.artists_by_ids).load(self.artist_pk)
        )

    @strawberry.field(description="In disc and track order.")
    async def tracks(self, info: Info) -> list[Track]:
        rows = await info.context.loaders.many(catalog.tracks_of_albums).load(self.pk)
        return [Track.from_model(t) for t in rows]


@strawberry.type
class Track(Node, ModelView):
    pk: strawberry.Private[int]
    album_pk: strawberry.Private[int | None]
    title: str
    duration_ms: int
    isrc: str | None
    language: str | None
    explicit: bool
    fee_policy: m.FeePolicy
    status: m.TrackStatus
    disc_number: int
    track_number: int
    play_count: float = strawberry.field(description="A Float: counts can exceed 2^31.")
    like_count: int
    comment_count: int
    subscriber_count: int
    share_count: int

    # artists, album and genres are usually primed (``load_tracks`` fetches them with the
    # track): then a shape reads them like plain attributes (``answered_by``), or, on
    # graphql-core's path, they answer synchronously, far cheaper than a coroutine per field
    # per row; otherwise they return the loader's coroutine.
    @strawberry.field(description="In credit order; the first is the main artist.")
    @answered_by(lambda track, context: track._primed_artists(context))
    def artists(self, info: Info) -> list[Artist]:
        found = self._primed_artists(info.context)
        if found is NOT_PRIMED:
            loader = info.context.loaders.many(catalog.artists_of_tracks)
            return _artists(loader.load(self.pk))  # type: ignore[return-value]
        return found

    @strawberry.field
    @answered_by(lambda track, context: track._primed_album(context))
    def album(self, info: Info) -> Album | None:
        found = self._primed_album(info.context)
        if found is NOT_PRIMED:
            loader = info.context.loaders.one(catalog.albums_by_ids)
            return _album(loader.load(self.album_pk))  # type: ignore[return-value]
        return found

    @strawberry.field
    @answered_by(lambda track, context: track._primed_genres(context))
    def genres(self, info: Info) -> list[Genre]:
        found = self._primed_genres(info.context)
        if found is NOT_PRIMED:
            loader = info.context.loaders.many(catalog.genres_of_tracks)
            return _genres(loader.load(self.pk))  # type: ignore[return-value]
        return found

    def _primed_artists(self, context: Context) -> Any:
        rows = context.loaders.many(catalog.artists_of_tracks).peek(self.pk, NOT_PRIMED)
        return rows if rows is NOT_PRIMED else [Artist.from_model(a) for a in rows]

    def _primed_album(self, context: Context) -> Any:
        if self.album_pk is None:
            return None
        row = context.loaders.one(catalog.albums_by_ids).peek(self.album_pk, NOT_PRIMED)
        if row is NOT_PRIMED:
            return row
        return Album.from_model(row) if row else None

    def _primed_genres(self, context: Context) -> Any:
        rows = context.loaders.many(catalog.genres_of_tracks).peek(self.pk, NOT_PRIMED)
        return rows if rows is NOT_PRIMED else [Genre.from_model(g) for g in rows]

    @strawberry.field(description="The encodings that exist, lowest quality first.")
    async def renditions(self, info: Info) -> list[Rendition]:
        rows = await info.context.loaders.many(catalog.renditions_of_tracks).load(self.pk)
        return [Rendition.from_model(r) for r in rows]

    @strawberry.field(description="Whether the viewer liked this track (false when anonymous).")
    async def liked_by_viewer(self, info: Info) -> bool:
        viewer = await info.context.viewer()
        if viewer is None:
            return False
        return bool(await info.context.loaders.one(liked_states, viewer.id).load(self.pk))

    @strawberry.field
    async def licenses(self, info: Info) -> list[License]:
        rows = await info.context.loaders.many(catalog.licenses_of_tracks).load(self.pk)
        return [License.from_model(r) for r in rows]


async def _artists(rows: Awaitable[list[m.Artist]]) -> list[Artist]:
    return [Artist.from_model(a) for a in await rows]


async def _album(row: Awaitable[m.Album | None]) -> Album | None:
    found = await row
    return Album.from_model(found) if found else None


async def _genres(rows: Awaitable[list[m.Genre]]) -> list[Genre]:
    return [Genre.from_model(g) for g in await rows]


register_node("Track", catalog.tracks_by_ids, Track.from_model)
register_node("Album", catalog.albums_by_ids, Album.from_model)
register_node("Artist", catalog.artists_by_ids, Artist.from_model)
register_node("Genre", catalog.genres_by_ids, Genre.from_model)
