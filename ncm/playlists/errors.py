"""Playlist-specific expected failures."""

from __future__ import annotations

from enum import StrEnum

from ncm.errors import Conflict, InvalidInput


class PlaylistsErrorCode(StrEnum):
    PLAYLIST_VERSION_CONFLICT = "PLAYLIST_VERSION_CONFLICT"
    PLAYLIST_FULL = "PLAYLIST_FULL"


class PlaylistVersionConflict(Conflict):
    code = PlaylistsErrorCode.PLAYLIST_VERSION_CONFLICT

    def __init__(self, current_version: int) -> None:
        super().__init__(
            "The playlist changed since you loaded it; reload and try again.",
            field="expectedVersion",
        )
        self.current_version = current_version


class PlaylistFull(InvalidInput):
    code = PlaylistsErrorCode.PLAYLIST_FULL

    def __init__(self, limit: int, current: int) -> None:
        super().__init__(
            f"A playlist holds at most {limit} tracks; this one has {current}.", field="trackIds"
        )
        self.limit = limit
