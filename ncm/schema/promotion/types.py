"""GraphQL types of the promotion domain."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry

from ncm.promotion import models as m
from ncm.promotion import reports
from ncm.promotion.access import Actor, actor_for
from ncm.promotion.live import LiveCampaign
from ncm.schema.base import to_global_id
from ncm.schema.context import Info, partner_key_actor

strawberry.enum(m.CampaignKind, name="CampaignKind")
strawberry.enum(
    m.ObjectKind, name="PromotedObjectKind", description="A catalog object, or an external LINK."
)
strawberry.enum(m.Placement, name="PromotionPlacement")
strawberry.enum(m.Audience, name="PromotionAudience", description="Members, non-members, or all.")
strawberry.enum(m.CampaignStatus, name="CampaignStatus")
strawberry.enum(m.EventKind, name="PromotionEventKind")
CampaignKind = m.CampaignKind
PromotedObjectKind = m.ObjectKind
PromotionPlacement = m.Placement
PromotionAudience = m.Audience
CampaignStatus = m.CampaignStatus
PromotionEventKind = m.EventKind

OBJECT_TYPES = {
    m.ObjectKind.PLAYLIST: "Playlist",
    m.ObjectKind.ALBUM: "Album",
    m.ObjectKind.TRACK: "Track",
    m.ObjectKind.ARTIST: "Artist",
}


async def actor_of(info: Info) -> Actor:
    """The request's promotion actor: a partner API key, else an operator or partner user."""
    context: Any = info.context
    cached = context.__dict__.get("_promotion_actor")
    if cached is not None:
        return cached
    actor = await partner_key_actor(info.context)
    if actor is None:
        actor = actor_for(await info.context.viewer())
    context.__dict__["_promotion_actor"] = actor
    return actor


def object_global_id(kind: str, pk: int | None) -> strawberry.ID | None:
    type_name = OBJECT_TYPES.get(m.ObjectKind(kind))
    return to_global_id(type_name, pk) if type_name and pk is not None else None


@strawberry.type(description="A partner organisation that runs campaigns (e.g. KKBOX).")
class Partner:
    id: strawberry.ID
    database_id: int = strawberry.field(description="The number `setUserRole(partnerId)` takes.")
    code: str
    name: str
    created_at: datetime

    @classmethod
    def from_model(cls, p: m.Partner) -> Partner:
        return cls(
            id=to_global_id("Partner", p.id),
            database_id=p.id,
            code=p.code,
            name=p.name,
            created_at=p.created_at,
        )


@strawberry.type(description="A partner's API key (the secret is shown only when created).")
class PartnerApiKey:
    id: strawberry.ID
    name: str
    prefix: str = strawberry.field(description="The first characters of the secret.")
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def from_model(cls, k: m.PartnerApiKey) -> PartnerApiKey:
        return cls(
            id=to_global_id("PartnerApiKey", k.id),
            name=k.name,
            prefix=k.prefix,
            created_at=k.created_at,
            revoked_at=k.revoked_at,
            last_used_at=k.last_used_at,
        )


@strawberry.type(description="One step of a campaign's workflow.")
class CampaignAuditEntry:
    action: str
    from_status: CampaignStatus | None
    to_status: CampaignStatus
    actor_user_id: strawberry.ID | None = strawberry.field(description="Null: the system or a key.")
    actor_key_id: strawberry.ID | None
    note: str
    at: datetime

    @classmethod
    def from_model(cls, a: m.CampaignAudit) -> CampaignAuditEntry:
        return cls(
            action=a.action,
            from_status=m.CampaignStatus(a.from_status) if a.from_status else None,
            to_status=m.CampaignStatus(a.to_status),
            actor_user_id=to_global_id("User", a.actor_user_id) if a.actor_user_id else None,
            actor_key_id=to_global_id("PartnerApiKey", a.actor_key_id) if a.actor_key_id else None,
            note=a.note,
            at=a.at,
        )


async def _audit_by_campaign(ids: list[int]) -> dict[int, list[m.CampaignAudit]]:
    found: dict[int, list[m.CampaignAudit]] = {i: [] for i in ids}
    for row in await m.CampaignAudit.filter(campaign_id__in=ids).order_by("id"):
        found[row.campaign_id].append(row)
    return found


async def _partners_by_ids(ids: list[int]) -> dict[int, m.Partner]:
    return {p.id: p for p in await m.Partner.filter(id__in=ids)}


