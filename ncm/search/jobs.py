"""Background jobs for search: the popularity tiers (``ncm.search.tiers``), hourly with a
worker; ``ncm search refresh`` runs it by hand (after a large import, say)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ncm.kit.jobs import cron_job


@cron_job(minute={17})
async def refresh_search_tiers(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """Idempotent: a rerun with unchanged popularity moves no row."""
    from ncm.search.maintenance import refresh

    return [dataclasses.asdict(report) for report in await refresh()]
