"""Background jobs for playback: the play stream's consumer (batched ingestion, run by the
worker for its whole life) and play aggregation (every minute with a worker; scheduled after
a report when jobs run in-process)."""

from __future__ import annotations

from typing import Any

from ncm.kit.jobs import cron_job, enqueue, worker_loop
from ncm.stream import ingest
from ncm.stream.plays import settle

_scheduled = False


@cron_job(minute=set(range(60)))
async def aggregate_plays(ctx: dict[str, Any]) -> dict[str, int]:
    """Write what the play stream holds (if the consumer loop is behind or down) and count
    pending play events (idempotent: a rerun finds nothing pending)."""
    global _scheduled
    _scheduled = False
    return await settle()


@worker_loop
async def drain_play_stream() -> None:
    """Batched ingestion: write reported plays from the Redis stream as they come."""
    if ingest.enabled():
        await ingest.drain_forever()


async def schedule_aggregation() -> None:
    """In-process mode has no cron: run one aggregation after reports, not one per report."""
    global _scheduled
    if not _scheduled:
        _scheduled = True
        await enqueue(aggregate_plays)
