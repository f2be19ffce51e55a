from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from ncm.accounts.models import Role
from ncm.catalog.models import FeePolicy, Quality, TrackStatus


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="Artist",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("external_id", fields.CharField(null=True, unique=True, max_length=64)),
                ("name", fields.CharField(max_length=200)),
                ("bio", fields.TextField(default="", unique=False)),
                ("avatar_url", fields.CharField(null=True, max_length=500)),
                ("region", fields.CharField(null=True, max_length=2)),
                ("subscriber_count", fields.IntField(default=0)),
                ("search_text", fields.TextField(default="", unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={"table": "artists", "app": "ncm", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Album",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("external_id", fields.CharField(null=True, unique=True, max_length=64)),
                ("title", fields.CharField(max_length=300)),
                (
                    "artist",
                    fields.ForeignKeyField(
                        "ncm.Artist",
                        source_field="artist_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="albums",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("release_date", fields.DateField(null=True)),
                ("cover_url", fields.CharField(null=True, max_length=500)),
                ("comment_count", fields.IntField(default=0)),
                ("subscriber_count", fields.IntField(default=0)),
                ("share_count", fields.IntField(default=0)),
                ("search_text", fields.TextField(default="", unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "albums",
                "app": "ncm",
                "indexes": [Index(fields=["artist_id", "release_date", "id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Genre",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("slug", fields.CharField(unique=True, max_length=64)),
                ("name", fields.CharField(max_length=100)),
            ],
            options={"table": "genres", "app": "ncm", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Track",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("external_id", fields.CharField(null=True, unique=True, max_length=64)),
                ("isrc", fields.CharField(null=True, unique=True, max_length=12)),
                ("title", fields.CharField(max_length=300)),
                (
                    "album",
                    fields.ForeignKeyField(
                        "ncm.Album",
                        source_field="album_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="tracks",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("disc_number", fields.SmallIntField(default=1)),
                ("track_number", fields.SmallIntField(default=1)),
                ("duration_ms", fields.IntField()),
                ("language", fields.CharField(null=True, max_length=16)),
                ("explicit", fields.BooleanField(default=False)),
                (
                    "fee_policy",
                    fields.CharEnumField(
                        default=FeePolicy.FREE,
                        description="FREE: FREE\nMEMBERS_ONLY: MEMBERS_ONLY\nFREE_STANDARD: FREE_STANDARD",
                        enum_type=FeePolicy,
                        max_length=16,
                    ),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        default=TrackStatus.AVAILABLE,
                        description="AVAILABLE: AVAILABLE\nWITHDRAWN: WITHDRAWN",
                        enum_type=TrackStatus,
                        max_length=16,
                    ),
                ),
                ("play_count", fields.BigIntField(default=0)),
                ("like_count", fields.IntField(default=0)),
                ("comment_count", fields.IntField(default=0)),
                ("subscriber_count", fields.IntField(default=0)),
                ("share_count", fields.IntField(default=0)),
                ("search_text", fields.TextField(default="", unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "tracks",
                "app": "ncm",
                "indexes": [
                    Index(fields=["album_id", "disc_number", "track_number"]),
                    Index(fields=["play_count", "id"]),
                ],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="License",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "track",
                    fields.ForeignKeyField(
                        "ncm.Track",
                        source_field="track_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="licenses",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("region", fields.CharField(max_length=2)),
                (
                    "available_from",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "available_until",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "licenses",
                "app": "ncm",
                "unique_together": (("track", "region"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Rendition",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "track",
                    fields.ForeignKeyField(
                        "ncm.Track",
                        source_field="track_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="renditions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "quality",
                    fields.CharEnumField(
                        description="STANDARD: STANDARD\nHIGHER: HIGHER\nEXHIGH: EXHIGH\nLOSSLESS: LOSSLESS\nHIRES: HIRES",
                        enum_type=Quality,
                        max_length=16,
                    ),
                ),
                ("bitrate", fields.IntField()),
                ("format", fields.CharField(max_length=16)),
                ("size_bytes", fields.BigIntField()),
                ("path", fields.CharField(max_length=500)),
            ],
            options={
                "table": "renditions",
                "app": "ncm",
                "unique_together": (("track", "quality"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="TrackArtist",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "track",
                    fields.ForeignKeyField(
                        "ncm.Track",
                        source_field="track_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="artist_links",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "artist",
                    fields.ForeignKeyField(
                        "ncm.Artist",
                        source_field="artist_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="track_links",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("position", fields.SmallIntField(default=0)),
            ],
            options={
                "table": "track_artists",
                "app": "ncm",
                "unique_together": (("track", "artist"),),
                "indexes": [Index(fields=["artist_id", "track_id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="TrackGenre",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "track",
                    fields.ForeignKeyField(
                        "ncm.Track",
                        source_field="track_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="genre_links",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "genre",
                    fields.ForeignKeyField(
                        "ncm.Genre",
                        source_field="genre_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="track_links",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
            ],
            options={
                "table": "track_genres",
                "app": "ncm",
                "unique_together": (("track", "genre"),),
                "indexes": [Index(fields=["genre_id", "track_id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="User",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("email", fields.CharField(unique=True, max_length=254)),
                ("handle", fields.CharField(unique=True, max_length=32)),
                ("password_hash", fields.CharField(max_length=255)),
                ("display_name", fields.CharField(default="", max_length=64)),
                ("avatar_url", fields.CharField(null=True, max_length=500)),
                ("region", fields.CharField(null=True, max_length=2)),
                ("language", fields.CharField(null=True, max_length=16)),
                (
                    "role",
                    fields.CharEnumField(
                        default=Role.LISTENER,
                        description="LISTENER: listener\nMODERATOR: moderator\nFINANCE: finance\nPARTNER: partner\nADMIN: admin",
                        enum_type=Role,
                        max_length=16,
                    ),
                ),
                ("partner_id", fields.BigIntField(null=True)),
                ("follower_count", fields.IntField(default=0)),
                ("following_count", fields.IntField(default=0)),
                ("search_text", fields.TextField(default="", unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={"table": "users", "app": "ncm", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Follow",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "follower",
                    fields.ForeignKeyField(
                        "ncm.User",
                        source_field="follower_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="following_rows",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "followee",
                    fields.ForeignKeyField(
                        "ncm.User",
                        source_field="followee_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="follower_rows",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "follows",
                "app": "ncm",
                "unique_together": (("follower", "followee"),),
                "indexes": [
                    Index(fields=["followee_id", "id"]),
                    Index(fields=["follower_id", "id"]),
                ],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RefreshToken",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "ncm.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="refresh_tokens",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("token_hash", fields.CharField(unique=True, max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("expires_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("revoked_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("user_agent", fields.CharField(default="", max_length=255)),
            ],
            options={
                "table": "refresh_tokens",
                "app": "ncm",
                "indexes": [Index(fields=["expires_at"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
