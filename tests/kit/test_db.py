"""The pool's connections: released without asyncpg's reset round trip, so session settings
must be restored by ``session_settings``."""

from __future__ import annotations

import pytest
from tortoise import connections

from ncm.kit.db import session_settings
from ncm.kit.pgpool import PooledConnection

pytestmark = pytest.mark.postgres_only


async def _setting(conn: object, name: str) -> str:
    return str(await conn.fetchval(f"SHOW {name}"))  # type: ignore[attr-defined]


async def test_pool_releases_without_reset_statement() -> None:
    client = connections.get("default")
    async with client.acquire_connection() as conn:
        assert isinstance(conn, PooledConnection)
        assert conn.get_reset_query() == ""


async def test_session_settings_are_restored_after_the_block() -> None:
    client = connections.get("default")
    async with client.acquire_connection() as conn:
        default = await _setting(conn, "work_mem")
        async with session_settings(conn, "SET work_mem = '77MB'"):
            assert await _setting(conn, "work_mem") == "77MB"
        assert await _setting(conn, "work_mem") == default


async def test_session_settings_restored_when_the_block_fails() -> None:
    client = connections.get("default")
    async with client.acquire_connection() as conn:
        default = await _setting(conn, "work_mem")
        with pytest.raises(RuntimeError):
            async with session_settings(conn, "SET work_mem = '77MB'"):
                raise RuntimeError("boom")
        assert await _setting(conn, "work_mem") == default
