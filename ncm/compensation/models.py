"""Tortoise models of the compensation domain: campaigns, their chunks (the unit of work a
job does, which makes a run resumable), one grant per campaign and user, the audit trail,
and the Stripe moves of auto-renewing subscribers' next charge."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class Audience(StrEnum):
    ALL = "ALL"  # every user
    ACTIVE_DURING_INCIDENT = "ACTIVE_DURING_INCIDENT"  # played on a day the incident spans
    AFFECTED = "AFFECTED"  # got a failed playback answer while it was open
    MEMBERS = "MEMBERS"  # a member when the incident started
    USERS_FILE = "USERS_FILE"  # the ids in a file (``compensation_audience``)


class CampaignStatus(StrEnum):
    DRAFT = "DRAFT"  # created (dry run shown); nothing granted yet
    RUNNING = "RUNNING"  # grant chunks queued or running
    DONE = "DONE"  # every chunk granted
    REVOKED = "REVOKED"


class GrantState(StrEnum):
    PENDING = "PENDING"  # waiting for the user to claim it (or the auto-apply date)
    CLAIMED = "CLAIMED"  # in the ledger (claimed by the user or applied automatically)
    ENDED = "ENDED"  # was claimed, then the campaign was revoked


class ShiftStatus(StrEnum):
    PENDING = "PENDING"
    DONE = "DONE"
    SKIPPED = "SKIPPED"  # the subscription renewed or ended before Stripe was reached
    FAILED = "FAILED"


class GrantCampaign(Model):
    id = fields.BigIntField(primary_key=True)
    incident_id = fields.BigIntField(null=True)
    days = fields.IntField()
    audience = fields.CharEnumField(Audience, max_length=32)
    claimable_from = fields.DatetimeField()
    claim_until = fields.DatetimeField()
    auto_apply = fields.BooleanField(default=False)
    status = fields.CharEnumField(CampaignStatus, max_length=16, default=CampaignStatus.DRAFT)
    reason = fields.CharField(max_length=500, default="")
    chunk_size = fields.IntField(default=50_000)
    chunks_total = fields.IntField(default=0)
    created_by = fields.CharField(max_length=200, default="")
    executed_by = fields.CharField(max_length=200, default="")
    revoked_by = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    executed_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    applied_at = fields.DatetimeField(null=True)  # auto-apply finished
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "compensation_campaigns"


class CampaignChunk(Model):
    # One range of user ids [lo, hi) of a campaign: granted once, applied once.
    id = fields.BigIntField(primary_key=True)
    campaign_id = fields.BigIntField()
    lo = fields.BigIntField()
    hi = fields.BigIntField()
    granted_at = fields.DatetimeField(null=True)
    inserted = fields.BigIntField(default=0)
    applied_at = fields.DatetimeField(null=True)
    applied = fields.BigIntField(default=0)

    class Meta:
        table = "compensation_chunks"
        unique_together = (("campaign_id", "lo"),)


class Grant(Model):
    # One per campaign and user (the unique constraint makes every re-run a no-op).
    id = fields.BigIntField(primary_key=True)
    campaign_id = fields.BigIntField()
    user_id = fields.BigIntField()
    state = fields.CharEnumField(GrantState, max_length=16, default=GrantState.PENDING)
    created_at = fields.DatetimeField()
    claimed_at = fields.DatetimeField(null=True)  # claimed by the user
    # Always FALSE since migrations/0021: an auto-applied grant is known by its ledger period
    # (kept: Tortoise's SQLite column removal rebuilds the table without its unique pair).
    auto_applied = fields.BooleanField(default=False)

    class Meta:
        table = "compensation_grants"
        unique_together = (("campaign_id", "user_id"),)
        # ``state`` is what the user did (PENDING, CLAIMED) or the revocation (ENDED). The
        # auto-apply writes no grant row: an applied grant keeps PENDING here and has its
        # ledger period ``(comp:<campaign>, user)``, which is what ``claim``,
        # ``pending_grants``, ``status`` and ``revoke`` read (migrations/0021). No index by
        # user: a viewer's grants are found through the few campaigns open for claims.


class AudienceMember(Model):
    # The users of a ``--audience users-file`` campaign.
    id = fields.BigIntField(primary_key=True)
    campaign_id = fields.BigIntField()
    user_id = fields.BigIntField()

    class Meta:
        table = "compensation_audience"
        unique_together = (("campaign_id", "user_id"),)


class AuditEntry(Model):
    id = fields.BigIntField(primary_key=True)
    campaign_id = fields.BigIntField()
    action = fields.CharField(max_length=32)  # CREATED, EXECUTED, RESUMED, APPLIED, REVOKED
    actor = fields.CharField(max_length=200, default="")
    detail = fields.CharField(max_length=1000, default="")
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "compensation_audit"
        indexes = [Index(fields=["campaign_id", "id"])]


class StripeShift(Model):
    # Moving an auto-renewing subscriber's next charge back by the grant's days.
    id = fields.BigIntField(primary_key=True)
    grant_id = fields.BigIntField(unique=True)
    user_id = fields.BigIntField()
    subscription_ref = fields.CharField(max_length=255)
    expected_period_end = fields.DatetimeField()  # the renewal we move; else SKIPPED
    days = fields.IntField()  # the next charge moves to expected_period_end + days
    status = fields.CharEnumField(ShiftStatus, max_length=16, default=ShiftStatus.PENDING)
    attempts = fields.IntField(default=0)
    last_error = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    done_at = fields.DatetimeField(null=True)

    class Meta:
        table = "compensation_stripe_shifts"
        # the mover's queue: pending moves, soonest renewal first
        indexes = [Index(fields=["status", "expected_period_end", "id"])]
