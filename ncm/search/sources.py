"""What is searchable: a table per type, its name column, its popularity counter, its place
among types, and what of it may be shown. Search, the tiers and the suggestions read it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SearchType(StrEnum):
    TRACK = "TRACK"
    ALBUM = "ALBUM"
    ARTIST = "ARTIST"
    USER = "USER"
    PLAYLIST = "PLAYLIST"


@dataclass(frozen=True)
class Source:
    table: str
    title: str  # the column an exact match of the whole query is checked against
    popularity: str  # a stored counter
    order: int  # tie-break between types with the same score
    visible: str = ""  # an extra condition on ``t`` (e.g. only public playlists)


SOURCES: dict[SearchType, Source] = {
    SearchType.ARTIST: Source("artists", "name", "subscriber_count", 4),
    SearchType.ALBUM: Source("albums", "title", "subscriber_count", 3),
    SearchType.TRACK: Source("tracks", "title", "play_count", 2),
    SearchType.USER: Source("users", "handle", "follower_count", 0),
    SearchType.PLAYLIST: Source(
        "playlists",
        "title",
        "subscriber_count",
        1,
        " AND t.privacy = 'PUBLIC' AND t.kind = 'NORMAL' AND t.deleted_at IS NULL",
    ),
}
