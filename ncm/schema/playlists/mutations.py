from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry

from ncm.accounts.models import User as UserModel
from ncm.playlists import entries as entries_service
from ncm.playlists import likes, shares
from ncm.playlists import models as m
from ncm.playlists import service as playlists
from ncm.playlists.errors import PlaylistFull, PlaylistVersionConflict
from ncm.schema.base import (
    ConflictError,
    Error,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    error_fields,
    given,
    mutation,
    pk_of,
    register_error,
    to_global_id,
)
from ncm.schema.catalog.types import Track
from ncm.schema.context import Info
from ncm.schema.playlists.types import Playlist, PlaylistEntry, ShareLink


@strawberry.type(description="The playlist changed since `expectedVersion`; reload it.")
class PlaylistVersionConflictError(Error):
    current_version: int


@strawberry.type(description="The playlist would exceed its limit of entries.")
class PlaylistFullError(Error):
    limit: int


register_error(
    PlaylistVersionConflict,
    lambda e: PlaylistVersionConflictError(current_version=e.current_version, **error_fields(e)),
)
register_error(
    PlaylistFull,
    lambda e: PlaylistFullError(limit=e.limit, **error_fields(e)),
)


@strawberry.input
class CreatePlaylistInput:
    title: str
    description: str | None = None
    privacy: m.Privacy = m.Privacy.PUBLIC
    tags: list[str] | None = None
    cover_url: str | None = None
    allow_duplicates: bool = False


@strawberry.input(description="Only the fields given change. Owner only.")
class UpdatePlaylistInput:
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    cover_url: str | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    privacy: m.Privacy | None = strawberry.UNSET
    allow_duplicates: bool | None = strawberry.UNSET


@strawberry.type
class PlaylistPayload:
    playlist: Playlist


@strawberry.type
class AddTracksPayload:
    playlist: Playlist
    added: list[PlaylistEntry]
    skipped_track_ids: list[strawberry.ID] = strawberry.field(
        description="Tracks already in a playlist that does not allow duplicates."
    )


@strawberry.type
class TrackLikePayload:
    track: Track
    liked: bool


@strawberry.type
class SubscribePayload:
    playlist: Playlist
    subscribed: bool


@strawberry.type
class SharePayload:
    share_link: ShareLink


PlaylistResult = Annotated[
    PlaylistPayload
    | NotFoundError
    | InvalidInputError
    | PlaylistVersionConflictError
    | RateLimitedError,
    strawberry.union("PlaylistResult"),
]
EntriesResult = Annotated[
    AddTracksPayload
    | PlaylistPayload
    | NotFoundError
    | InvalidInputError
    | ConflictError
    | PlaylistVersionConflictError
    | PlaylistFullError,
    strawberry.union("PlaylistEntriesResult"),
]
LikeResult = Annotated[
    TrackLikePayload | NotFoundError | InvalidInputError, strawberry.union("TrackLikeResult")
]
SubscribeResult = Annotated[
    SubscribePayload | NotFoundError | InvalidInputError, strawberry.union("SubscribeResult")
]
ShareResult = Annotated[
    SharePayload | NotFoundError | InvalidInputError | RateLimitedError,
    strawberry.union("ShareResult"),
]


def _track_ids(ids: list[strawberry.ID]) -> list[int]:
    return [pk_of(i, "Track", field="trackIds") for i in ids]


def _entry_rows(result: entries_service.AddResult) -> list[PlaylistEntry]:
    return [
        PlaylistEntry.from_row(entries_service.EntryRow(e, result.start_index + i))
        for i, e in enumerate(result.added)
    ]


