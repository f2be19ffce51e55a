"""``python -m bench seed``: a dedicated database, migrated, filled by ``seed_scale`` (the
function behind ``ncm seed scale``)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any
from urllib.parse import urlparse

from rich.table import Table

from bench.harness import Report, asyncpg_dsn, console, machine_info


async def _ensure_database(database_url: str, recreate: bool) -> bool:
    import asyncpg

    name = urlparse(database_url).path.lstrip("/")
    if not name or not name.replace("_", "").isalnum():
        raise SystemExit(f"unexpected database name {name!r}")
    admin_dsn = asyncpg_dsn(database_url).rsplit("/", 1)[0] + "/postgres"
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists and recreate:
            if not name.startswith("ncm_bench"):
                raise SystemExit(f"--recreate only drops databases named ncm_bench*, not {name}")
            await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
            return True
        return False
    finally:
        await conn.close()


async def _vacuum(database_url: str) -> float:
    """VACUUM (ANALYZE) so the benchmarks do not pay for hint bits and visibility maps."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        start = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE)")
        return time.perf_counter() - start
    finally:
        await conn.close()


async def _seed(
    database_url: str, tracks: int, users: int, comments: int, hot_track_share: float
) -> dict[str, Any]:
    from ncm.kit.db import close_db, init_db
    from ncm.kit.migrate import upgrade
    from ncm.seeding.scale import seed_scale

    applied = await upgrade(database_url)
    if applied:
        console.print(f"migrations applied: {', '.join(applied)}")
    from ncm.search.maintenance import refresh

    await init_db(database_url)
    try:
        result = await seed_scale(
            tracks=tracks,
            users=users,
            comments=comments,
            hot_track_share=hot_track_share,
            echo=console.print,
        )
        # The search tiers, as the hourly job would have them: without them every search
        # reads every match (1.9 s for the heaviest words at 1M tracks instead of ~2 ms).
        started = time.perf_counter()
        await refresh()
        result["seconds_search_tiers"] = round(time.perf_counter() - started, 2)
        return result
    finally:
        await close_db()


def run(
    database_url: str,
    tracks: int,
    users: int,
    recreate: bool,
    vacuum: bool,
    comments: int = 0,
    hot_track_share: float = 0.2,
) -> Report:
    os.environ["NCM_DATABASE_URL"] = database_url
    from ncm.config import reset_settings

    reset_settings()
    options = {"database_url": database_url, "tracks": tracks, "users": users, "comments": comments}
    report = Report("seed", options)
    report.machine = machine_info(database_url)
    created = asyncio.run(_ensure_database(database_url, recreate))
    console.print(f"database {'created' if created else 'exists'}: {database_url}")
    started = time.perf_counter()
    result = asyncio.run(_seed(database_url, tracks, users, comments, hot_track_share))
    result["seconds_wall"] = round(time.perf_counter() - started, 2)
    if vacuum:
        result["seconds_vacuum_after"] = round(asyncio.run(_vacuum(database_url)), 2)
    report.results = result
    report.machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]

    table = Table(title=f"seed: {tracks:,} tracks, {users:,} users")
    table.add_column("what")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)
    if tracks:
        seconds = float(result.get("seconds_catalog", 0.0))
        console.print(
            f"catalog: {tracks:,} tracks (and their artists, albums, credits, genres,"
            f" renditions, licenses, indexes, ANALYZE) in {seconds:.1f}s"
            f" -- target for 1M tracks: under 60s"
        )
    if users:
        console.print(f"users: {users:,} in {float(result.get('seconds_users', 0.0)):.1f}s")
    if comments:
        added, seconds = result["comments_added"], result["comments_seconds_total"]
        console.print(f"comments: {added:,} in {seconds}s")
    return report
