"""The rows of a search page, and the per-process cache of first pages (docs/search.md, "Cache").

A page is the ranked hits (``ncm.search.service``) and their rows: the tracks with the
relations the operation selects (``catalog.track_bundle``, one statement) and one batched
statement per other type. Nothing in it depends on the viewer: search matches only public
rows, and every viewer-specific field (``likedByViewer``, ...) resolves per request from the
request's own loaders, which the page's rows are primed into.

The first page of a search (no cursor) is kept per process for ``NCM_SEARCH_CACHE_SECONDS``
by a stale-while-revalidate cache (``ncm.kit.lru.FreshCache``): past that, the page is still
served while one background task reads it again, so a heavy word never makes a listener
wait on its reload; a page not refreshed within three times that bound is dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ncm.accounts import service as accounts
from ncm.catalog import service as catalog
from ncm.config import get_settings
from ncm.kit.lru import FreshCache
from ncm.kit.pagination import Page, page_size
from ncm.playlists import service as playlists
from ncm.schema.accounts.types import User
from ncm.schema.catalog.types import Album, Artist, Track
from ncm.schema.loaders import BatchFn, Loaders
from ncm.schema.playlists.types import Playlist
from ncm.search import service as search_service
from ncm.search.service import Hit, SearchType
from ncm.search.text import name_key

# Per type other than tracks: the batch function the request's loaders use, so the rows
# loaded here are primed into the same loaders the types' resolvers read.
BATCH: dict[SearchType, BatchFn] = {
    SearchType.ALBUM: catalog.albums_by_ids,
    SearchType.ARTIST: catalog.artists_by_ids,
    SearchType.USER: accounts.profiles_by_ids,
    # Search only matches public playlists, so loading them by id shows nothing private.
    SearchType.PLAYLIST: playlists.playlists_by_ids,
}
_VIEW: dict[SearchType, Callable[[Any], Any]] = {
    SearchType.TRACK: Track.from_model,
    SearchType.ALBUM: Album.from_model,
    SearchType.ARTIST: Artist.from_model,
    SearchType.USER: User.from_model,
    SearchType.PLAYLIST: Playlist.from_model,
}
CACHE_ENTRIES = 1024
# Longer queries are answered without the cache (and refused by the service past its limit).
CACHE_MAX_QUERY_CHARS = 2 * search_service.MAX_QUERY_LENGTH

_cache: FreshCache[tuple[Any, ...], SearchPage] = FreshCache(CACHE_ENTRIES)


@dataclass(frozen=True)
class SearchPage:
    """Hits, their rows and their GraphQL objects (a hit whose row is gone has none: it drops
    out of the page). The objects are plain values no resolver changes, so requests share
    them; everything they resolve further comes from each request's loaders."""

    page: Page[Hit]
    tracks: Mapping[int, catalog.TrackBundle]
    rows: Mapping[tuple[SearchType, int], Any]
    views: Mapping[Hit, Any]


async def search_page(
    query: str,
    types: list[SearchType] | None,
    first: int | None,
    after: str | None,
    parts: frozenset[str],
) -> SearchPage:
    """The page with its rows; a first page from the cache when it is on."""
    fresh = get_settings().search_cache_seconds
    if after is not None or fresh <= 0 or len(query) > CACHE_MAX_QUERY_CHARS:
        return await _with_rows(await search_service.search(query, types, first, after), parts)
    size = page_size(first)  # refused before the cache is asked
    wanted = tuple(sorted(set(types or SearchType)))
    # The service's answer depends on the query only through its normalized form.
    text = name_key(query)

    async def load() -> SearchPage:
        return await _with_rows(await search_service.search(text, list(wanted), size, None), parts)

    return await _cache.get((text, wanted, size, parts), load, fresh=fresh)


async def _with_rows(page: Page[Hit], parts: frozenset[str]) -> SearchPage:
    by_type: dict[SearchType, list[int]] = {}
    for hit in page.items:
        by_type.setdefault(hit.type, []).append(hit.id)
    kinds = [kind for kind in by_type if kind is not SearchType.TRACK]
    # gather: one statement per type (the tracks with their relations), not one per hit.
    tracks, *others = await asyncio.gather(
        catalog.track_bundle(parts, by_type.get(SearchType.TRACK, [])),
        *(BATCH[kind](by_type[kind]) for kind in kinds),
    )
    rows: dict[tuple[SearchType, int], Any] = {
        (kind, pk): row
        for kind, found in zip(kinds, others, strict=True)
        for pk, row in found.items()
    }
    views: dict[Hit, Any] = {}
    for hit in page.items:
        if hit.type is SearchType.TRACK:
            bundle = tracks.get(hit.id)
            row = bundle.track if bundle is not None else None
        else:
            row = rows.get((hit.type, hit.id))
        if row is not None:
            views[hit] = _VIEW[hit.type](row)
    return SearchPage(page, tracks, rows, views)


def prime(loaders: Loaders, found: SearchPage) -> None:
    """Put the page's rows into the request's loaders (no statement for them afterwards)."""
    prime_bundles(loaders, found.tracks.values())
    for (kind, pk), row in found.rows.items():
        loaders.one(BATCH[kind]).prime(pk, row)


def prime_bundles(loaders: Loaders, bundles: Any) -> None:
    tracks, albums = loaders.one(catalog.tracks_by_ids), loaders.one(catalog.albums_by_ids)
    artists, genres = (
        loaders.many(catalog.artists_of_tracks),
        loaders.many(catalog.genres_of_tracks),
    )
    for bundle in bundles:
        if bundle is None:
            continue
        pk = bundle.track.id
        tracks.prime(pk, bundle.track)
        if bundle.artists is not None:
            artists.prime(pk, bundle.artists)
        if bundle.album is not None:
            albums.prime(bundle.album.id, bundle.album)
        if bundle.genres is not None:
            genres.prime(pk, bundle.genres)


def clear_cache() -> None:
    """Forget every cached page (the test suite resets it between tests)."""
    _cache.clear()


async def drain_cache() -> None:
    """Wait for the cache's loads and refreshes running now."""
    await _cache.drain()
