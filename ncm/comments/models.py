"""Comment threads (one per track, album or playlist), comments and replies, likes, and the
moderation records (reports, bans, the audit log).
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from ncm.accounts.models import User


class TargetType(StrEnum):
    TRACK = "TRACK"
    ALBUM = "ALBUM"
    PLAYLIST = "PLAYLIST"


class CommentState(StrEnum):
    VISIBLE = "VISIBLE"
    HIDDEN = "HIDDEN"  # by a moderator; can be restored
    DELETED = "DELETED"  # by its author; final


class ReportReason(StrEnum):
    SPAM = "SPAM"
    ABUSE = "ABUSE"
    HATE = "HATE"
    SEXUAL = "SEXUAL"
    ILLEGAL = "ILLEGAL"
    OTHER = "OTHER"


class ReportStatus(StrEnum):
    OPEN = "OPEN"
    ACTIONED = "ACTIONED"  # the comment was hidden
    DISMISSED = "DISMISSED"  # a moderator kept (or restored) the comment


class ModerationKind(StrEnum):
    HIDE = "HIDE"
    RESTORE = "RESTORE"
    DISMISS = "DISMISS"
    BAN = "BAN"
    UNBAN = "UNBAN"


class CommentThread(Model):
    # Created on a target's first comment; comment_count mirrors the target's own column.
    id = fields.BigIntField(primary_key=True)
    target_type = fields.CharEnumField(TargetType, max_length=8)
    target_id = fields.BigIntField()
    comment_count = fields.IntField(default=0)  # VISIBLE comments, replies included
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "comment_threads"
        unique_together = (("target_type", "target_id"),)


class Comment(Model):
    id = fields.BigIntField(primary_key=True)
    thread: fields.ForeignKeyRelation[CommentThread] = fields.ForeignKeyField(
        "ncm.CommentThread", related_name="comments", on_delete=fields.CASCADE
    )
    thread_id: int
    author: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "ncm.User", related_name="comments", on_delete=fields.CASCADE
    )
    author_id: int
    # Replies form one level of floors: parent is always a top-level comment.
    parent: fields.ForeignKeyNullableRelation[Comment] = fields.ForeignKeyField(
        "ncm.Comment", related_name="replies", null=True, on_delete=fields.CASCADE
    )
    parent_id: int | None
    # The comment (the parent or a reply in its floor) this reply answers; no constraint, so
    # nothing cascades through it.
    reply_to_id = fields.BigIntField(null=True)
    body = fields.TextField()
    state = fields.CharEnumField(CommentState, max_length=8, default=CommentState.VISIBLE)
    # Shown in its list (see ranking.listed); the page indexes only hold listed rows.
    listed = fields.BooleanField(default=True)
    like_count = fields.IntField(default=0)
    reply_count = fields.IntField(default=0)  # VISIBLE replies
    hot_score = fields.FloatField()  # ranking.hot_score, kept in step with the counts
    created_at = fields.DatetimeField()  # set by the service: the score is derived from it
    edited_at = fields.DatetimeField(null=True)
    deleted_at = fields.DatetimeField(null=True)
    hidden_at = fields.DatetimeField(null=True)

    class Meta:
        table = "comments"
        indexes = [
            # An author's comments in a thread (the duplicate check).
            Index(fields=("author_id", "thread_id", "id")),
            # All of a thread's rows (counter audits, cascades); pages use the partial ones.
            Index(fields=("thread_id", "id")),
        ]


class CommentLike(Model):
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "ncm.User", related_name="comment_likes", on_delete=fields.CASCADE
    )
    user_id: int
    comment: fields.ForeignKeyRelation[Comment] = fields.ForeignKeyField(
        "ncm.Comment", related_name="likes", on_delete=fields.CASCADE
    )
    comment_id: int
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "comment_likes"
        unique_together = (("user", "comment"),)
        indexes = [Index(fields=("comment_id",))]


class CommentReport(Model):
    id = fields.BigIntField(primary_key=True)
    comment: fields.ForeignKeyRelation[Comment] = fields.ForeignKeyField(
        "ncm.Comment", related_name="reports", on_delete=fields.CASCADE
    )
    comment_id: int
    reporter: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "ncm.User", related_name="comment_reports", on_delete=fields.CASCADE
    )
    reporter_id: int
    reason = fields.CharEnumField(ReportReason, max_length=8)
    note = fields.CharField(max_length=500, default="")
    status = fields.CharEnumField(ReportStatus, max_length=10, default=ReportStatus.OPEN)
    created_at = fields.DatetimeField(auto_now_add=True)
    resolved_at = fields.DatetimeField(null=True)
    resolved_by_id = fields.BigIntField(null=True)

    class Meta:
        table = "comment_reports"
        unique_together = (("comment", "reporter"),)
        indexes = [Index(fields=("status", "id")), Index(fields=("comment_id", "status"))]


class CommentBan(Model):
    # A user may not comment until ends_at (unless lifted). Rows are kept as history.
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "ncm.User", related_name="comment_bans", on_delete=fields.CASCADE
    )
    user_id: int
    reason = fields.CharField(max_length=500)
    ends_at = fields.DatetimeField()
    lifted_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "comment_bans"
        indexes = [Index(fields=("user_id", "ends_at"))]


class ModerationAction(Model):
    # The audit log: who did what to which comment or user, when and why. Never updated.
    id = fields.BigIntField(primary_key=True)
    kind = fields.CharEnumField(ModerationKind, max_length=8)
    moderator_id = fields.BigIntField(null=True)  # null when an operator used the CLI
    operator = fields.CharField(max_length=64, default="")  # "cli:<login>" for the CLI
    comment_id = fields.BigIntField(null=True)
    target_user_id = fields.BigIntField(null=True)
    reason = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "comment_moderation_actions"
        indexes = [Index(fields=("comment_id", "id")), Index(fields=("target_user_id", "id"))]


# Migration 0005 adds the partial indexes pages seek (same SQL on PostgreSQL and SQLite):
# comments_newest_idx (thread_id, created_at, id) and comments_hot_idx (thread_id, hot_score, id)
# WHERE listed AND parent_id IS NULL; comments_replies_idx (parent_id, id) WHERE parent_id IS
# NOT NULL (a floor's replies; it also serves the parent foreign key).
