"""``LeanPool`` gives connections back without asyncio.shield only when the release cannot
wait; everything else (a transaction left open, a cancelled query) takes asyncpg's path, and
every connection comes back either way."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from tortoise import connections

from ncm.kit.pgpool import LeanPool, lean

pytestmark = pytest.mark.postgres_only


def _pool() -> Any:
    return connections.get("default")._pool


def _shielded(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The releases that went through asyncpg's own (shielded) ``Pool.release``."""
    calls: list[Any] = []
    real = asyncpg.Pool.release

    async def spy(self: Any, connection: Any, **options: Any) -> None:
        calls.append(connection)
        await real(self, connection, **options)

    monkeypatch.setattr(asyncpg.Pool, "release", spy)
    return calls


async def test_the_default_pool_is_lean_and_plain_statements_skip_the_shield(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = connections.get("default")
    await client.execute_query("SELECT 1")
    assert type(_pool()) is LeanPool
    shielded = _shielded(monkeypatch)
    tasks_before = len(asyncio.all_tasks())
    rows = await asyncio.gather(
        *(client.execute_query_dict("SELECT $1::int AS n", [i]) for i in range(30))
    )
    assert [r[0]["n"] for r in rows] == list(range(30))
    assert shielded == [] and len(asyncio.all_tasks()) == tasks_before
    assert _pool().get_idle_size() == _pool().get_size()  # every connection came back


async def test_a_connection_left_in_a_transaction_is_rolled_back_by_asyncpg(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shielded = _shielded(monkeypatch)
    pool = _pool()
    conn = await pool.acquire()
    await conn.execute("BEGIN")
    await conn.execute("CREATE TEMP TABLE left_open (n int)")
    await pool.release(conn)
    assert shielded == [conn]
    async with pool.acquire() as again:
        assert not again.is_in_transaction()
        assert await again.fetchval("SELECT to_regclass('pg_temp.left_open')") is None


async def test_a_cancelled_query_gives_its_connection_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = connections.get("default")
    slow = asyncio.create_task(client.execute_query("SELECT pg_sleep(5)"))
    await asyncio.sleep(0.2)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    for _ in range(100):  # asyncpg cancels the statement on the server, then releases
        if _pool().get_idle_size() == _pool().get_size():
            break
        await asyncio.sleep(0.05)
    assert _pool().get_idle_size() == _pool().get_size()
    assert (await client.execute_query_dict("SELECT 2 AS n"))[0]["n"] == 2


async def test_the_switch_keeps_asyncpg_own_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    from ncm import config

    pool = object.__new__(asyncpg.Pool)
    monkeypatch.setenv("NCM_DB_LEAN_RELEASE", "0")
    config.get_settings.cache_clear()
    try:
        assert type(lean(pool)) is asyncpg.Pool
    finally:
        monkeypatch.delenv("NCM_DB_LEAN_RELEASE")
        config.get_settings.cache_clear()
    assert type(lean(pool)) is LeanPool
