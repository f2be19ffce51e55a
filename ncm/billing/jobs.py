"""Background jobs for billing (idempotent: an event processed twice changes nothing)."""

from __future__ import annotations

import logging
from typing import Any

from ncm.billing import webhooks
from ncm.billing.errors import PaymentProviderUnavailable
from ncm.kit.jobs import cron_job, job

log = logging.getLogger("ncm.billing.jobs")


@job
async def process_stripe_event(ctx: dict[str, Any], event_id: int) -> str:
    """Apply one recorded webhook event. While Stripe is unreachable the event stays
    PENDING: arq retries with backoff, and ``requeue_stripe_events`` catches the rest."""
    try:
        return (await webhooks.process(event_id)).value
    except PaymentProviderUnavailable:
        if ctx.get("redis") is None:  # in-process: the cron sweep retries
            log.warning("stripe unavailable; event stays pending", extra={"event": event_id})
            return "PENDING"
        from arq import Retry

        raise Retry(defer=min(300, 5 * 2 ** int(ctx.get("job_try", 1)))) from None


@cron_job(minute=set(range(0, 60, 5)))
async def requeue_stripe_events(ctx: dict[str, Any]) -> int:
    """Every five minutes: re-enqueue webhook events left pending (lost enqueue, outage)."""
    return await webhooks.requeue_stale()
