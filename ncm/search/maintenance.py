"""What follows popularity: the tiers, then the suggestions drawn from them (hourly job,
``ncm search refresh``, and after a demo seed or an import)."""

from __future__ import annotations

from ncm.kit.progress import Echo, quiet
from ncm.search.suggestions import rebuild
from ncm.search.tiers import TIER_ROWS, TierReport, refresh_tiers


async def refresh(tier_rows: tuple[int, ...] = TIER_ROWS, echo: Echo = quiet) -> list[TierReport]:
    reports = await refresh_tiers(tier_rows, echo)
    echo("rebuilding the search suggestions")
    return [*reports, TierReport("search_suggestions", await rebuild())]
