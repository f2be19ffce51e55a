"""Background work of the comments domain (idempotent: safe to run twice)."""

from __future__ import annotations

from typing import Any

from tortoise.transactions import in_transaction

from ncm.comments.counters import Audit, audit_thread
from ncm.kit.jobs import job
from ncm.kit.progress import Echo, quiet, step

RECOUNT_STEP = 100  # threads between two progress reports


async def recount_threads(thread_ids: list[int], *, fix: bool, echo: Echo = quiet) -> Audit:
    """Audit (and with ``fix`` repair) the stored counters of these threads, one
    transaction per thread (``echo`` is told how many are done)."""
    total = Audit(fixed=fix)
    for n, thread_id in enumerate(thread_ids, 1):
        async with in_transaction() as conn:
            found = await audit_thread(conn, thread_id, fix=fix)
        total.threads += found.threads
        total.comments += found.comments
        total.targets += found.targets
        if n % RECOUNT_STEP == 0 or n == len(thread_ids):
            step(echo, "comment threads", n, len(thread_ids))
    return total


@job
async def recount_comment_threads(ctx: dict[str, Any], thread_ids: list[int]) -> int:
    """Repair the stored counters of these threads; returns how many were wrong."""
    return (await recount_threads(thread_ids, fix=True)).total
