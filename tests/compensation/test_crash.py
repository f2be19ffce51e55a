"""A real worker process is SIGKILLed in the middle of a campaign; the resumed run ends with
exactly one grant per user (PostgreSQL + Redis: the production path)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ncm.compensation import service
from ncm.compensation.models import CampaignChunk, CampaignStatus
from ncm.kit.sql import fetch
from tests.billing.helpers import process_pending
from tests.workers import killed_worker

USERS = 240
CHUNK = 10


async def seed_users(n: int) -> None:
    await fetch(
        "INSERT INTO users (email, handle, password_hash, display_name, role, follower_count,"
        " following_count, search_text, created_at, updated_at)"
        " SELECT 'crash' || g || '@example.com', 'crash' || g, 'x', '', 'LISTENER', 0, 0, '',"
        " now(), now() FROM generate_series(1, $1) AS g",
        [n],
    )


@pytest.mark.postgres_only
async def test_sigkilled_worker_then_resume_gives_exactly_one_grant_per_user() -> None:
    from ncm.kit.redis import get_redis

    await seed_users(USERS)
    now = datetime.now(UTC)
    p = await service.plan(
        days=7,
        audience="all",
        claimable_from=now,
        claim_until=now + timedelta(days=30),
        chunk_size=CHUNK,
    )
    campaign = await service.create(p, by="test")
    await service.execute(campaign.id, by="test")  # 24 chunk jobs queued in Redis
    # each chunk holds its transaction open a while: the kill lands inside one
    async with killed_worker(NCM_COMPENSATION_CHUNK_PAUSE="0.4"):
        for _ in range(600):  # until a few chunks committed (at most 60 s on a busy machine)
            done = await CampaignChunk.filter(
                campaign_id=campaign.id, granted_at__isnull=False
            ).count()
            if done >= 3:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.2)  # now inside the next chunk's transaction
    left = await CampaignChunk.filter(campaign_id=campaign.id, granted_at__isnull=True).count()
    assert 0 < left < USERS // CHUNK, "the kill must land in the middle of the run"
    status = await service.status(campaign.id)
    assert status.campaign.status == CampaignStatus.RUNNING
    granted_before = status.total_grants
    assert granted_before == (USERS // CHUNK - left) * CHUNK  # no half chunk survived
    # arq retries the killed job once its in-progress key expires (the job timeout): do now
    redis = await get_redis()
    assert redis is not None
    for key in await redis.keys("arq:in-progress:*"):
        await redis.delete(key)
    await service.resume(campaign.id, by="test")  # queues what is left, afresh
    await process_pending()  # the old queued jobs, the killed one and the resumed ones
    status = await service.status(campaign.id)
    assert status.campaign.status == CampaignStatus.DONE
    rows = await fetch(
        "SELECT count(*) AS n, count(DISTINCT user_id) AS users FROM compensation_grants"
        " WHERE campaign_id = $1",
        [campaign.id],
    )
    assert rows[0]["n"] == rows[0]["users"] == USERS
    assert [a.action for a in status.audit] == ["CREATED", "EXECUTED", "RESUMED", "FINISHED"]
