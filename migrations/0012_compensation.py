"""Incidents (issue 14): incidents, their updates and affected users; compensation
campaigns, chunks, grants, audience, audit and Stripe moves."""

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from ncm.compensation.models import Audience, CampaignStatus, GrantState, ShiftStatus
from ncm.incidents.models import Component, IncidentStatus


class Migration(migrations.Migration):
    dependencies = [("ncm", "0011_billing")]

    initial = False

    operations = [
        ops.CreateModel(
            name="AffectedUser",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("incident_id", fields.BigIntField()),
                ("user_id", fields.BigIntField()),
            ],
            options={
                "table": "incident_affected_users",
                "app": "ncm",
                "unique_together": (("incident_id", "user_id"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AudienceMember",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("campaign_id", fields.BigIntField()),
                ("user_id", fields.BigIntField()),
            ],
            options={
                "table": "compensation_audience",
                "app": "ncm",
                "unique_together": (("campaign_id", "user_id"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AuditEntry",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("campaign_id", fields.BigIntField()),
                ("action", fields.CharField(max_length=32)),
                ("actor", fields.CharField(default="", max_length=200)),
                ("detail", fields.CharField(default="", max_length=1000)),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "compensation_audit",
                "app": "ncm",
                "indexes": [Index(fields=["campaign_id", "id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="GrantCampaign",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("incident_id", fields.BigIntField(null=True)),
                ("days", fields.IntField()),
                (
                    "audience",
                    fields.CharEnumField(
                        description="ALL: ALL\nACTIVE_DURING_INCIDENT: ACTIVE_DURING_INCIDENT\nAFFECTED: AFFECTED\nMEMBERS: MEMBERS\nUSERS_FILE: USERS_FILE",
                        enum_type=Audience,
                        max_length=32,
                    ),
                ),
                ("claimable_from", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("claim_until", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("auto_apply", fields.BooleanField(default=False)),
                (
                    "status",
                    fields.CharEnumField(
                        default=CampaignStatus.DRAFT,
                        description="DRAFT: DRAFT\nRUNNING: RUNNING\nDONE: DONE\nREVOKED: REVOKED",
                        enum_type=CampaignStatus,
                        max_length=16,
                    ),
                ),
                ("reason", fields.CharField(default="", max_length=500)),
                ("chunk_size", fields.IntField(default=50000)),
                ("chunks_total", fields.IntField(default=0)),
                ("created_by", fields.CharField(default="", max_length=200)),
                ("executed_by", fields.CharField(default="", max_length=200)),
                ("revoked_by", fields.CharField(default="", max_length=200)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "executed_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "finished_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("applied_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("revoked_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={"table": "compensation_campaigns", "app": "ncm", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CampaignChunk",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("campaign_id", fields.BigIntField()),
                ("lo", fields.BigIntField()),
                ("hi", fields.BigIntField()),
                ("granted_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("inserted", fields.BigIntField(default=0)),
                ("applied_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("applied", fields.BigIntField(default=0)),
            ],
            options={
                "table": "compensation_chunks",
                "app": "ncm",
                "unique_together": (("campaign_id", "lo"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Grant",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("campaign_id", fields.BigIntField()),
                ("user_id", fields.BigIntField()),
                (
                    "state",
                    fields.CharEnumField(
                        default=GrantState.PENDING,
                        description="PENDING: PENDING\nCLAIMED: CLAIMED\nENDED: ENDED",
                        enum_type=GrantState,
                        max_length=16,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("claimed_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("auto_applied", fields.BooleanField(default=False)),
            ],
            options={
                "table": "compensation_grants",
                "app": "ncm",
                "unique_together": (("campaign_id", "user_id"),),
                "indexes": [Index(fields=["user_id", "state"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Incident",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("title", fields.CharField(max_length=200)),
                (
                    "component",
                    fields.CharEnumField(
                        description="PLAYBACK: PLAYBACK\nAPI: API\nPAYMENTS: PAYMENTS",
                        enum_type=Component,
                        max_length=16,
                    ),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        default=IncidentStatus.OPEN,
                        description="DETECTED: DETECTED\nOPEN: OPEN\nRESOLVED: RESOLVED\nMERGED: MERGED",
                        enum_type=IncidentStatus,
                        max_length=16,
                    ),
                ),
                ("started_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("ended_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("detector_key", fields.CharField(null=True, unique=True, max_length=64)),
                ("merged_into_id", fields.BigIntField(null=True)),
                ("opened_by", fields.CharField(default="", max_length=200)),
                ("closed_by", fields.CharField(default="", max_length=200)),
                ("affected_count", fields.BigIntField(default=0)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "incidents",
                "app": "ncm",
                "indexes": [Index(fields=["status", "id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="IncidentUpdate",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("incident_id", fields.BigIntField()),
                ("message", fields.CharField(max_length=2000)),
                ("author", fields.CharField(default="", max_length=200)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "incident_updates",
                "app": "ncm",
                "indexes": [Index(fields=["incident_id", "id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="StripeShift",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("grant_id", fields.BigIntField(unique=True)),
                ("user_id", fields.BigIntField()),
                ("subscription_ref", fields.CharField(max_length=255)),
                ("expected_period_end", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("days", fields.IntField()),
                (
                    "status",
                    fields.CharEnumField(
                        default=ShiftStatus.PENDING,
                        description="PENDING: PENDING\nDONE: DONE\nSKIPPED: SKIPPED\nFAILED: FAILED",
                        enum_type=ShiftStatus,
                        max_length=16,
                    ),
                ),
                ("attempts", fields.IntField(default=0)),
                ("last_error", fields.CharField(default="", max_length=500)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("done_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "compensation_stripe_shifts",
                "app": "ncm",
                "indexes": [Index(fields=["status", "id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
