from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from ncm.comments.models import CommentState, ModerationKind, ReportReason, ReportStatus, TargetType

# Partial indexes the pages seek (Tortoise's model indexes cannot say WHERE). The same SQL
# works on PostgreSQL and SQLite; the queries repeat the predicates word for word.
PAGE_INDEXES = [
    (
        "comments_newest_idx",
        "comments (thread_id, created_at, id) WHERE listed AND parent_id IS NULL",
    ),
    ("comments_hot_idx", "comments (thread_id, hot_score, id) WHERE listed AND parent_id IS NULL"),
    ("comments_replies_idx", "comments (parent_id, id) WHERE parent_id IS NOT NULL"),
]


class Migration(migrations.Migration):
    dependencies = [("ncm", "0004_playlist_search")]

    initial = False

    operations = [
        ops.CreateModel(
            name="CommentBan",
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
                        related_name="comment_bans",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("reason", fields.CharField(max_length=500)),
                ("ends_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("lifted_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "comment_bans",
                "app": "ncm",
                "indexes": [Index(fields=["user_id", "ends_at"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CommentThread",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "target_type",
                    fields.CharEnumField(
                        description="TRACK: TRACK\nALBUM: ALBUM\nPLAYLIST: PLAYLIST",
                        enum_type=TargetType,
                        max_length=8,
                    ),
                ),
                ("target_id", fields.BigIntField()),
                ("comment_count", fields.IntField(default=0)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "comment_threads",
                "app": "ncm",
                "unique_together": (("target_type", "target_id"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Comment",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "thread",
                    fields.ForeignKeyField(
                        "ncm.CommentThread",
                        source_field="thread_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="comments",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "author",
                    fields.ForeignKeyField(
                        "ncm.User",
                        source_field="author_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="comments",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "parent",
                    fields.ForeignKeyField(
                        "ncm.Comment",
                        source_field="parent_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="replies",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("reply_to_id", fields.BigIntField(null=True)),
                ("body", fields.TextField(unique=False)),
                (
                    "state",
                    fields.CharEnumField(
                        default=CommentState.VISIBLE,
                        description="VISIBLE: VISIBLE\nHIDDEN: HIDDEN\nDELETED: DELETED",
                        enum_type=CommentState,
                        max_length=8,
                    ),
                ),
                ("listed", fields.BooleanField(default=True)),
                ("like_count", fields.IntField(default=0)),
                ("reply_count", fields.IntField(default=0)),
                ("hot_score", fields.FloatField()),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("edited_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("deleted_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("hidden_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "comments",
                "app": "ncm",
                "indexes": [
                    Index(fields=["author_id", "thread_id", "id"]),
                    Index(fields=["thread_id", "id"]),
                ],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CommentLike",
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
                        related_name="comment_likes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "comment",
                    fields.ForeignKeyField(
                        "ncm.Comment",
                        source_field="comment_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="likes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "comment_likes",
                "app": "ncm",
                "unique_together": (("user", "comment"),),
                "indexes": [Index(fields=["comment_id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CommentReport",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "comment",
                    fields.ForeignKeyField(
                        "ncm.Comment",
                        source_field="comment_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="reports",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "reporter",
                    fields.ForeignKeyField(
                        "ncm.User",
                        source_field="reporter_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="comment_reports",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "reason",
                    fields.CharEnumField(
                        description="SPAM: SPAM\nABUSE: ABUSE\nHATE: HATE\nSEXUAL: SEXUAL\nILLEGAL: ILLEGAL\nOTHER: OTHER",
                        enum_type=ReportReason,
                        max_length=8,
                    ),
                ),
                ("note", fields.CharField(default="", max_length=500)),
                (
                    "status",
                    fields.CharEnumField(
                        default=ReportStatus.OPEN,
                        description="OPEN: OPEN\nACTIONED: ACTIONED\nDISMISSED: DISMISSED",
                        enum_type=ReportStatus,
                        max_length=10,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "resolved_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("resolved_by_id", fields.BigIntField(null=True)),
            ],
            options={
                "table": "comment_reports",
                "app": "ncm",
                "unique_together": (("comment", "reporter"),),
                "indexes": [Index(fields=["status", "id"]), Index(fields=["comment_id", "status"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ModerationAction",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "kind",
                    fields.CharEnumField(
                        description="HIDE: HIDE\nRESTORE: RESTORE\nDISMISS: DISMISS\nBAN: BAN\nUNBAN: UNBAN",
                        enum_type=ModerationKind,
                        max_length=8,
                    ),
                ),
                ("moderator_id", fields.BigIntField(null=True)),
                ("operator", fields.CharField(default="", max_length=64)),
                ("comment_id", fields.BigIntField(null=True)),
                ("target_user_id", fields.BigIntField(null=True)),
                ("reason", fields.CharField(default="", max_length=500)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "comment_moderation_actions",
                "app": "ncm",
                "indexes": [
                    Index(fields=["comment_id", "id"]),
                    Index(fields=["target_user_id", "id"]),
                ],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.RunSQL(
            [f"CREATE INDEX {name} ON {definition}" for name, definition in PAGE_INDEXES],
            [f"DROP INDEX {name}" for name, _ in PAGE_INDEXES],
        ),
    ]
