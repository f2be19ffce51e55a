"""Fixed-window counters for abuse limits, in Redis across processes or in memory.

``hit(key, window)`` counts one event and says how many there were in the window and how
long it has left; ``enforce`` counts one and raises ``RateLimited`` over a limit; ``peek``
reads without counting; ``reset`` forgets a key. In memory, a key whose window has ended is
evicted (a heap of window ends, swept on every hit), so memory holds only the keys whose
window is still running.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass

from ncm.errors import RateLimited
from ncm.kit.redis import get_redis


@dataclass(frozen=True)
class Window:
    count: int
    retry_after: int

    def exceeded(self, limit: int) -> bool:
        return self.count > limit


_memory: dict[str, tuple[int, float]] = {}  # key: (count, when its window ends)
_window_ends: list[tuple[float, str]] = []  # a heap: one entry per window started
_now = time.monotonic


def _memory_get(key: str) -> tuple[int, float]:
    count, expires = _memory.get(key, (0, 0.0))
    if expires <= _now():
        return 0, 0.0
    return count, expires


def _evict(now: float) -> None:
    """Forget the keys whose window has ended (each window is swept once: O(log n) a hit)."""
    while _window_ends and _window_ends[0][0] <= now:
        _, key = heapq.heappop(_window_ends)
        held = _memory.get(key)
        if held is not None and held[1] <= now:  # not restarted or reset since
            del _memory[key]


def _memory_hit(key: str, window_seconds: int) -> Window:
    now = _now()
    _evict(now)
    count, expires = _memory_get(key)
    if count == 0:
        expires = now + window_seconds
        heapq.heappush(_window_ends, (expires, key))
    _memory[key] = (count + 1, expires)
    return Window(count + 1, max(1, int(expires - now + 0.999)))


async def hit(key: str, window_seconds: int) -> Window:
    redis = await get_redis()
    full = f"ncm:rl:{key}"
    if redis is None:
        return _memory_hit(full, window_seconds)
    pipe = redis.pipeline(transaction=True)
    pipe.incr(full)
    pipe.expire(full, window_seconds, nx=True)
    pipe.ttl(full)
    count, _, ttl = await pipe.execute()
    return Window(int(count), max(1, int(ttl)))


async def enforce(key: str, limit: int, window_seconds: int, message: str) -> None:
    """Count one event; over ``limit`` in the window, raise ``RateLimited`` with its
    retry-after (the event is counted either way, so hammering does not shorten the wait)."""
    window = await hit(key, window_seconds)
    if window.exceeded(limit):
        raise RateLimited(message, retry_after=window.retry_after)


async def peek(key: str) -> Window:
    redis = await get_redis()
    full = f"ncm:rl:{key}"
    if redis is None:
        count, expires = _memory_get(full)
        return Window(count, max(0, int(expires - _now() + 0.999)) if count else 0)
    pipe = redis.pipeline(transaction=False)
    pipe.get(full)
    pipe.ttl(full)
    raw, ttl = await pipe.execute()
    return Window(int(raw or 0), max(0, int(ttl)))


async def reset(key: str) -> None:
    redis = await get_redis()
    full = f"ncm:rl:{key}"
    if redis is None:
        _memory.pop(full, None)
    else:
        await redis.delete(full)
