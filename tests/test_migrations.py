"""The models and the migrations agree, and the migrations apply to an empty database.

These run the ``ncm db`` commands in-process: the migration API opens and closes Tortoise
itself, in the command's own context, beside the test session's.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.cli.helpers import ncm
from tests.conftest import BACKEND, PG_ADMIN_DSN, TEST_DB

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.mark.skipif(
    BACKEND == "postgres",
    reason="on PostgreSQL, tests/kit/test_partitions.py applies the whole chain to an empty "
    "database (in two steps, with rows written between them)",
)
async def test_the_whole_chain_applies_to_an_empty_database(tmp_path: Path) -> None:
    """What a new deployment runs: every migration, in order, on an empty database (the test
    database itself is cloned from a template built the same way, tests/conftest.py)."""
    from ncm.kit.migrate import migration_status, upgrade

    if BACKEND == "postgres":
        name = f"{TEST_DB}_empty"
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await _admin(f'CREATE DATABASE "{name}"')
        url = f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    else:
        url = f"sqlite://{tmp_path / 'empty.sqlite3'}"

    async def apply() -> tuple[list[str], list[tuple[str, bool]]]:
        return await upgrade(url), await migration_status(url)

    try:
        # Its own event loop and Tortoise context, as `ncm db upgrade` has.
        with ThreadPoolExecutor(1) as pool:
            applied, status = pool.submit(asyncio.run, apply()).result()
    finally:
        if BACKEND == "postgres":
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    on_disk = sorted(f"ncm.{p.stem}" for p in MIGRATIONS.glob("0*.py"))
    assert applied == on_disk
    assert status == [(name, True) for name in on_disk]


def test_models_have_no_unmigrated_changes() -> None:
    result = ncm("db", "makemigrations", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no changes" in result.stdout


def test_every_migration_is_applied_to_the_fresh_test_database() -> None:
    # conftest created an empty database and ran `upgrade` on it before any test.
    result = ncm("db", "status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines and all(line.startswith("applied ") for line in lines), lines
    assert "applied ncm.0002_search_indexes" in lines


@pytest.mark.postgres_only
async def test_postgres_search_index_exists() -> None:
    from tortoise import connections

    assert BACKEND == "postgres"
    rows = await connections.get("default").execute_query_dict(
        "SELECT indexname FROM pg_indexes WHERE indexname = 'tracks_search_idx'"
    )
    assert rows == [{"indexname": "tracks_search_idx"}]


def test_upgrade_again_is_a_no_op() -> None:
    result = ncm("db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    listed = ncm("db", "status", "--json")
    assert '"applied": true' in listed.stdout
