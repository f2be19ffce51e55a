"""arq jobs of the incidents domain (registered with ``ncm.kit.jobs.job``)."""

from __future__ import annotations

from typing import Any

from ncm.incidents import affected
from ncm.kit.jobs import cron_job, enqueue

_scheduled = False


@cron_job(minute=set(range(60)))
async def flush_affected(ctx: dict[str, Any]) -> int:
    """Every minute: recorded affected users into ``incident_affected_users``."""
    global _scheduled
    _scheduled = False
    return await affected.flush()


async def schedule_flush() -> None:
    """In-process mode has no cron: one flush after a burst of records."""
    global _scheduled
    if not _scheduled:
        _scheduled = True
        await enqueue(flush_affected)
