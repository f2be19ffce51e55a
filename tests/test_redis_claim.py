"""The suite's Redis database: claimed only when proven empty, flushed only while still ours."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import _CLAIM_IF_EMPTY, CLAIM_TOKEN, REDIS_CLAIM, empty_redis

pytestmark = pytest.mark.postgres_only  # Redis is configured on the PostgreSQL pass


async def _redis() -> Any:
    from ncm.kit.redis import get_redis

    redis = await get_redis()
    assert redis is not None
    return redis


async def test_a_database_with_any_key_is_not_claimed() -> None:
    redis = await _redis()
    # The run's own database holds the claim, so another run cannot take it.
    assert await redis.eval(_CLAIM_IF_EMPTY, 1, REDIS_CLAIM, "other-run", 60) == 0
    assert (await redis.get(REDIS_CLAIM)).decode() == CLAIM_TOKEN


async def test_emptying_keeps_the_claim() -> None:
    redis = await _redis()
    await redis.set("ncm:test:leftover", "1")
    await empty_redis(redis)
    assert await redis.exists("ncm:test:leftover") == 0
    assert (await redis.get(REDIS_CLAIM)).decode() == CLAIM_TOKEN


async def test_a_database_that_is_no_longer_ours_is_never_flushed() -> None:
    redis = await _redis()
    await redis.set(REDIS_CLAIM, "someone-else")
    await redis.set("their:data", "precious")
    try:
        with pytest.raises(RuntimeError, match="lost its claim"):
            await empty_redis(redis)
        assert await redis.get("their:data") == b"precious"
    finally:
        await redis.set(REDIS_CLAIM, CLAIM_TOKEN)


def test_only_the_claim_of_a_run_that_has_ended_is_abandoned() -> None:
    import os
    import subprocess
    import sys

    from tests.conftest import _abandoned

    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    assert _abandoned(f"{ended.stdout.strip()}:x".encode())
    assert not _abandoned(CLAIM_TOKEN.encode())
    assert not _abandoned(str(os.getpid()).encode())
    assert not _abandoned(b"bench:123") and not _abandoned(None)
