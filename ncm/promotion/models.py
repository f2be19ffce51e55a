"""Tortoise models of the promotion domain: partners and their API keys, campaigns and their
audit trail, and what tracking leaves behind (daily counts, viewers, clicks, conversions)."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class CampaignKind(StrEnum):
    PLAYLIST = "PLAYLIST"
    CONCERT_TOUR = "CONCERT_TOUR"
    SHORT_VIDEO = "SHORT_VIDEO"
    ORIGINAL_MUSIC = "ORIGINAL_MUSIC"
    ARTIST = "ARTIST"


class ObjectKind(StrEnum):
    # What a campaign promotes: an object of the catalog, or an external link.

    PLAYLIST = "PLAYLIST"
    ALBUM = "ALBUM"
    TRACK = "TRACK"
    ARTIST = "ARTIST"
    LINK = "LINK"


class Placement(StrEnum):
    HOME_BANNER = "HOME_BANNER"
    DISCOVER_FEED = "DISCOVER_FEED"
    SEARCH_TOP = "SEARCH_TOP"
    PLAYLIST_HEADER = "PLAYLIST_HEADER"
    NOW_PLAYING = "NOW_PLAYING"


class Audience(StrEnum):
    ALL = "ALL"
    MEMBERS = "MEMBERS"
    NON_MEMBERS = "NON_MEMBERS"


class CampaignStatus(StrEnum):
    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    APPROVED = "APPROVED"
    SCHEDULED = "SCHEDULED"
    LIVE = "LIVE"
    PAUSED = "PAUSED"
    ENDED = "ENDED"


class EventKind(StrEnum):
    IMPRESSION = "IMPRESSION"
    CLICK = "CLICK"


class ConversionKind(StrEnum):
    PLAY = "PLAY"
    SUBSCRIBE = "SUBSCRIBE"
    LIKE = "LIKE"
    SHARE = "SHARE"


class Partner(Model):
    id = fields.BigIntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)  # e.g. KKBOX
    name = fields.CharField(max_length=100)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "promotion_partners"


class PartnerApiKey(Model):
    # A key for a partner's own systems: only its SHA-256 is stored; the secret is shown once.

    id = fields.BigIntField(primary_key=True)
    partner: fields.ForeignKeyRelation[Partner] = fields.ForeignKeyField(
        "ncm.Partner", related_name="api_keys", on_delete=fields.CASCADE
    )
    partner_id: int
    name = fields.CharField(max_length=100)
    prefix = fields.CharField(max_length=16)  # the first characters, to recognise a key
    key_hash = fields.CharField(max_length=64, unique=True)
    created_by_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "promotion_partner_keys"
        indexes = [Index(fields=("partner_id", "id"))]


class Campaign(Model):
    id = fields.BigIntField(primary_key=True)
    partner: fields.ForeignKeyRelation[Partner] = fields.ForeignKeyField(
        "ncm.Partner", related_name="campaigns", on_delete=fields.RESTRICT
    )
    partner_id: int
    name = fields.CharField(max_length=200)
    kind = fields.CharEnumField(CampaignKind, max_length=16)
    status = fields.CharEnumField(CampaignStatus, max_length=16, default=CampaignStatus.DRAFT)
    object_kind = fields.CharEnumField(ObjectKind, max_length=16)
    object_id = fields.BigIntField(null=True)  # catalog objects
    link_url = fields.CharField(max_length=500, null=True)  # LINK: tickets, a video
    title = fields.CharField(max_length=200)
    image_url = fields.CharField(max_length=500, null=True)
    event_at = fields.DatetimeField(null=True)  # concert tours: date and venue
    venue = fields.CharField(max_length=200, null=True)
    placements: list[str] = fields.JSONField(default=list)
    regions: list[str] = fields.JSONField(default=list)  # empty: everywhere
    languages: list[str] = fields.JSONField(default=list)  # empty: any language
    audience = fields.CharEnumField(Audience, max_length=16, default=Audience.ALL)
    genre_ids: list[int] = fields.JSONField(default=list)  # empty: any listener
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    time_zone = fields.CharField(max_length=64, default="UTC")
    priority = fields.IntField(default=0)
    weight = fields.IntField(default=1)
    booked_impressions = fields.BigIntField(default=0)  # 0: not paced
    object_available = fields.BooleanField(default=True)
    created_by_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "promotion_campaigns"
        indexes = [Index(fields=("partner_id", "id")), Index(fields=("status", "id"))]


class CampaignAudit(Model):
    # Every step of a campaign's workflow: who, when, from which status to which.

    id = fields.BigIntField(primary_key=True)
    campaign: fields.ForeignKeyRelation[Campaign] = fields.ForeignKeyField(
        "ncm.Campaign", related_name="audit", on_delete=fields.CASCADE
    )
    campaign_id: int
    action = fields.CharField(max_length=32)
    from_status = fields.CharField(max_length=16, null=True)
    to_status = fields.CharField(max_length=16)
    actor_user_id = fields.BigIntField(null=True)
    actor_key_id = fields.BigIntField(null=True)
    note = fields.CharField(max_length=500, default="")
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "promotion_campaign_audit"
        indexes = [Index(fields=("campaign_id", "id"))]


class CampaignDailyStats(Model):
    # Counts per campaign, day (in the campaign's time zone) and viewer region ('' unknown).

    id = fields.BigIntField(primary_key=True)
    campaign_id = fields.BigIntField()
    day = fields.DateField()
    region = fields.CharField(max_length=2, default="")
    impressions = fields.BigIntField(default=0)
    clicks = fields.BigIntField(default=0)
    unique_viewers = fields.BigIntField(default=0)

    class Meta:
        table = "promotion_daily_stats"
        unique_together = (("campaign_id", "day", "region"),)


class CampaignViewer(Model):
    # A logged-in viewer who saw a campaign on a day (unique viewers, exactly). Partitioned
    # by ``day`` on PostgreSQL.

    id = fields.BigIntField(primary_key=True)
    campaign_id = fields.BigIntField()
    day = fields.DateField()
    user_id = fields.BigIntField()

    class Meta:
        table = "promotion_viewers"
        unique_together = (("campaign_id", "day", "user_id"),)


class PromotionClick(Model):
    # A logged-in viewer's click: what conversions are attributed to. Partitioned by ``at``
    # (a UTC day each) on PostgreSQL, so the event key is unique with ``at``.

    id = fields.BigIntField(primary_key=True)
    event_key = fields.CharField(max_length=100)
    campaign_id = fields.BigIntField()
    user_id = fields.BigIntField()
    region = fields.CharField(max_length=2, default="")
    at = fields.DatetimeField()

    class Meta:
        table = "promotion_clicks"
        unique_together = (("event_key", "at"),)
        indexes = [Index(fields=("user_id", "at"))]


class CampaignConversion(Model):
    # An action on the promoted object within 24 hours of a click by the same user; each
    # action converts once (for the latest click before it).

    id = fields.BigIntField(primary_key=True)
    campaign_id = fields.BigIntField()
    click_id = fields.BigIntField()
    user_id = fields.BigIntField()
    kind = fields.CharEnumField(ConversionKind, max_length=16)
    source_id = fields.BigIntField()  # the row of the action in its own table
    day = fields.DateField()
    region = fields.CharField(max_length=2, default="")
    at = fields.DatetimeField()

    class Meta:
        table = "promotion_conversions"
        unique_together = (("kind", "source_id"),)
        indexes = [Index(fields=("campaign_id", "day"))]


class PromotionFlush(Model):
    # A batch of tracked counts written to the database: a retried flush skips it.

    id = fields.BigIntField(primary_key=True)
    batch_id = fields.CharField(max_length=64, unique=True)
    events = fields.BigIntField(default=0)
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "promotion_flushes"


class PromotionCursor(Model):
    # How far the conversion job has read another domain's table (by id).

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=32, unique=True)
    last_id = fields.BigIntField(default=0)

    class Meta:
        table = "promotion_cursors"
