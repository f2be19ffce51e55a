from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class FeePolicy(StrEnum):
    FREE = "FREE"
    MEMBERS_ONLY = "MEMBERS_ONLY"
    # Standard quality is free; higher qualities need a membership.
    FREE_STANDARD = "FREE_STANDARD"


class TrackStatus(StrEnum):
    AVAILABLE = "AVAILABLE"
    WITHDRAWN = "WITHDRAWN"


class Quality(StrEnum):
    STANDARD = "STANDARD"
    HIGHER = "HIGHER"
    EXHIGH = "EXHIGH"
    LOSSLESS = "LOSSLESS"
    HIRES = "HIRES"


QUALITY_ORDER = list(Quality)


class Artist(Model):
    id = fields.BigIntField(primary_key=True)
    external_id = fields.CharField(max_length=64, unique=True, null=True)
    name = fields.CharField(max_length=200)
    bio = fields.TextField(default="")
    avatar_url = fields.CharField(max_length=500, null=True)
    region = fields.CharField(max_length=2, null=True)
    subscriber_count = fields.IntField(default=0)
    search_text = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "artists"
        # The importer matches artists without an external id by exact name.
        indexes = [Index(fields=("name",))]


class Album(Model):
    id = fields.BigIntField(primary_key=True)
    external_id = fields.CharField(max_length=64, unique=True, null=True)
    title = fields.CharField(max_length=300)
    artist: fields.ForeignKeyRelation[Artist] = fields.ForeignKeyField(
        "ncm.Artist", related_name="albums", on_delete=fields.RESTRICT
    )
    artist_id: int
    release_date = fields.DateField(null=True)
    cover_url = fields.CharField(max_length=500, null=True)
    comment_count = fields.IntField(default=0)
    subscriber_count = fields.IntField(default=0)
    share_count = fields.IntField(default=0)
    search_text = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "albums"
        indexes = [Index(fields=("artist_id", "release_date", "id"))]


class Genre(Model):
    id = fields.BigIntField(primary_key=True)
    slug = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=100)

    class Meta:
        table = "genres"


class Track(Model):
    id = fields.BigIntField(primary_key=True)
    external_id = fields.CharField(max_length=64, unique=True, null=True)
    isrc = fields.CharField(max_length=12, unique=True, null=True)
    title = fields.CharField(max_length=300)
    album: fields.ForeignKeyNullableRelation[Album] = fields.ForeignKeyField(
        "ncm.Album", related_name="tracks", null=True, on_delete=fields.SET_NULL
    )
    album_id: int | None
    disc_number = fields.SmallIntField(default=1)
    track_number = fields.SmallIntField(default=1)
    duration_ms = fields.IntField()
    language = fields.CharField(max_length=16, null=True)
    explicit = fields.BooleanField(default=False)
    fee_policy = fields.CharEnumField(FeePolicy, max_length=16, default=FeePolicy.FREE)
    status = fields.CharEnumField(TrackStatus, max_length=16, default=TrackStatus.AVAILABLE)
    play_count = fields.BigIntField(default=0)
    like_count = fields.IntField(default=0)
    comment_count = fields.IntField(default=0)
    subscriber_count = fields.IntField(default=0)
    share_count = fields.IntField(default=0)
    search_text = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "tracks"
        indexes = [
            Index(fields=("album_id", "disc_number", "track_number")),
            Index(fields=("play_count", "id")),
        ]


class TrackArtist(Model):
    # A track's artists in credit order (position 0 is the main artist).

    id = fields.BigIntField(primary_key=True)
    track: fields.ForeignKeyRelation[Track] = fields.ForeignKeyField(
        "ncm.Track", related_name="artist_links", on_delete=fields.CASCADE
    )
    track_id: int
    artist: fields.ForeignKeyRelation[Artist] = fields.ForeignKeyField(
        "ncm.Artist", related_name="track_links", on_delete=fields.RESTRICT
    )
    artist_id: int
    position = fields.SmallIntField(default=0)

    class Meta:
        table = "track_artists"
        unique_together = (("track", "artist"),)
        indexes = [Index(fields=("artist_id", "track_id"))]


class TrackGenre(Model):
    id = fields.BigIntField(primary_key=True)
    track: fields.ForeignKeyRelation[Track] = fields.ForeignKeyField(
        "ncm.Track", related_name="genre_links", on_delete=fields.CASCADE
    )
    track_id: int
    genre: fields.ForeignKeyRelation[Genre] = fields.ForeignKeyField(
        "ncm.Genre", related_name="track_links", on_delete=fields.RESTRICT
    )
    genre_id: int

    class Meta:
        table = "track_genres"
        unique_together = (("track", "genre"),)
        indexes = [Index(fields=("genre_id", "track_id"))]


class Rendition(Model):
    # One encoded file of a track at one quality; path is relative to the media root.

    id = fields.BigIntField(primary_key=True)
    track: fields.ForeignKeyRelation[Track] = fields.ForeignKeyField(
        "ncm.Track", related_name="renditions", on_delete=fields.CASCADE
    )
    track_id: int
    quality = fields.CharEnumField(Quality, max_length=16)
    bitrate = fields.IntField()  # kbit/s
    format = fields.CharField(max_length=16)
    size_bytes = fields.BigIntField()
    path = fields.CharField(max_length=500)

    class Meta:
        table = "renditions"
        unique_together = (("track", "quality"),)


class License(Model):
    # Where and when a track may be played. region is an ISO code, or * for all.

    id = fields.BigIntField(primary_key=True)
    track: fields.ForeignKeyRelation[Track] = fields.ForeignKeyField(
        "ncm.Track", related_name="licenses", on_delete=fields.CASCADE
    )
    track_id: int
    region = fields.CharField(max_length=2)
    available_from = fields.DatetimeField(null=True)
    available_until = fields.DatetimeField(null=True)

    class Meta:
        table = "licenses"
        unique_together = (("track", "region"),)
