"""Degraded mode: the database stops answering; recently seen tracks and viewers are decided
from the cache, the rest (and everything when the cache is gone too) is ServiceDegraded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from ncm.config import get_settings, reset_settings
from ncm.stream import cache, facts
from tests.conftest import login_token, make_user
from tests.stream.helpers import PLAYBACKS, gid, track_with

pytestmark = pytest.mark.asyncio


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("NCM_PLAYBACK_DB_TIMEOUT_MS", "300")
    reset_settings()
    yield
    monkeypatch.delenv("NCM_PLAYBACK_DB_TIMEOUT_MS")
    reset_settings()


async def _ask(gql: Any, token: str, ids: list[int]) -> list[dict[str, Any]]:
    body = await gql(PLAYBACKS, {"ids": [gid(i) for i in ids]}, token=token)
    result: list[dict[str, Any]] = body["data"]["playbacks"]
    return result


async def _check_degraded(gql: Any, monkeypatch: pytest.MonkeyPatch, stop: Any) -> None:
    user = await make_user("ann")
    token = await login_token(user)
    seen, unseen = await track_with(), await track_with()
    assert (await _ask(gql, token, [seen.id]))[0]["__typename"] == "Playable"  # now cached
    async with stop():
        played, missing = await _ask(gql, token, [seen.id, unseen.id])
        assert played["__typename"] == "Playable" and played["url"]
        assert missing["__typename"] == "ServiceDegraded"
        assert missing["retryAfterSeconds"] > 0 and missing["message"]

        async def no_redis() -> None:
            raise ConnectionError("redis is down too")

        monkeypatch.setattr(cache, "get_redis", no_redis)
        both = await _ask(gql, token, [seen.id, unseen.id])
        assert [r["__typename"] for r in both] == ["ServiceDegraded", "ServiceDegraded"]


@pytest.mark.postgres_only
async def test_database_locked_then_cache_then_nothing(gql: Any, monkeypatch: Any) -> None:
    """A real stall: another session holds an exclusive lock on the tables decisions read."""
    import asyncpg

    dsn = get_settings().database_url.split("?")[0]

    def stop() -> Any:
        class Locked:
            async def __aenter__(self) -> None:
                self.conn = await asyncpg.connect(dsn)
                await self.conn.execute("BEGIN")
                await self.conn.execute("LOCK TABLE tracks, users IN ACCESS EXCLUSIVE MODE")

            async def __aexit__(self, *exc: object) -> None:
                await self.conn.execute("ROLLBACK")
                await self.conn.close()

        return Locked()

    await _check_degraded(gql, monkeypatch, stop)


async def test_database_that_never_answers(gql: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both backends: the facts query hangs (as on a dead connection) until the timeout."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def stop() -> AsyncIterator[None]:
        async def hang(*args: object) -> None:
            await asyncio.sleep(3600)

        with monkeypatch.context() as patch:
            patch.setattr(facts, "load_tracks", hang)
            yield

    await _check_degraded(gql, monkeypatch, stop)
