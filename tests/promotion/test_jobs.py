"""The promotion cron jobs, called directly (a frequent cron keeps a burst worker alive)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from ncm.kit import jobs as kit_jobs
from ncm.kit.redis import get_redis
from ncm.promotion import jobs, tracking
from ncm.promotion.models import CampaignDailyStats, EventKind
from ncm.promotion.profiles import ViewerProfile
from tests.promotion.helpers import live_campaign, partner


async def test_cron_jobs_are_registered_and_run() -> None:
    assert {"promotion_flush", "promotion_advance", "promotion_conversions"} <= {
        spec.func.__name__ for spec in kit_jobs.CRONS
    }
    p = await partner()
    c = await live_campaign(p)
    v = ViewerProfile("u1", 1, "TW", None, False, frozenset())
    now = datetime.now(UTC)
    await tracking.record(
        v, [tracking.EventIn("a", c.id, "HOME_BANNER", EventKind.IMPRESSION, now)]
    )
    assert await jobs.promotion_flush({}) == 1
    assert await jobs.promotion_advance({}) == 0
    assert await jobs.promotion_conversions({}) == 0


async def test_embedded_default_flushes_by_itself() -> None:
    if await get_redis() is not None:
        return  # with Redis the arq cron job flushes
    p = await partner()
    c = await live_campaign(p)
    v = ViewerProfile("u1", 1, "TW", None, False, frozenset())
    now = datetime.now(UTC)
    tracking._memory.last_flush = time.monotonic() - tracking.EMBEDDED_FLUSH_SECONDS - 1
    await tracking.record(
        v, [tracking.EventIn("a", c.id, "HOME_BANNER", EventKind.IMPRESSION, now)]
    )
    await kit_jobs.drain()  # the in-process flush job the ingest started
    assert sum(r.impressions for r in await CampaignDailyStats.all()) == 1
    assert await tracking.pending_events() == 0
