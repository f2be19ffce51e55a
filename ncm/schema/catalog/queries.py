from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import strawberry

from ncm.catalog import service as catalog
from ncm.schema.accounts.types import User
from ncm.schema.base import Connection, Node, connection, connection_of, pk_of, to_global_id
from ncm.schema.catalog import search as search_page
from ncm.schema.catalog.types import Album, Artist, Genre, Track
from ncm.schema.context import Info
from ncm.schema.loaders import BatchFn
from ncm.schema.nodes import resolve_node
from ncm.schema.playlists.types import Playlist
from ncm.search import service as search_service
from ncm.search import suggestions as search_suggestions

T = TypeVar("T")

strawberry.enum(search_service.SearchType, name="SearchType")
SearchType = search_service.SearchType
SearchResult = Annotated[Track | Album | Artist | User | Playlist, strawberry.union("SearchResult")]


async def load_tracks(info: Info, pks: list[int]) -> list[Any]:
    """Track rows (``None`` for a missing id), with the artists, album and genres the
    operation selects anywhere fetched in the same statement and primed into the request's
    loaders (``catalog.track_bundle``): the track page is one round trip, a search page two."""
    loaders = info.context.loaders
    parts = catalog.BUNDLE_PARTS & info.context.document_fields
    if not parts:
        return await loaders.one(catalog.tracks_by_ids).load_many(pks)
    bundles = await loaders.one(catalog.track_bundle, parts).load_many(pks)
    search_page.prime_bundles(loaders, bundles)
    return [bundle.track if bundle is not None else None for bundle in bundles]


async def _one(info: Info, batch: BatchFn, convert: Callable[[Any], T], pk: int) -> T | None:
    row = await info.context.loaders.one(batch).load(pk)
    return convert(row) if row is not None else None


@strawberry.type(description="A name to offer as the listener types; open it with `node(id)`.")
class SearchSuggestion:
    text: str
    type: SearchType
    id: strawberry.ID


@strawberry.type
class CatalogQuery:
    @strawberry.field(description="Any object by its global id.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await resolve_node(info, id)

    @strawberry.field
    async def track(self, info: Info, id: strawberry.ID) -> Track | None:
        (row,) = await load_tracks(info, [pk_of(id, "Track")])
        return Track.from_model(row) if row is not None else None

    @strawberry.field
    async def album(self, info: Info, id: strawberry.ID) -> Album | None:
        return await _one(info, catalog.albums_by_ids, Album.from_model, pk_of(id, "Album"))

    @strawberry.field
    async def artist(self, info: Info, id: strawberry.ID) -> Artist | None:
        return await _one(info, catalog.artists_by_ids, Artist.from_model, pk_of(id, "Artist"))

    @strawberry.field
    async def genres(self, info: Info) -> list[Genre]:
        return [Genre.from_model(g) for g in await catalog.all_genres()]

    @strawberry.field(description="Tracks, newest first; `genre` is a genre slug.")
    async def tracks(
        self,
        info: Info,
        genre: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Track]:
        return connection(await catalog.tracks_page(genre, first, after), Track.from_model)

    @strawberry.field(
        description="Best matches first, across the given types (all when omitted). "
        "Works for Chinese, Japanese and Latin text; Latin words match as prefixes."
    )
    async def search(
        self,
        info: Info,
        query: str,
        types: list[SearchType] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[SearchResult]:
        parts = catalog.BUNDLE_PARTS & info.context.document_fields
        found = await search_page.search_page(query, types, first, after, parts)
        search_page.prime(info.context.loaders, found)
        # Rows deleted between the match and the load drop out.
        return connection_of(found.page, lambda hit: hit, found.views)

    @strawberry.field(
        description="Popular artists, albums, tracks and playlists whose name (or a later word of "
        "it) starts with `prefix`, most popular first; at most 20."
    )
    async def search_suggestions(
        self, info: Info, prefix: str, first: int | None = 10
    ) -> list[SearchSuggestion]:
        found = await search_suggestions.suggestions(prefix, first)
        return [
            SearchSuggestion(text=s.text, type=s.type, id=to_global_id(_TYPE_NAMES[s.type], s.id))
            for s in found
        ]


_TYPE_NAMES = {
    search_service.SearchType.TRACK: "Track",
    search_service.SearchType.ALBUM: "Album",
    search_service.SearchType.ARTIST: "Artist",
    search_service.SearchType.USER: "User",
    search_service.SearchType.PLAYLIST: "Playlist",
}
