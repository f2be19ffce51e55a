"""Background work of the comments domain (idempotent: safe to run twice)."""

from __future__ import annotations

from typing import Any

from tortoise.transactions import in_transaction

from ncm.comments.counters import Audit, audit_thread
from ncm.kit.jobs import job


async def recount_threads(thread_ids: list[int], *, fix: bool) -> Audit:
    """Audit (and with ``fix`` repair) the stored counters of these threads, one
    transaction per thread."""
    total = Audit(fixed=fix)
    for thread_id in thread_ids:
        async with in_transaction() as conn:
            found = await audit_thread(conn, thread_id, fix=fix)
        total.threads += found.threads
        total.comments += found.comments
        total.targets += found.targets
    return total


@job
async def recount_comment_threads(ctx: dict[str, Any], thread_ids: list[int]) -> int:
    """Repair the stored counters of these threads; returns how many were wrong."""
    return (await recount_threads(thread_ids, fix=True)).total