@strawberry.type(description="A partner's promotion of a catalog object or an external link.")
class Campaign:
    model: strawberry.Private[m.Campaign]
    id: strawberry.ID
    name: str
    kind: CampaignKind
    status: CampaignStatus
    object_kind: PromotedObjectKind
    object_id: strawberry.ID | None = strawberry.field(
        description="The promoted Playlist, Album, Track or Artist (null for a LINK)."
    )
    link_url: str | None
    title: str
    image_url: str | None
    event_at: datetime | None
    venue: str | None
    placements: list[PromotionPlacement]
    regions: list[str]
    languages: list[str]
    audience: PromotionAudience
    genre_ids: list[strawberry.ID]
    starts_at: datetime
    ends_at: datetime
    time_zone: str
    priority: int
    weight: int
    booked_impressions: int = strawberry.field(description="0: not paced.")
    object_available: bool = strawberry.field(
        description="False when the promoted object disappeared (it is then not served)."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, c: m.Campaign) -> Campaign:
        return cls(
            model=c,
            id=to_global_id("Campaign", c.id),
            name=c.name,
            kind=c.kind,
            status=c.status,
            object_kind=c.object_kind,
            object_id=object_global_id(c.object_kind, c.object_id),
            link_url=c.link_url,
            title=c.title,
            image_url=c.image_url,
            event_at=c.event_at,
            venue=c.venue,
            placements=[m.Placement(p) for p in c.placements],
            regions=list(c.regions),
            languages=list(c.languages),
            audience=c.audience,
            genre_ids=[to_global_id("Genre", g) for g in c.genre_ids],
            starts_at=c.starts_at,
            ends_at=c.ends_at,
            time_zone=c.time_zone,
            priority=c.priority,
            weight=c.weight,
            booked_impressions=c.booked_impressions,
            object_available=c.object_available,
            created_at=c.created_at,
            updated_at=c.updated_at,
        )

    @strawberry.field
    async def partner(self, info: Info) -> Partner:
        found = await info.context.loaders.one(_partners_by_ids).load(self.model.partner_id)
        return Partner.from_model(found)

    @strawberry.field(description="Every workflow step, oldest first.")
    async def audit(self, info: Info) -> list[CampaignAuditEntry]:
        rows = await info.context.loaders.one(_audit_by_campaign).load(self.model.id)
        return [CampaignAuditEntry.from_model(a) for a in rows or []]


@strawberry.type(description="A promotion to show in a placement (everything a banner needs).")
class Promotion:
    campaign_id: strawberry.ID
    kind: CampaignKind
    placement: PromotionPlacement
    title: str
    image_url: str | None
    link_url: str | None
    object_kind: PromotedObjectKind
    object_id: strawberry.ID | None
    event_at: datetime | None
    venue: str | None

    @classmethod
    def from_live(cls, c: LiveCampaign, placement: m.Placement) -> Promotion:
        return cls(
            campaign_id=to_global_id("Campaign", c.id),
            kind=m.CampaignKind(c.kind),
            placement=placement,
            title=c.title,
            image_url=c.image_url,
            link_url=c.link_url,
            object_kind=m.ObjectKind(c.object_kind),
            object_id=object_global_id(c.object_kind, c.object_id),
            event_at=c.event_at,
            venue=c.venue,
        )


@strawberry.type(description="Counts of one region on one day ('' when the region is unknown).")
class CampaignRegionReport:
    region: str
    impressions: int
    unique_viewers: int
    clicks: int
    ctr: float = strawberry.field(description="Clicks per impression.")
    conversions: int

    @classmethod
    def of(cls, r: reports.RegionCounts) -> CampaignRegionReport:
        return cls(
            region=r.region,
            impressions=r.impressions,
            unique_viewers=r.unique_viewers,
            clicks=r.clicks,
            ctr=r.ctr,
            conversions=r.conversions,
        )


@strawberry.type(description="A campaign's day, in its time zone.")
class CampaignReportDay:
    day: date
    impressions: int
    unique_viewers: int
    clicks: int
    ctr: float
    conversions: int
    delivered_to_date: int = strawberry.field(description="Impressions from the start to this day.")
    expected_to_date: int = strawberry.field(
        description="The booking's even delivery curve at the end of this day."
    )
    pacing: float | None = strawberry.field(
        description="deliveredToDate / expectedToDate (1.0: on the curve); null if not booked."
    )
    regions: list[CampaignRegionReport]


@strawberry.type(description="Totals over the report's days.")
class CampaignReportTotal:
    impressions: int
    unique_viewers: int = strawberry.field(description="The sum of daily unique viewers.")
    clicks: int
    ctr: float
    conversions: int


@strawberry.type(description="A campaign's report for a range of days.")
class CampaignReport:
    campaign: Campaign
    booked_impressions: int
    days: list[CampaignReportDay]
    total: CampaignReportTotal

    @classmethod
    def of(cls, r: reports.CampaignReport) -> CampaignReport:
        return cls(
            campaign=Campaign.from_model(r.campaign),
            booked_impressions=r.campaign.booked_impressions,
            days=[
                CampaignReportDay(
                    day=d.day,
                    impressions=d.impressions,
                    unique_viewers=d.unique_viewers,
                    clicks=d.clicks,
                    ctr=d.ctr,
                    conversions=d.conversions,
                    delivered_to_date=d.delivered_to_date,
                    expected_to_date=d.expected_to_date,
                    pacing=d.pacing,
                    regions=[CampaignRegionReport.of(x) for x in d.regions],
                )
                for d in r.days
            ],
            total=CampaignReportTotal(
                impressions=r.total.impressions,
                unique_viewers=r.total.unique_viewers,
                clicks=r.total.clicks,
                ctr=r.total.ctr,
                conversions=r.total.conversions,
            ),
        )
