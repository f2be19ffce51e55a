"""The promoted objects of the catalog: whether they can still be served, and their tracks.

The promotion domain reads the catalog's and the playlists' tables (it never changes them):
a playlist made private or deleted, or a track withdrawn, stops its campaigns from being
served (checked when the live set loads and by the ``promotion_check_objects`` job).
"""

from __future__ import annotations

from collections.abc import Iterable

from ncm.catalog.models import Album, Artist, Track, TrackArtist, TrackStatus
from ncm.playlists.models import Playlist, PlaylistEntry, PlaylistKind, Privacy
from ncm.promotion.models import ObjectKind

Ref = tuple[ObjectKind, int]


async def available(refs: Iterable[Ref]) -> set[Ref]:
    """The refs whose object exists and may be shown to everyone (one query per kind)."""
    by_kind: dict[ObjectKind, set[int]] = {}
    for kind, pk in refs:
        by_kind.setdefault(kind, set()).add(pk)
    found: set[Ref] = set()
    for kind, ids in by_kind.items():
        rows: list[int]
        if kind == ObjectKind.PLAYLIST:
            rows = await Playlist.filter(
                id__in=ids, deleted_at=None, privacy=Privacy.PUBLIC, kind=PlaylistKind.NORMAL
            ).values_list("id", flat=True)  # type: ignore[assignment]
        elif kind == ObjectKind.TRACK:
            rows = await Track.filter(id__in=ids, status=TrackStatus.AVAILABLE).values_list(
                "id", flat=True
            )  # type: ignore[assignment]
        elif kind == ObjectKind.ALBUM:
            rows = await Album.filter(id__in=ids).values_list("id", flat=True)  # type: ignore[assignment]
        elif kind == ObjectKind.ARTIST:
            rows = await Artist.filter(id__in=ids).values_list("id", flat=True)  # type: ignore[assignment]
        else:
            continue
        found.update((kind, int(pk)) for pk in rows)
    return found


async def title_of(kind: ObjectKind, pk: int) -> str | None:
    if kind == ObjectKind.PLAYLIST:
        playlist = await Playlist.get_or_none(id=pk)
        return playlist.title if playlist else None
    if kind == ObjectKind.TRACK:
        track = await Track.get_or_none(id=pk)
        return track.title if track else None
    if kind == ObjectKind.ALBUM:
        album = await Album.get_or_none(id=pk)
        return album.title if album else None
    if kind == ObjectKind.ARTIST:
        artist = await Artist.get_or_none(id=pk)
        return artist.name[:200] if artist else None
    return None


async def tracks_of(kind: ObjectKind, pk: int) -> set[int]:
    """The tracks whose play converts for a campaign promoting this object."""
    if kind == ObjectKind.TRACK:
        return {pk}
    if kind == ObjectKind.ALBUM:
        rows = await Track.filter(album_id=pk).values_list("id", flat=True)
    elif kind == ObjectKind.ARTIST:
        rows = await TrackArtist.filter(artist_id=pk).values_list("track_id", flat=True)
    elif kind == ObjectKind.PLAYLIST:
        rows = await PlaylistEntry.filter(playlist_id=pk).values_list("track_id", flat=True)
    else:
        return set()
    return {int(r) for r in rows}  # type: ignore[call-overload]
