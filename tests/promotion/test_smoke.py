from __future__ import annotations

from ncm.promotion import live, profiles
from ncm.promotion.models import CampaignStatus
from tests.promotion.helpers import live_campaign, partner


async def test_live_campaign_is_served() -> None:
    p = await partner()
    c = await live_campaign(p)
    assert c.status == CampaignStatus.LIVE
    chosen = await live.promotions(profiles.anonymous("x"), "HOME_BANNER", 3)
    assert [x.id for x in chosen] == [c.id]
