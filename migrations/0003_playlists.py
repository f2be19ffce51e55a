import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from ncm.playlists.models import PlaylistKind, Privacy, ShareChannel


class Migration(migrations.Migration):
    dependencies = [("ncm", "0002_search_indexes")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Playlist",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "owner",
                    fields.ForeignKeyField(
                        "ncm.User",
                        source_field="owner_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="playlists",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "kind",
                    fields.CharEnumField(
                        default=PlaylistKind.NORMAL,
                        description="NORMAL: NORMAL\nLIKED: LIKED",
                        enum_type=PlaylistKind,
                        max_length=8,
                    ),
                ),
                ("liked_owner_id", fields.BigIntField(null=True, unique=True)),
                ("title", fields.CharField(max_length=100)),
                ("description", fields.TextField(default="", unique=False)),
                ("cover_url", fields.CharField(null=True, max_length=500)),
                (
                    "tags",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "privacy",
                    fields.CharEnumField(
                        default=Privacy.PUBLIC,
                        description="PUBLIC: PUBLIC\nPRIVATE: PRIVATE",
                        enum_type=Privacy,
                        max_length=8,
                    ),
                ),
                ("allow_duplicates", fields.BooleanField(default=False)),
                ("version", fields.IntField(default=1)),
                ("entry_count", fields.IntField(default=0)),
                ("subscriber_count", fields.IntField(default=0)),
                ("share_count", fields.IntField(default=0)),
                ("comment_count", fields.IntField(default=0)),
                ("owner_sort_key", fields.BigIntField(default=0)),
                ("search_text", fields.TextField(default="", unique=False)),
                ("deleted_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "playlists",
                "app": "ncm",
                "indexes": [
                    Index(fields=["owner_id", "owner_sort_key", "id"]),
                    Index(fields=["deleted_at"]),
                ],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PlaylistCollaborator",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "playlist",
                    fields.ForeignKeyField(
                        "ncm.Playlist",
                        source_field="playlist_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="collaborators",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "ncm.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="collaborations",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "playlist_collaborators",
                "app": "ncm",
                "unique_together": (("playlist", "user"),),
                "indexes": [Index(fields=["user_id", "id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PlaylistEntry",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "playlist",
                    fields.ForeignKeyField(
                        "ncm.Playlist",
                        source_field="playlist_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="entries",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "track",
                    fields.ForeignKeyField(
                        "ncm.Track",
                        source_field="track_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="playlist_entries",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("sort_key", fields.BigIntField()),
                (
                    "added_by",
                    fields.ForeignKeyField(
                        "ncm.User",
                        source_field="added_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="added_entries",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("added_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "playlist_entries",
                "app": "ncm",
                "unique_together": (("playlist", "sort_key"),),
                "indexes": [Index(fields=["playlist_id", "track_id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PlaylistSubscription",
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
                        related_name="playlist_subscriptions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "playlist",
                    fields.ForeignKeyField(
                        "ncm.Playlist",
                        source_field="playlist_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="subscriptions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("share_id", fields.BigIntField(null=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "playlist_subscriptions",
                "app": "ncm",
                "unique_together": (("user", "playlist"),),
                "indexes": [Index(fields=["user_id", "id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ShareLink",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("token", fields.CharField(unique=True, max_length=16)),
                (
                    "sharer",
                    fields.ForeignKeyField(
                        "ncm.User",
                        source_field="sharer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="shares",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "channel",
                    fields.CharEnumField(
                        description="LINK: LINK\nWECHAT: WECHAT\nWEIBO: WEIBO\nQQ: QQ\nKKBOX: KKBOX\nOTHER: OTHER",
                        enum_type=ShareChannel,
                        max_length=8,
                    ),
                ),
                (
                    "track",
                    fields.ForeignKeyField(
                        "ncm.Track",
                        source_field="track_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="shares",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "playlist",
                    fields.ForeignKeyField(
                        "ncm.Playlist",
                        source_field="playlist_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="shares",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("subscription_count", fields.IntField(default=0)),
                ("like_count", fields.IntField(default=0)),
                ("play_count", fields.IntField(default=0)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={"table": "share_links", "app": "ncm", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="TrackLikeShare",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("user_id", fields.BigIntField()),
                ("track_id", fields.BigIntField()),
                (
                    "share",
                    fields.ForeignKeyField(
                        "ncm.ShareLink",
                        source_field="share_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="likes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "track_like_shares",
                "app": "ncm",
                "unique_together": (("user_id", "track_id"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
