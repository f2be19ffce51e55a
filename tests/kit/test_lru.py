"""ncm.kit.lru: the bounded LRU map and the stale-while-revalidate cache on it (a fake clock,
no database)."""

from __future__ import annotations

import asyncio

import pytest

from ncm.kit.lru import LRU, FreshCache

pytestmark = pytest.mark.backend_independent


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Source:
    """A load that counts its calls and can be held open until released."""

    def __init__(self) -> None:
        self.version = 0
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.fail = False

    async def __call__(self) -> int:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RuntimeError("the database is gone")
        return self.version


def fresh_cache(size: int = 8) -> tuple[FreshCache[str, int], Clock]:
    cache: FreshCache[str, int] = FreshCache(size, expire_factor=3.0, jitter=0.0)
    clock = Clock()
    cache.clock = clock
    return cache, clock


async def stale_entry() -> tuple[FreshCache[str, int], Source]:
    """A cache holding version 0 of "k", now stale; the next load is held until released."""
    cache, clock = fresh_cache()
    source = Source()
    await cache.get("k", source, fresh=5)
    source.version, source.gate = 1, asyncio.Event()
    clock.now += 6  # stale, not expired
    return cache, source


def test_lru_keeps_the_most_recently_used() -> None:
    lru: LRU[str, int] = LRU(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # a is now the most recent: b goes first
    lru.put("c", 3)
    assert ("a" in lru, "b" in lru, "c" in lru) == (True, False, True)
    assert len(lru) == 2
    assert lru.get("b", "none") == "none"
    assert lru.pop("a") == 1 and list(lru) == ["c"]
    lru.clear()
    assert len(lru) == 0


async def test_a_fresh_entry_is_served_without_loading() -> None:
    cache, clock = fresh_cache()
    source = Source()
    assert await cache.get("k", source, fresh=5) == 0
    source.version = 1
    clock.now += 4.9
    assert await cache.get("k", source, fresh=5) == 0
    assert source.calls == 1


async def test_a_cold_key_is_loaded_once_for_concurrent_callers() -> None:
    cache, _ = fresh_cache()
    source = Source()
    source.gate = asyncio.Event()
    waiting = [asyncio.ensure_future(cache.get("k", source, fresh=5)) for _ in range(50)]
    await asyncio.sleep(0)
    source.gate.set()
    assert await asyncio.gather(*waiting) == [0] * 50
    assert source.calls == 1


async def test_a_stale_entry_is_served_while_one_refresh_runs() -> None:
    cache, source = await stale_entry()
    # Many callers during the refresh: each gets the old value at once, one refresh runs.
    answers = [await cache.get("k", source, fresh=5) for _ in range(100)]
    assert answers == [0] * 100
    await asyncio.sleep(0)
    assert source.calls == 2
    assert source.gate is not None
    source.gate.set()
    await cache.drain()
    assert await cache.get("k", source, fresh=5) == 1  # the refreshed value, fresh again
    assert source.calls == 2


async def test_a_failed_refresh_keeps_the_value_and_tries_again() -> None:
    cache, clock = fresh_cache()
    source = Source()
    await cache.get("k", source, fresh=5)
    source.fail = True
    clock.now += 6
    assert await cache.get("k", source, fresh=5) == 0
    await cache.drain()
    assert await cache.get("k", source, fresh=5) == 0  # still stale: a second refresh
    await cache.drain()
    assert source.calls == 3
    source.fail, source.version = False, 2
    assert await cache.get("k", source, fresh=5) == 0
    await cache.drain()
    assert await cache.get("k", source, fresh=5) == 2


async def test_an_entry_expires_hard_and_the_caller_waits_for_the_load() -> None:
    cache, clock = fresh_cache()
    source = Source()
    await cache.get("k", source, fresh=5)
    source.version = 1
    clock.now += 15  # expire_factor 3 x 5 s: too old to serve
    assert await cache.get("k", source, fresh=5) == 1


async def test_failures_are_not_cached() -> None:
    cache, _ = fresh_cache()
    source = Source()
    source.fail = True
    with pytest.raises(RuntimeError):
        await cache.get("k", source, fresh=5)
    source.fail = False
    assert await cache.get("k", source, fresh=5) == 0
    assert source.calls == 2


async def test_the_cache_stays_bounded() -> None:
    cache, _ = fresh_cache(size=3)
    source = Source()
    for i in range(10):
        await cache.get(f"k{i}", source, fresh=5)
    assert len(cache) == 3
    await cache.get("k0", source, fresh=5)  # evicted: loaded again
    assert source.calls == 11


async def test_off_loads_every_time_and_clear_forgets() -> None:
    cache, _ = fresh_cache()
    source = Source()
    await cache.get("k", source, fresh=0)
    await cache.get("k", source, fresh=0)
    assert (source.calls, len(cache)) == (2, 0)
    await cache.get("k", source, fresh=5)
    cache.clear()
    await cache.get("k", source, fresh=5)
    assert source.calls == 4


async def test_a_refresh_after_clear_is_not_stored() -> None:
    cache, source = await stale_entry()
    await cache.get("k", source, fresh=5)
    await asyncio.sleep(0)
    cache.clear()
    assert source.gate is not None
    source.gate.set()
    await cache.drain()
    assert len(cache) == 0
