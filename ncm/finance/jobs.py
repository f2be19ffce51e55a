"""arq jobs of the finance domain (registered with ``ncm.kit.jobs.job``)."""

from __future__ import annotations

from typing import Any

from ncm.kit.jobs import cron_job


@cron_job(hour={2}, minute={41})
async def rollup_plays(ctx: dict[str, Any]) -> int:
    """Nightly: rebuild the daily play rollup of the last 31 complete days (idempotent)."""
    from ncm.finance.mix import rollup_recent

    return await rollup_recent()


@cron_job(minute=set(range(3, 60, 10)))
async def refresh_rollup(ctx: dict[str, Any]) -> dict[str, int]:
    """Every ten minutes: compute the report rollup's missing and stale months (the last
    thirteen, every grouping), so a report finds them fresh."""
    from ncm.finance.rollup import refresh_recent

    return await refresh_recent()
