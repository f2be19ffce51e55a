"""Background jobs for playback: play aggregation (every minute with a worker; scheduled
after a report when jobs run in-process)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ncm.kit.jobs import cron_job, enqueue
from ncm.stream.plays import aggregate_pending

_scheduled = False


@cron_job(minute=set(range(60)))
async def aggregate_plays(ctx: dict[str, Any]) -> dict[str, int]:
    """Count pending play events (idempotent: a rerun finds nothing pending)."""
    global _scheduled
    _scheduled = False
    return dataclasses.asdict(await aggregate_pending())


async def schedule_aggregation() -> None:
    """In-process mode has no cron: run one aggregation after reports, not one per report."""
    global _scheduled
    if not _scheduled:
        _scheduled = True
        await enqueue(aggregate_plays)
