"""A real primary and streaming standby for the replica and pooling tests (bench/pgcluster.py),
with ncm's schema migrated on the primary, and the app opened on both."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from tortoise.context import TortoiseContext

from bench.pgcluster import Pair, create_pair
from ncm.config import reset_settings
from ncm.kit import replica
from ncm.kit.db import tortoise_config

DATABASE = "ncm_pair"


def make_pair() -> Pair:
    try:
        return create_pair()
    except (OSError, RuntimeError) as exc:  # no PostgreSQL binaries, no postgres user
        pytest.skip(f"cannot create a throwaway primary and standby: {exc}")


def migrate(pair: Pair) -> None:
    """ncm's schema on the pair's primary: a copy of the test run's migrated database
    (``pg_dump --schema-only``, a second or two; running the migrations again takes 30 s)."""
    from tests.conftest import PG_ADMIN_DSN, TEST_DB

    subprocess.run(
        ["psql", "-q", pair.primary.url(), "-c", f'CREATE DATABASE "{DATABASE}"'],
        check=True,
        capture_output=True,
    )
    source = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{TEST_DB}"
    dump = subprocess.run(
        ["pg_dump", "--schema-only", "--no-owner", "--no-privileges", source],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", pair.primary.url(DATABASE)],
        input=dump,
        check=True,
        capture_output=True,
    )
    asyncio.run(caught_up(pair))


async def caught_up(pair: Pair, seconds: float = 60) -> None:
    """Wait until the standby has replayed everything the primary wrote (up to the WAL
    insert position: with synchronous_commit off a commit may not be written out yet)."""
    primary = await asyncpg.connect(pair.primary.url(DATABASE))
    standby = await asyncpg.connect(pair.standby.url(DATABASE))
    try:
        target = await primary.fetchval("SELECT pg_current_wal_insert_lsn()")
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            done = await standby.fetchval(
                "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), $1::pg_lsn) >= 0", target
            )
            if done:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the standby did not catch up")
            await asyncio.sleep(0.02)
    finally:
        await primary.close()
        await standby.close()


async def standby_sql(pair: Pair, statement: str) -> Any:
    conn = await asyncpg.connect(pair.standby.url(DATABASE))
    try:
        return await conn.fetchval(statement)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def opened(
    pair: Pair,
    monkeypatch: pytest.MonkeyPatch,
    *,
    primary_url: str | None = None,
    with_replica: bool = True,
    **env: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the pair's primary (or ``primary_url``) and its standby as the replica
    (unless not ``with_replica``): an HTTP client to it, with Tortoise open for the block."""
    from ncm.app import create_app

    primary_url = primary_url or pair.primary.url(DATABASE, maxsize="4")
    replica_url = pair.standby.url(DATABASE, maxsize="4") if with_replica else None
    monkeypatch.setenv("NCM_DATABASE_URL", primary_url)
    if replica_url:
        monkeypatch.setenv("NCM_DATABASE_REPLICA_URL", replica_url)
    for name, value in env.items():
        monkeypatch.setenv(f"NCM_{name.upper()}", str(value))
    reset_settings()
    replica.reset()
    try:
        async with TortoiseContext() as ctx:
            await ctx.init(config=tortoise_config(primary_url))
            replica.open(replica_url)
            transport = httpx.ASGITransport(app=create_app(manage_db=False))
            try:
                async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                    yield c
            finally:
                await replica.close()
    finally:
        monkeypatch.undo()
        reset_settings()
        replica.reset()


async def gql(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None = None
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body["data"]
