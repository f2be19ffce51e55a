"""Accounts jobs."""

from __future__ import annotations

from typing import Any

from ncm.accounts import service
from ncm.kit.jobs import cron_job


@cron_job(hour={3}, minute={17})
async def purge_expired_sessions(ctx: dict[str, Any]) -> int:
    """Delete refresh tokens that expired more than a week ago (idempotent)."""
    return await service.purge_expired_sessions()
