"""Liked songs: every user's LIKED playlist, created on first use, newest like first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from ncm.accounts.models import User
from ncm.accounts.permissions import require_viewer
from ncm.catalog.models import Track
from ncm.errors import NotFound
from ncm.kit.db import column
from ncm.playlists import shares
from ncm.playlists.entries import add_locked, locked
from ncm.playlists.models import Playlist, PlaylistEntry, PlaylistKind, Privacy, TrackLikeShare

LIKED_TITLE = "Liked songs"


async def liked_playlist(user: User) -> Playlist:
    """The user's liked songs, created on first use (a unique key settles races)."""
    found = await Playlist.get_or_none(liked_owner_id=user.id)
    if found is not None:
        return found
    try:
        return await Playlist.create(
            owner_id=user.id,
            liked_owner_id=user.id,
            kind=PlaylistKind.LIKED,
            title=LIKED_TITLE,
            privacy=Privacy.PRIVATE,
            owner_sort_key=-(1 << 62),
        )
    except IntegrityError:
        return await Playlist.get(liked_owner_id=user.id)


async def like_track(
    actor: User | None, track_id: int, *, share_token: str | None = None
) -> tuple[Track, bool]:
    """Like a track (idempotent); returns (track, newly liked). A share token credits the
    share that led here (see ``shares.share_for_track``)."""
    user = require_viewer(actor)
    track = await Track.get_or_none(id=track_id)
    if track is None:
        raise NotFound("No such track.", field="trackId")
    share_id = await shares.share_for_track(share_token, track.id, user)
    playlist = await liked_playlist(user)
    async with locked(playlist.id) as lock:
        result = await add_locked(lock, user.id, [track.id], position=0)
        liked = bool(result.added)
        if liked:
            await (
                Track.filter(id=track.id).using_db(lock.conn).update(like_count=F("like_count") + 1)
            )
            if share_id is not None:
                # Under the liked playlist's lock, so a like and an unlike of this user queue.
                await (
                    TrackLikeShare.filter(user_id=user.id, track_id=track.id)
                    .using_db(lock.conn)
                    .delete()
                )  # a row left by a like undone before unlikes took them back
                await TrackLikeShare.create(
                    user_id=user.id, track_id=track.id, share_id=share_id, using_db=lock.conn
                )
                await shares.credit(lock.conn, share_id, "like_count")
    await track.refresh_from_db(fields=["like_count"])
    return track, liked


async def unlike_track(actor: User | None, track_id: int) -> Track:
    user = require_viewer(actor)
    track = await Track.get_or_none(id=track_id)
    if track is None:
        raise NotFound("No such track.", field="trackId")
    playlist = await Playlist.get_or_none(liked_owner_id=user.id)
    if playlist is None:
        return track
    async with locked(playlist.id) as lock:
        removed = (
            await PlaylistEntry.filter(playlist_id=playlist.id, track_id=track.id)
            .using_db(lock.conn)
            .delete()
        )
        if removed:
            await (
                Playlist.filter(id=playlist.id)
                .using_db(lock.conn)
                .update(
                    entry_count=F("entry_count") - removed,
                    version=F("version") + 1,
                    updated_at=datetime.now(UTC),
                )
            )
            await (
                Track.filter(id=track.id).using_db(lock.conn).update(like_count=F("like_count") - 1)
            )
            credited = (
                await TrackLikeShare.filter(user_id=user.id, track_id=track.id)
                .using_db(lock.conn)
                .first()
            )
            if credited is not None:  # the share's like no longer stands
                await credited.delete(using_db=lock.conn)
                await shares.credit(lock.conn, credited.share_id, "like_count", -1)
    await track.refresh_from_db(fields=["like_count"])
    return track


async def liked_states(user_id: int, track_ids: Sequence[int]) -> dict[int, bool]:
    """Whether the user liked each track: one query for a whole page."""
    rows = await column(
        PlaylistEntry.filter(playlist__liked_owner_id=user_id, track_id__in=list(track_ids)),
        "track_id",
    )
    liked = set(rows)
    return {t: t in liked for t in track_ids}
