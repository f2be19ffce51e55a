"""ncm.kit.ratelimit in memory (no Redis): counts per window, and forgets ended windows."""

from __future__ import annotations

from typing import Any

import pytest

from ncm.errors import RateLimited
from ncm.kit import ratelimit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    async def no_redis() -> Any:
        return None

    clock = Clock()
    monkeypatch.setattr(ratelimit, "get_redis", no_redis)
    monkeypatch.setattr(ratelimit, "_now", clock)
    monkeypatch.setattr(ratelimit, "_memory", {})
    monkeypatch.setattr(ratelimit, "_window_ends", [])
    return clock


async def test_counts_within_a_window_and_starts_again_after_it(clock: Clock) -> None:
    assert (await ratelimit.hit("login:a", 60)).count == 1
    clock.now += 30
    window = await ratelimit.hit("login:a", 60)
    assert (window.count, window.retry_after) == (2, 30)
    with pytest.raises(RateLimited) as raised:
        await ratelimit.enforce("login:a", 2, 60, "slow down")
    assert raised.value.retry_after == 30
    clock.now += 30
    assert (await ratelimit.hit("login:a", 60)).count == 1
    assert (await ratelimit.peek("login:a")).count == 1


async def test_ended_windows_are_evicted(clock: Clock) -> None:
    for n in range(1000):
        await ratelimit.hit(f"ip:{n}", 60)
    await ratelimit.hit("long", 600)
    assert len(ratelimit._memory) == 1001
    clock.now += 61
    await ratelimit.hit("another", 60)
    assert set(ratelimit._memory) == {"ncm:rl:long", "ncm:rl:another"}
    assert len(ratelimit._window_ends) == 2  # the heap is swept too: memory stays bounded
    assert (await ratelimit.peek("long")).count == 1  # a running window keeps its count


async def test_a_reset_or_restarted_key_is_not_evicted_by_its_old_window(clock: Clock) -> None:
    await ratelimit.hit("k", 60)
    await ratelimit.reset("k")
    clock.now += 30
    await ratelimit.hit("k", 60)  # a new window ending at +90
    clock.now += 40  # the first window's end (+60) passes
    await ratelimit.hit("other", 60)
    assert (await ratelimit.peek("k")).count == 1
    clock.now += 21
    await ratelimit.hit("other", 60)
    assert "ncm:rl:k" not in ratelimit._memory
