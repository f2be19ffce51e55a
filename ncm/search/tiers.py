"""Popularity tiers: the most popular rows of each searchable table get ``search_tier`` 1,
the next ones 2, the rest 3 (PostgreSQL; docs/search.md).

Tier ``n`` holds the ``TIER_ROWS[n - 1]`` most popular rows (each ten times the one before);
the last tier holds the rest. A search reads tier 1 first through a partial GIN index and
widens to tiers 1-2, 1-3 ... only when a tier cannot fill the page. A tier fills a page once
it holds ``page`` matches, and the tier before it held fewer, so the rows a search reads
stay under ten pages' worth (plus tier 1's matches of a very common word), whatever the
catalog's size. The tiers are boundaries in ``(popularity, id)`` order, the
order results are ranked in, so a page built from tier 1 is exactly the page the whole
table would give (as of the last refresh: a row that became popular since waits for the
next one; new rows start in tier 3).
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise import connections

from ncm.kit.db import is_postgres
from ncm.kit.progress import Echo, quiet, step
from ncm.search.sources import SOURCES

# Changing these needs a migration: each bound has a partial GIN index (0015_search).
TIER_ROWS = (2_000, 20_000, 200_000, 2_000_000)
LAST_TIER = len(TIER_ROWS) + 1


@dataclass(frozen=True)
class TierReport:
    table: str
    moved: int


async def refresh_tiers(
    tier_rows: tuple[int, ...] = TIER_ROWS, echo: Echo = quiet
) -> list[TierReport]:
    """Recompute every table's tiers; only rows whose tier changes are written (``echo``
    is told each table done)."""
    if not is_postgres():
        return []
    conn = connections.get("default")
    reports = []
    for src in SOURCES.values():
        params: list[int] = []
        cases = []
        for n, rank in enumerate(tier_rows, start=1):
            rows = await conn.execute_query_dict(
                f"SELECT {src.popularity} AS p, id FROM {src.table}"
                f" ORDER BY {src.popularity} DESC, id DESC OFFSET $1 LIMIT 1",
                [rank - 1],
            )
            if not rows:  # fewer rows than this tier holds: it takes every row left
                break
            params += [rows[0]["p"], rows[0]["id"]]
            cases.append(
                f"WHEN ({src.popularity}, id) >= (${len(params) - 1}, ${len(params)}) THEN {n}"
            )
        cases.append(f"ELSE {len(cases) + 1}")
        tier = f"CASE {' '.join(cases)} END" if len(cases) > 1 else cases[0].removeprefix("ELSE ")
        moved, _ = await conn.execute_query(
            f"UPDATE {src.table} SET search_tier = {tier} WHERE search_tier <> {tier}", params
        )
        reports.append(TierReport(src.table, int(moved)))
        step(echo, "search tiers", len(reports), len(SOURCES))
    return reports
