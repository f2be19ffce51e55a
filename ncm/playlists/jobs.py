"""Playlists jobs."""

from __future__ import annotations

from typing import Any

from ncm.kit.jobs import cron_job
from ncm.playlists import service


@cron_job(hour={4}, minute={7})
async def purge_deleted_playlists(ctx: dict[str, Any]) -> int:
    """Delete playlists soft-deleted more than 30 days ago (idempotent, batched)."""
    return await service.purge_deleted()
