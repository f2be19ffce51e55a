"""arq jobs of the compensation domain (registered with ``ncm.kit.jobs.job``).

Every job is idempotent: a chunk granted or applied twice inserts nothing the second time
(unique ``(campaign_id, user_id)`` and ``(reference, user_id)``), and a chunk is marked done
in the transaction that did its work.
"""

from __future__ import annotations

import logging
from typing import Any

from ncm.kit.jobs import cron_job, job

log = logging.getLogger("ncm.compensation.jobs")


@job
async def grant_chunk(ctx: dict[str, Any], campaign_id: int, lo: int) -> int:
    from ncm.compensation import service  # lazy: the service enqueues these jobs

    return await service.grant_chunk(campaign_id, lo)


@job
async def grant_chunks(ctx: dict[str, Any], campaign_id: int, los: list[int]) -> int:
    """In-process mode: the chunks one after the other."""
    from ncm.compensation import service  # lazy: the service enqueues these jobs

    return sum([await service.grant_chunk(campaign_id, lo) for lo in los])


@job
async def apply_chunk(ctx: dict[str, Any], campaign_id: int, lo: int) -> int:
    from ncm.compensation import service  # lazy: the service enqueues these jobs

    return await service.apply_chunk(campaign_id, lo)


@job
async def apply_chunks(ctx: dict[str, Any], campaign_id: int, los: list[int]) -> int:
    from ncm.compensation import service  # lazy: the service enqueues these jobs

    return sum([await service.apply_chunk(campaign_id, lo) for lo in los])


@cron_job(minute=set(range(60)))
async def apply_due_campaigns(ctx: dict[str, Any]) -> int:
    """Every minute: queue the auto-apply of campaigns whose claimable date has come."""
    from ncm.compensation import service  # lazy: the service enqueues these jobs

    queued = 0
    for campaign_id in await service.due_for_apply():
        queued += await service.queue_apply(campaign_id)
    return queued


@job
async def move_next_charges(ctx: dict[str, Any]) -> dict[str, int]:
    """The pending Stripe moves, paced (``NCM_COMPENSATION_STRIPE_RATE`` moves/s; default
    20 with a live key, 10 in test mode)."""
    from ncm.compensation import service  # lazy: the service enqueues these jobs

    counts = await service.move_next_charges()
    if counts["retry"] and ctx.get("redis") is not None:
        from arq import Retry

        raise Retry(defer=min(300, 5 * 2 ** int(ctx.get("job_try", 1))))
    return counts


@cron_job(minute=set(range(0, 60, 10)))
async def requeue_stripe_moves(ctx: dict[str, Any]) -> int:
    """Every ten minutes: pick up Stripe moves left pending (outage, lost enqueue)."""
    from ncm.compensation.models import ShiftStatus, StripeShift
    from ncm.kit.jobs import enqueue

    if await StripeShift.filter(status=ShiftStatus.PENDING).exists():
        await enqueue(move_next_charges, job_id="comp-stripe-shifts")
        return 1
    return 0
