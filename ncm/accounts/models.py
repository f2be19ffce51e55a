from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class Role(StrEnum):
    LISTENER = "listener"
    MODERATOR = "moderator"
    FINANCE = "finance"
    PARTNER = "partner"
    ADMIN = "admin"


class User(Model):
    id = fields.BigIntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)
    handle = fields.CharField(max_length=32, unique=True)
    password_hash = fields.CharField(max_length=255)
    display_name = fields.CharField(max_length=64, default="")
    avatar_url = fields.CharField(max_length=500, null=True)
    region = fields.CharField(max_length=2, null=True)
    # When the region last changed (a user may change it once per 30 days; RegionChange).
    region_changed_at = fields.DatetimeField(null=True)
    language = fields.CharField(max_length=16, null=True)
    role = fields.CharEnumField(Role, max_length=16, default=Role.LISTENER)
    # The partner organisation a PARTNER user acts for (the promotion domain owns partners).
    partner_id = fields.BigIntField(null=True)
    follower_count = fields.IntField(default=0)
    following_count = fields.IntField(default=0)
    search_text = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "users"


class RefreshToken(Model):
    # A login session: the refresh token is stored as its SHA-256, never in clear.

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "ncm.User", related_name="refresh_tokens", on_delete=fields.CASCADE
    )
    user_id: int
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    user_agent = fields.CharField(max_length=255, default="")

    class Meta:
        table = "refresh_tokens"
        indexes = [Index(fields=("expires_at",))]


class Follow(Model):
    id = fields.BigIntField(primary_key=True)
    follower: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "ncm.User", related_name="following_rows", on_delete=fields.CASCADE
    )
    follower_id: int
    followee: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "ncm.User", related_name="follower_rows", on_delete=fields.CASCADE
    )
    followee_id: int
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "follows"
        unique_together = (("follower", "followee"),)
        indexes = [
            # Lists page by id (creation order) within one user.
            Index(fields=("followee_id", "id")),
            Index(fields=("follower_id", "id")),
        ]


class RegionChange(Model):
    """The audit log of account regions (which decide licensing when no edge header does):
    who changed it, from what, to what, when."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "ncm.User", related_name="region_changes", on_delete=fields.CASCADE
    )
    user_id: int
    old_region = fields.CharField(max_length=2, null=True)
    new_region = fields.CharField(max_length=2, null=True)
    # "registration", "user" (updateProfile) or "operator:<login>" (ncm users set-region)
    source = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "region_changes"
        indexes = [Index(fields=("user_id", "id"))]