@strawberry.type
class PlaylistsMutation:
    @mutation()
    async def create_playlist(self, info: Info, input: CreatePlaylistInput) -> PlaylistResult:
        p = await playlists.create_playlist(
            await info.context.viewer(),
            title=input.title,
            description=input.description,
            privacy=input.privacy,
            tags=input.tags,
            cover_url=input.cover_url,
            allow_duplicates=input.allow_duplicates,
        )
        return PlaylistPayload(playlist=Playlist.from_model(p))

    @mutation(description="Owner only. Pass `expectedVersion` to detect conflicts.")
    async def update_playlist(
        self,
        info: Info,
        playlist_id: strawberry.ID,
        input: UpdatePlaylistInput,
        expected_version: int | None = None,
    ) -> PlaylistResult:
        p = await playlists.update_playlist(
            await info.context.viewer(),
            pk_of(playlist_id, "Playlist", field="playlistId"),
            expected_version=expected_version,
            title=given(input.title),
            description=given(input.description),
            cover_url=given(input.cover_url),
            tags=given(input.tags),
            privacy=given(input.privacy),
            allow_duplicates=given(input.allow_duplicates),
        )
        return PlaylistPayload(playlist=Playlist.from_model(p))

    @mutation(description="Owner only; restorable for 30 days.")
    async def delete_playlist(self, info: Info, playlist_id: strawberry.ID) -> PlaylistResult:
        return await _playlist_call(info, playlist_id, playlists.delete_playlist)

    @mutation(description="Undo a delete within 30 days.")
    async def restore_playlist(self, info: Info, playlist_id: strawberry.ID) -> PlaylistResult:
        return await _playlist_call(info, playlist_id, playlists.restore_playlist)

    @mutation(description="Put one of your playlists before another (null: last).")
    async def move_playlist(
        self,
        info: Info,
        playlist_id: strawberry.ID,
        before_playlist_id: strawberry.ID | None = None,
    ) -> PlaylistResult:
        before = (
            pk_of(before_playlist_id, "Playlist", field="beforePlaylistId")
            if before_playlist_id
            else None
        )
        return await _playlist_call(
            info, playlist_id, lambda viewer, pk: playlists.move_playlist(viewer, pk, before)
        )

    @mutation(description="Owner only: let a user edit the entries.")
    async def add_playlist_collaborator(
        self, info: Info, playlist_id: strawberry.ID, user_id: strawberry.ID
    ) -> PlaylistResult:
        user = pk_of(user_id, "User", field="userId")
        return await _playlist_call(
            info, playlist_id, lambda viewer, pk: playlists.add_collaborator(viewer, pk, user)
        )

    @mutation(description="The owner removes a collaborator, or one leaves.")
    async def remove_playlist_collaborator(
        self, info: Info, playlist_id: strawberry.ID, user_id: strawberry.ID
    ) -> PlaylistResult:
        user = pk_of(user_id, "User", field="userId")
        return await _playlist_call(
            info, playlist_id, lambda viewer, pk: playlists.remove_collaborator(viewer, pk, user)
        )

    @mutation(description="Add tracks at `position` (0 = top) or at the end.")
    async def add_tracks_to_playlist(
        self,
        info: Info,
        playlist_id: strawberry.ID,
        track_ids: list[strawberry.ID],
        position: int | None = None,
        expected_version: int | None = None,
    ) -> EntriesResult:
        result = await entries_service.add_tracks(
            await info.context.viewer(),
            pk_of(playlist_id, "Playlist", field="playlistId"),
            _track_ids(track_ids),
            position=position,
            expected_version=expected_version,
        )
        return _add_payload(result)

    @mutation(description="Remove entries by entry id (all or nothing).")
    async def remove_playlist_entries(
        self,
        info: Info,
        playlist_id: strawberry.ID,
        entry_ids: list[strawberry.ID],
        expected_version: int | None = None,
    ) -> EntriesResult:
        p = await entries_service.remove_entries(
            await info.context.viewer(),
            pk_of(playlist_id, "Playlist", field="playlistId"),
            [pk_of(e, "PlaylistEntry", field="entryIds") for e in entry_ids],
            expected_version=expected_version,
        )
        return PlaylistPayload(playlist=Playlist.from_model(p))

    @mutation(
        description="Move `rangeLength` entries starting at `rangeStart` to before the entry at "
        "`insertBefore` (positions before the move; the entry count moves them to the end)."
    )
    async def move_playlist_entries(
        self,
        info: Info,
        playlist_id: strawberry.ID,
        range_start: int,
        insert_before: int,
        range_length: int = 1,
        expected_version: int | None = None,
    ) -> EntriesResult:
        p = await entries_service.move_entries(
            await info.context.viewer(),
            pk_of(playlist_id, "Playlist", field="playlistId"),
            range_start=range_start,
            insert_before=insert_before,
            range_length=range_length,
            expected_version=expected_version,
        )
        return PlaylistPayload(playlist=Playlist.from_model(p))

    @mutation(description="Make the playlist exactly these tracks, in order.")
    async def replace_playlist_entries(
        self,
        info: Info,
        playlist_id: strawberry.ID,
        track_ids: list[strawberry.ID],
        expected_version: int | None = None,
    ) -> EntriesResult:
        result = await entries_service.replace_entries(
            await info.context.viewer(),
            pk_of(playlist_id, "Playlist", field="playlistId"),
            _track_ids(track_ids),
            expected_version=expected_version,
        )
        return _add_payload(result)

    @mutation(description="Idempotent. `shareToken` credits the share that led here.")
    async def like_track(
        self, info: Info, track_id: strawberry.ID, share_token: str | None = None
    ) -> LikeResult:
        track, liked = await likes.like_track(
            await info.context.viewer(),
            pk_of(track_id, "Track", field="trackId"),
            share_token=share_token,
        )
        return TrackLikePayload(track=Track.from_model(track), liked=liked)

    @mutation(description="Idempotent.")
    async def unlike_track(self, info: Info, track_id: strawberry.ID) -> LikeResult:
        track = await likes.unlike_track(
            await info.context.viewer(), pk_of(track_id, "Track", field="trackId")
        )
        return TrackLikePayload(track=Track.from_model(track), liked=False)

    @mutation(description="Save someone's public playlist; idempotent.")
    async def subscribe_playlist(
        self, info: Info, playlist_id: strawberry.ID, share_token: str | None = None
    ) -> SubscribeResult:
        p, _ = await playlists.subscribe(
            await info.context.viewer(),
            pk_of(playlist_id, "Playlist", field="playlistId"),
            share_token=share_token,
        )
        return SubscribePayload(playlist=Playlist.from_model(p), subscribed=True)

    @mutation(description="Idempotent.")
    async def unsubscribe_playlist(self, info: Info, playlist_id: strawberry.ID) -> SubscribeResult:
        p = await playlists.unsubscribe(
            await info.context.viewer(), pk_of(playlist_id, "Playlist", field="playlistId")
        )
        return SubscribePayload(playlist=Playlist.from_model(p), subscribed=False)

    @mutation()
    async def share_track(
        self, info: Info, track_id: strawberry.ID, channel: m.ShareChannel = m.ShareChannel.LINK
    ) -> ShareResult:
        share = await shares.share_track(
            await info.context.viewer(), pk_of(track_id, "Track", field="trackId"), channel
        )
        return SharePayload(share_link=ShareLink(model=share))

    @mutation()
    async def share_playlist(
        self,
        info: Info,
        playlist_id: strawberry.ID,
        channel: m.ShareChannel = m.ShareChannel.LINK,
    ) -> ShareResult:
        share = await shares.share_playlist(
            await info.context.viewer(),
            pk_of(playlist_id, "Playlist", field="playlistId"),
            channel,
        )
        return SharePayload(share_link=ShareLink(model=share))


def _add_payload(result: entries_service.AddResult) -> AddTracksPayload:
    return AddTracksPayload(
        playlist=Playlist.from_model(result.playlist),
        added=_entry_rows(result),
        skipped_track_ids=[to_global_id("Track", t) for t in result.skipped_track_ids],
    )


PlaylistAction = Callable[[UserModel | None, int], Awaitable[m.Playlist]]


async def _playlist_call(
    info: Info, playlist_id: strawberry.ID, action: PlaylistAction
) -> PlaylistPayload:
    p = await action(
        await info.context.viewer(), pk_of(playlist_id, "Playlist", field="playlistId")
    )
    return PlaylistPayload(playlist=Playlist.from_model(p))
