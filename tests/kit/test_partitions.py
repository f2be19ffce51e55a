"""Event tables partitioned by day (PostgreSQL): partitions made ahead, rows of a day without
one kept in the default partition and moved when it is made, expired partitions dropped only
once every rollup check covers them, and the migration converting a populated table."""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from ncm.domains import load_retention
from ncm.finance import mix
from ncm.kit import partitions
from ncm.kit.sql import fetch
from ncm.promotion.models import PromotionCursor
from ncm.stream.models import PlayEvent
from tests.cli.helpers import ncm_json

pytestmark = pytest.mark.postgres_only
ROOT = Path(__file__).resolve().parents[2]
load_retention()
PLAYS = partitions.TABLES["play_events"]


@pytest.fixture(autouse=True)
async def forget_old_partitions() -> AsyncIterator[None]:
    """Partitions a test made for long-gone days go with it (the tables stay partitioned)."""
    yield
    gone = datetime.now(UTC).date() - timedelta(days=40)
    for p in await partitions.partitions("play_events"):
        if p.end is not None and p.end < gone:
            await fetch(f"ALTER TABLE play_events DETACH PARTITION {p.name}")
            await fetch(f"DROP TABLE {p.name}")


async def play_on(day: date, n: int) -> PlayEvent:
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return await PlayEvent.create(
        play_id=f"old-play-{n:04d}",
        user_id=1,
        track_id=1,
        started_at=at,
        day=day,
        seconds_played=40,
        counted=True,
        aggregated=True,
    )


async def where(play: PlayEvent) -> str:
    rows = await fetch(
        "SELECT tableoid::regclass::text AS t FROM play_events WHERE id = $1", [play.id]
    )
    return str(rows[0]["t"])


async def test_the_event_tables_are_partitioned_with_days_ahead() -> None:
    today = datetime.now(UTC).date()
    for table in ("play_events", "promotion_viewers", "promotion_clicks"):
        assert await partitions.is_partitioned(table)
        names = {p.name for p in await partitions.partitions(table)}
        assert f"{table}_default" in names
        ahead = today + timedelta(days=3)
        assert f"{table}_p{today:%Y%m%d}" in names and f"{table}_p{ahead:%Y%m%d}" in names
    assert await partitions.ensure(PLAYS) == []  # nothing missing


async def test_a_day_without_partition_waits_in_the_default_then_moves() -> None:
    old = datetime.now(UTC).date() - timedelta(days=200)
    play = await play_on(old, 1)
    assert await where(play) == "play_events_default"
    made = await partitions.ensure(PLAYS, old)
    assert f"play_events_p{old:%Y%m%d}" in made
    assert await where(play) == f"play_events_p{old:%Y%m%d}"
    assert await PlayEvent.filter(play_id="old-play-0001").count() == 1


async def test_expired_partitions_go_only_once_every_rollup_covers_them() -> None:
    old = datetime.now(UTC).date() - timedelta(days=200)
    await partitions.ensure(PLAYS, old)
    play = await play_on(old, 2)
    name = f"play_events_p{old:%Y%m%d}"
    listed = ncm_json("db", "partitions", "--drop-expired", "--dry-run")
    mine = [row for row in listed if row["partition"] == name]
    assert mine and mine[0]["action"] == "kept"
    assert "finance listening rollup" in mine[0]["note"]
    assert "promotion conversions" in mine[0]["note"]
    assert "stream play counters" not in mine[0]["note"]  # aggregated, and long settled
    await mix.advance_watermark()  # finance's rollup holds the day for good
    await PromotionCursor.create(name="plays", last_id=play.id)  # conversions read it
    dry = await partitions.drop_expired(PLAYS, dry_run=True)
    # The watermark covers every expired day, so the empty partitions made with it go too.
    free = [e.partition.name for e in dry if not e.blocked_by and not e.dropped]
    assert name in free and all(e.partition.start < old + timedelta(days=120) for e in dry)
    assert await PlayEvent.filter(id=play.id).exists()
    done = await partitions.drop_expired(PLAYS)
    assert name in [e.partition.name for e in done if e.dropped]
    assert not await PlayEvent.filter(id=play.id).exists()
    assert name not in {p.name for p in await partitions.partitions("play_events")}


