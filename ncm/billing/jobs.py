"""Background jobs for billing (idempotent: an event processed twice changes nothing)."""

from __future__ import annotations

import logging
from typing import Any

from ncm.billing import webhooks
from ncm.billing.errors import PaymentProviderUnavailable
from ncm.kit.jobs import cron_job, job, woke

log = logging.getLogger("ncm.billing.jobs")


@job
async def process_stripe_events(ctx: dict[str, Any]) -> int:
    """The webhook drain (woken by the webhook endpoint): apply pending events in batches
    until none is left. While Stripe is unreachable the events stay PENDING: arq retries
    with backoff, and ``requeue_stripe_events`` catches the rest."""
    await woke(process_stripe_events)
    try:
        return await webhooks.drain()
    except PaymentProviderUnavailable:
        _retry_later(ctx)
        return 0


@job
async def process_stripe_event(ctx: dict[str, Any], event_id: int) -> str:
    """One recorded webhook event: what an API from before the drain enqueued. Kept
    registered so events already queued by an older API are still processed (workers are
    deployed before the API, docs/billing.md)."""
    try:
        return (await webhooks.process(event_id)).value
    except PaymentProviderUnavailable:
        _retry_later(ctx)
        return "PENDING"


def _retry_later(ctx: dict[str, Any]) -> None:
    if ctx.get("redis") is None:  # in-process: the cron sweep retries
        log.warning("stripe unavailable; events stay pending")
        return
    from arq import Retry

    raise Retry(defer=min(300, 5 * 2 ** int(ctx.get("job_try", 1)))) from None


@cron_job(minute=set(range(0, 60, 5)))
async def requeue_stripe_events(ctx: dict[str, Any]) -> int:
    """Every five minutes: run the drain for webhook events left pending (lost wake,
    outage) and release waiting events whose customer got linked."""
    return await webhooks.requeue_stale()
