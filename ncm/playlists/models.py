from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from ncm.accounts.models import User
from ncm.catalog.models import Track


class Privacy(StrEnum):
    PUBLIC = "PUBLIC"
    PRIVATE = "PRIVATE"


class PlaylistKind(StrEnum):
    NORMAL = "NORMAL"
    LIKED = "LIKED"  # a user's liked songs: one per user, created on first use


class ShareChannel(StrEnum):
    LINK = "LINK"
    WECHAT = "WECHAT"
    WEIBO = "WEIBO"
    QQ = "QQ"
    KKBOX = "KKBOX"
    OTHER = "OTHER"


class Playlist(Model):
    id = fields.BigIntField(primary_key=True)
    owner: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "ncm.User", related_name="playlists", on_delete=fields.CASCADE
    )
    owner_id: int
    kind = fields.CharEnumField(PlaylistKind, max_length=8, default=PlaylistKind.NORMAL)
    # Set only on a LIKED playlist: the unique constraint makes "one per user" hold under races.
    liked_owner_id = fields.BigIntField(null=True, unique=True)
    title = fields.CharField(max_length=100)
    description = fields.TextField(default="")
    cover_url = fields.CharField(max_length=500, null=True)
    tags: list[str] = fields.JSONField(default=list)
    privacy = fields.CharEnumField(Privacy, max_length=8, default=Privacy.PUBLIC)
    allow_duplicates = fields.BooleanField(default=False)
    # Bumped by every change; an edit may name the version it was based on.
    version = fields.IntField(default=1)
    entry_count = fields.IntField(default=0)
    subscriber_count = fields.IntField(default=0)
    share_count = fields.IntField(default=0)
    comment_count = fields.IntField(default=0)
    # The owner's own order of their playlists (viewer.playlists), ascending.
    owner_sort_key = fields.BigIntField(default=0)
    search_text = fields.TextField(default="")
    deleted_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "playlists"
        indexes = [
            Index(fields=("owner_id", "owner_sort_key", "id")),
            Index(fields=("deleted_at",)),
        ]


class PlaylistEntry(Model):
    # sort_key orders entries with gaps, so an insert or a move touches only the moved rows.
    id = fields.BigIntField(primary_key=True)
    playlist: fields.ForeignKeyRelation[Playlist] = fields.ForeignKeyField(
        "ncm.Playlist", related_name="entries", on_delete=fields.CASCADE
    )
    playlist_id: int
    track: fields.ForeignKeyRelation[Track] = fields.ForeignKeyField(
        "ncm.Track", related_name="playlist_entries", on_delete=fields.CASCADE
    )
    track_id: int
    sort_key = fields.BigIntField()
    added_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "ncm.User", related_name="added_entries", null=True, on_delete=fields.SET_NULL
    )
    added_by_id: int | None
    added_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "playlist_entries"
        unique_together = (("playlist", "sort_key"),)
        indexes = [Index(fields=("playlist_id", "track_id"))]


class PlaylistCollaborator(Model):
    id = fields.BigIntField(primary_key=True)
    playlist: fields.ForeignKeyRelation[Playlist] = fields.ForeignKeyField(
        "ncm.Playlist", related_name="collaborators", on_delete=fields.CASCADE
    )
    playlist_id: int
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "ncm.User", related_name="collaborations", on_delete=fields.CASCADE
    )
    user_id: int
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "playlist_collaborators"
        unique_together = (("playlist", "user"),)
        indexes = [Index(fields=("user_id", "id"))]


class PlaylistSubscription(Model):
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "ncm.User", related_name="playlist_subscriptions", on_delete=fields.CASCADE
    )
    user_id: int
    playlist: fields.ForeignKeyRelation[Playlist] = fields.ForeignKeyField(
        "ncm.Playlist", related_name="subscriptions", on_delete=fields.CASCADE
    )
    playlist_id: int
    share_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "playlist_subscriptions"
        unique_together = (("user", "playlist"),)
        indexes = [Index(fields=("user_id", "id"))]


class ShareLink(Model):
    # A short unguessable token naming a track or a playlist, shared on a channel.
    id = fields.BigIntField(primary_key=True)
    token = fields.CharField(max_length=16, unique=True)
    sharer: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "ncm.User", related_name="shares", on_delete=fields.CASCADE
    )
    sharer_id: int
    channel = fields.CharEnumField(ShareChannel, max_length=8)
    track: fields.ForeignKeyNullableRelation[Track] = fields.ForeignKeyField(
        "ncm.Track", related_name="shares", null=True, on_delete=fields.CASCADE
    )
    track_id: int | None
    playlist: fields.ForeignKeyNullableRelation[Playlist] = fields.ForeignKeyField(
        "ncm.Playlist", related_name="shares", null=True, on_delete=fields.CASCADE
    )
    playlist_id: int | None
    # What followed from the share (attribution), kept as stored counters.
    subscription_count = fields.IntField(default=0)
    like_count = fields.IntField(default=0)
    play_count = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "share_links"


class TrackLikeShare(Model):
    # Which share led a user to like a track (attribution; absent for direct likes).
    id = fields.BigIntField(primary_key=True)
    user_id = fields.BigIntField()
    track_id = fields.BigIntField()
    share: fields.ForeignKeyRelation[ShareLink] = fields.ForeignKeyField(
        "ncm.ShareLink", related_name="likes", on_delete=fields.CASCADE
    )
    share_id: int
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "track_like_shares"
        unique_together = (("user_id", "track_id"),)