async def test_expired_rows_in_the_default_partition_are_deleted_when_covered() -> None:
    old = datetime.now(UTC).date() - timedelta(days=300)
    play = await play_on(old, 3)
    assert await where(play) == "play_events_default"
    kept = await partitions.drop_expired(PLAYS)
    assert [(e.partition.name, e.dropped) for e in kept] == [("play_events_default", False)]
    await mix.advance_watermark()
    await PromotionCursor.create(name="plays", last_id=play.id)
    done = await partitions.drop_expired(PLAYS)
    assert [(e.partition.start, e.dropped) for e in done] == [(old, True)]
    assert not await PlayEvent.filter(id=play.id).exists()


MIGRATE = """
import asyncio, sys
from tortoise import Tortoise
from tortoise.migrations.api import migrate
from ncm.kit.db import tortoise_config
from ncm.kit.migrate import upgrade
target = sys.argv[1]
async def main():
    if target == "all":
        await upgrade()
    else:
        await migrate(config=tortoise_config(), target="ncm." + target)
        await Tortoise.close_connections()
asyncio.run(main())
"""


async def test_the_migration_keeps_the_rows_of_a_populated_table() -> None:
    import asyncpg

    spec = importlib.import_module("migrations.0019_partitions")
    before = spec.Migration.dependencies[0][1]
    name = f"ncm_test_{os.getpid()}_partitions"
    admin = os.environ.get("NCM_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
    base = admin.rsplit("/", 1)[0]
    conn = await asyncpg.connect(admin)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    env = {**os.environ, "NCM_DATABASE_URL": f"{base}/{name}"}

    def run(target: str) -> None:
        done = subprocess.run(
            [sys.executable, "-c", MIGRATE, target], env=env, cwd=ROOT, capture_output=True
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]

    try:
        await asyncio.to_thread(run, before)
        db = await asyncpg.connect(f"{base}/{name}")
        try:
            await db.execute(
                "INSERT INTO play_events (play_id, user_id, track_id, started_at, day,"
                " seconds_played, counted, source, aggregated, created_at)"
                " SELECT 'p' || g, g % 7, g % 5, now() - g * interval '3 hours',"
                " ((now() - g * interval '3 hours') AT TIME ZONE 'UTC')::date, 40, TRUE, 'OTHER',"
                " g % 2 = 0, now() FROM generate_series(1, 500) g"
            )
            await db.execute(
                "INSERT INTO promotion_clicks (event_key, campaign_id, user_id, region, at)"
                " SELECT 'k' || g, 1, g, '', now() - g * interval '1 hour'"
                " FROM generate_series(1, 50) g"
            )
            await asyncio.to_thread(run, "all")
            assert await db.fetchval("SELECT count(*) FROM play_events") == 500
            assert await db.fetchval("SELECT count(*) FROM play_events_legacy") == 500
            assert await db.fetchval("SELECT count(*) FROM play_events WHERE NOT aggregated") == 250
            assert await db.fetchval("SELECT count(*) FROM promotion_clicks_legacy") == 50
            new_id = await db.fetchval(
                "INSERT INTO play_events (play_id, user_id, track_id, started_at, day,"
                " seconds_played, counted, source, aggregated, created_at) VALUES"
                " ('fresh', 1, 1, now() + interval '2 days', current_date + 2, 40, TRUE,"
                " 'OTHER', FALSE, now()) RETURNING id"
            )
            assert new_id == 501  # the sequence carried over
            place = await db.fetchval(
                "SELECT tableoid::regclass::text FROM play_events WHERE id = 501"
            )
            assert place.startswith("play_events_p")
            with pytest.raises(asyncpg.UniqueViolationError):
                await db.execute(
                    "INSERT INTO play_events (play_id, user_id, track_id, started_at, day,"
                    " seconds_played, counted, source, aggregated, created_at)"
                    " SELECT play_id, user_id, track_id, started_at, day, seconds_played,"
                    " counted, source, aggregated, created_at FROM play_events WHERE id = 7"
                )
        finally:
            await db.close()
    finally:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
