"""GraphQL queries of the promotion domain."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from ncm.errors import InvalidInput, NotFound
from ncm.promotion import campaigns, keys, live, profiles, reports
from ncm.promotion.models import CampaignStatus as Status
from ncm.promotion.models import Placement
from ncm.schema.base import Connection, connection, pk_of
from ncm.schema.context import Info
from ncm.schema.promotion.types import (
    Campaign,
    CampaignReport,
    CampaignStatus,
    Partner,
    PartnerApiKey,
    Promotion,
    PromotionPlacement,
    actor_of,
)

MAX_LIMIT = 10


async def viewer_profile(info: Info) -> profiles.ViewerProfile:
    """The viewer as targeting sees them, without a database query once cached."""
    context = info.context
    if context.token_invalid:
        raise context.token_refusal()
    user_id = context.viewer_id
    if user_id is None:
        return profiles.anonymous(f"{context.client_ip}|{context.user_agent}")
    found = await profiles.profile(user_id)
    return found or profiles.anonymous(f"{context.client_ip}|{context.user_agent}")


_views: dict[tuple[int, str], tuple[live.LiveCampaign, Promotion]] = {}


def _view(c: live.LiveCampaign, placement: Placement) -> Promotion:
    """The campaign as served (immutable, so one instance serves every request until the
    live set reloads)."""
    key = (id(c), placement.value)
    found = _views.get(key)
    if found is None or found[0] is not c:
        if len(_views) > 10_000:
            _views.clear()
        found = _views[key] = (c, Promotion.from_live(c, Placement(placement)))
    return found[1]


@strawberry.type
class PromotionQuery:
    @strawberry.field(
        description="What to show the viewer in a placement: live, targeted, paced campaigns, "
        "ordered by priority then a weighted draw that stays the same within the hour."
    )
    async def promotions(
        self,
        info: Info,
        placement: PromotionPlacement,
        limit: int = 1,
    ) -> list[Promotion]:
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"`limit` is 1-{MAX_LIMIT}.", field="limit")
        viewer = await viewer_profile(info)
        chosen = await live.promotions(viewer, placement.value, limit)
        return [_view(c, placement) for c in chosen]

    @strawberry.field(description="Partners: all for operators, its own for a partner.")
    async def promotion_partners(self, info: Info) -> list[Partner]:
        actor = await actor_of(info)
        return [Partner.from_model(p) for p in await keys.list_partners(actor)]

    @strawberry.field(description="A partner's API keys (operators).")
    async def partner_api_keys(self, info: Info, partner_id: strawberry.ID) -> list[PartnerApiKey]:
        actor = await actor_of(info)
        found = await keys.list_keys(actor, pk_of(partner_id, "Partner", field="partnerId"))
        return [PartnerApiKey.from_model(k) for k in found]

    @strawberry.field(description="Campaigns, newest first (a partner sees its own only).")
    async def promotion_campaigns(
        self,
        info: Info,
        partner_id: strawberry.ID | None = None,
        status: CampaignStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Campaign]:
        actor = await actor_of(info)
        page = await campaigns.list_campaigns(
            actor,
            partner_id=pk_of(partner_id, "Partner", field="partnerId") if partner_id else None,
            status=Status(status.value) if status is not None else None,
            first=first,
            after=after,
        )
        return connection(page, Campaign.from_model)

    @strawberry.field(description="One campaign (null if it is not yours to see).")
    async def promotion_campaign(self, info: Info, id: strawberry.ID) -> Campaign | None:
        actor = await actor_of(info)
        try:
            found = await campaigns.get_campaign(actor, pk_of(id, "Campaign"))
        except NotFound:
            return None
        return Campaign.from_model(found)

    @strawberry.field(description="A campaign's days from `from` to `to` (its time zone).")
    async def campaign_report(
        self,
        info: Info,
        campaign_id: strawberry.ID,
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date,
    ) -> CampaignReport:
        actor = await actor_of(info)
        report = await reports.campaign_report(
            actor, pk_of(campaign_id, "Campaign", field="campaignId"), from_, to
        )
        return CampaignReport.of(report)

    @strawberry.field(description="Every campaign of a partner, day by day.")
    async def partner_report(
        self,
        info: Info,
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date,
        partner_id: strawberry.ID | None = None,
    ) -> list[CampaignReport]:
        actor = await actor_of(info)
        if partner_id is not None:
            pk = pk_of(partner_id, "Partner", field="partnerId")
        elif actor.partner_id is not None:
            pk = actor.partner_id
        else:
            raise InvalidInput("An operator names the partner (partnerId).", field="partnerId")
        return [CampaignReport.of(r) for r in await reports.partner_report(actor, pk, from_, to)]
