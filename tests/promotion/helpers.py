"""Builders for the promotion tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ncm.accounts.models import Role
from ncm.promotion import campaigns, keys
from ncm.promotion.access import SYSTEM, Actor
from ncm.promotion.campaigns import CampaignSpec
from ncm.promotion.models import Campaign, CampaignKind, ObjectKind, Partner, Placement
from tests.conftest import make_user

OPERATOR = SYSTEM


async def partner(code: str = "KKBOX", name: str | None = None) -> Partner:
    return await keys.add_partner(OPERATOR, code, name or code.title())


async def partner_user(p: Partner, handle: str | None = None) -> Any:
    return await make_user(handle or f"p{p.id}user", role=Role.PARTNER, partner_id=p.id)


def spec(**overrides: Any) -> CampaignSpec:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "name": "Mayday world tour",
        "kind": CampaignKind.CONCERT_TOUR,
        "object_kind": ObjectKind.LINK,
        "link_url": "https://tickets.example.com/mayday",
        "title": "Mayday live in Taipei",
        "image_url": "https://img.example.com/mayday.jpg",
        "event_at": now + timedelta(days=30),
        "venue": "Taipei Dome",
        "starts_at": now - timedelta(hours=1),
        "ends_at": now + timedelta(days=1),
        "placements": [Placement.HOME_BANNER],
    }
    values.update(overrides)
    return CampaignSpec(**values)


async def live_campaign(p: Partner, **overrides: Any) -> Campaign:
    """A campaign taken through submit and approve (LIVE when its schedule has begun)."""
    c = await campaigns.create_campaign(OPERATOR, spec(**overrides), partner_id=p.id)
    await campaigns.submit(OPERATOR, c.id)
    return await campaigns.approve(OPERATOR, c.id)


def partner_actor(p: Partner) -> Actor:
    return Actor(user_id=None, partner_id=p.id)
