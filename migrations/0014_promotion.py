import functools
from json import dumps, loads

from tortoise import migrations
from tortoise.migrations import operations as ops
from ncm.promotion.models import Audience, CampaignKind, CampaignStatus, ConversionKind, ObjectKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [("ncm", "0013_finance")]

    initial = False

    operations = [
        ops.CreateModel(
            name="CampaignConversion",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("campaign_id", fields.BigIntField()),
                ("click_id", fields.BigIntField()),
                ("user_id", fields.BigIntField()),
                (
                    "kind",
                    fields.CharEnumField(
                        description="PLAY: PLAY\nSUBSCRIBE: SUBSCRIBE\nLIKE: LIKE\nSHARE: SHARE",
                        enum_type=ConversionKind,
                        max_length=16,
                    ),
                ),
                ("source_id", fields.BigIntField()),
                ("day", fields.DateField()),
                ("region", fields.CharField(default="", max_length=2)),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "promotion_conversions",
                "app": "ncm",
                "unique_together": (("kind", "source_id"),),
                "indexes": [Index(fields=["campaign_id", "day"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CampaignDailyStats",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("campaign_id", fields.BigIntField()),
                ("day", fields.DateField()),
                ("region", fields.CharField(default="", max_length=2)),
                ("impressions", fields.BigIntField(default=0)),
                ("clicks", fields.BigIntField(default=0)),
                ("unique_viewers", fields.BigIntField(default=0)),
            ],
            options={
                "table": "promotion_daily_stats",
                "app": "ncm",
                "unique_together": (("campaign_id", "day", "region"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CampaignViewer",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("campaign_id", fields.BigIntField()),
                ("day", fields.DateField()),
                ("user_id", fields.BigIntField()),
            ],
            options={
                "table": "promotion_viewers",
                "app": "ncm",
                "unique_together": (("campaign_id", "day", "user_id"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Partner",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("code", fields.CharField(unique=True, max_length=32)),
                ("name", fields.CharField(max_length=100)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={"table": "promotion_partners", "app": "ncm", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Campaign",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "partner",
                    fields.ForeignKeyField(
                        "ncm.Partner",
                        source_field="partner_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="campaigns",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("name", fields.CharField(max_length=200)),
                (
                    "kind",
                    fields.CharEnumField(
                        description="PLAYLIST: PLAYLIST\nCONCERT_TOUR: CONCERT_TOUR\nSHORT_VIDEO: SHORT_VIDEO\nORIGINAL_MUSIC: ORIGINAL_MUSIC\nARTIST: ARTIST",
                        enum_type=CampaignKind,
                        max_length=16,
                    ),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        default=CampaignStatus.DRAFT,
                        description="DRAFT: DRAFT\nSUBMITTED: SUBMITTED\nAPPROVED: APPROVED\nSCHEDULED: SCHEDULED\nLIVE: LIVE\nPAUSED: PAUSED\nENDED: ENDED",
                        enum_type=CampaignStatus,
                        max_length=16,
                    ),
                ),
                (
                    "object_kind",
                    fields.CharEnumField(
                        description="PLAYLIST: PLAYLIST\nALBUM: ALBUM\nTRACK: TRACK\nARTIST: ARTIST\nLINK: LINK",
                        enum_type=ObjectKind,
                        max_length=16,
                    ),
                ),
                ("object_id", fields.BigIntField(null=True)),
                ("link_url", fields.CharField(null=True, max_length=500)),
                ("title", fields.CharField(max_length=200)),
                ("image_url", fields.CharField(null=True, max_length=500)),
                ("event_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("venue", fields.CharField(null=True, max_length=200)),
                (
                    "placements",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "regions",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "languages",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "audience",
                    fields.CharEnumField(
                        default=Audience.ALL,
                        description="ALL: ALL\nMEMBERS: MEMBERS\nNON_MEMBERS: NON_MEMBERS",
                        enum_type=Audience,
                        max_length=16,
                    ),
                ),
                (
                    "genre_ids",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("starts_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("ends_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("time_zone", fields.CharField(default="UTC", max_length=64)),
                ("priority", fields.IntField(default=0)),
                ("weight", fields.IntField(default=1)),
                ("booked_impressions", fields.BigIntField(default=0)),
                ("object_available", fields.BooleanField(default=True)),
                ("created_by_id", fields.BigIntField(null=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "promotion_campaigns",
                "app": "ncm",
                "indexes": [Index(fields=["partner_id", "id"]), Index(fields=["status", "id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CampaignAudit",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "campaign",
                    fields.ForeignKeyField(
                        "ncm.Campaign",
                        source_field="campaign_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="audit",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("action", fields.CharField(max_length=32)),
                ("from_status", fields.CharField(null=True, max_length=16)),
                ("to_status", fields.CharField(max_length=16)),
                ("actor_user_id", fields.BigIntField(null=True)),
                ("actor_key_id", fields.BigIntField(null=True)),
                ("note", fields.CharField(default="", max_length=500)),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "promotion_campaign_audit",
                "app": "ncm",
                "indexes": [Index(fields=["campaign_id", "id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PartnerApiKey",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "partner",
                    fields.ForeignKeyField(
                        "ncm.Partner",
                        source_field="partner_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="api_keys",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(max_length=100)),
                ("prefix", fields.CharField(max_length=16)),
                ("key_hash", fields.CharField(unique=True, max_length=64)),
                ("created_by_id", fields.BigIntField(null=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("revoked_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "last_used_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "promotion_partner_keys",
                "app": "ncm",
                "indexes": [Index(fields=["partner_id", "id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PromotionClick",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("event_key", fields.CharField(unique=True, max_length=100)),
                ("campaign_id", fields.BigIntField()),
                ("user_id", fields.BigIntField()),
                ("region", fields.CharField(default="", max_length=2)),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "promotion_clicks",
                "app": "ncm",
                "indexes": [Index(fields=["user_id", "at"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PromotionCursor",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("name", fields.CharField(unique=True, max_length=32)),
                ("last_id", fields.BigIntField(default=0)),
            ],
            options={"table": "promotion_cursors", "app": "ncm", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PromotionFlush",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("batch_id", fields.CharField(unique=True, max_length=64)),
                ("events", fields.BigIntField(default=0)),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={"table": "promotion_flushes", "app": "ncm", "pk_attr": "id"},
            bases=["Model"],
        ),
    ]
