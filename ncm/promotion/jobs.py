"""arq jobs of the promotion domain (registered with ``ncm.kit.jobs.job``)."""

from __future__ import annotations

from typing import Any

from ncm.kit.jobs import cron_job


@cron_job()  # every minute
async def promotion_flush(ctx: dict[str, Any]) -> int:
    """Write the tracked impressions and clicks counted in Redis to the database."""
    from ncm.promotion import tracking

    return (await tracking.flush()).events


@cron_job()
async def promotion_advance(ctx: dict[str, Any]) -> int:
    """Time-driven workflow steps (scheduled -> live -> ended) and disappeared objects."""
    from ncm.promotion import campaigns

    moved = await campaigns.advance_all()
    return moved + await campaigns.check_objects()


@cron_job(minute=set(range(0, 60, 5)))
async def promotion_conversions(ctx: dict[str, Any]) -> int:
    """Attribute plays, subscriptions, likes and shares that followed a click."""
    from ncm.promotion import conversions

    return await conversions.attribute()
