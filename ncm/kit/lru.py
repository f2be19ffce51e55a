"""Small per-process caches: a bounded LRU map, and a stale-while-revalidate cache on it.

:class:`LRU` keeps the ``size`` most recently used entries (the GraphQL guard's prepared
documents, persisted query texts). :class:`FreshCache` serves a value for ``fresh`` seconds,
then keeps serving it while ONE background task loads it again (single flight), so no
caller waits on a reload except the first, cold one; an entry not refreshed within
``expire`` seconds of its load is dropped. The search's first pages use it
(``ncm.search.cache``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

log = logging.getLogger(__name__)


class LRU(Generic[K, V]):
    """A map of at most ``size`` entries; adding one more drops the least recently used."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("an LRU holds at least one entry")
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, default: Any = None) -> Any:
        """The value of ``key`` (now the most recently used), else ``default``."""
        try:
            value = self._items[key]
        except KeyError:
            return default
        self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self.size:
            self._items.popitem(last=False)

    def pop(self, key: K, default: Any = None) -> Any:
        return self._items.pop(key, default)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)


@dataclass
class _Entry(Generic[V]):
    value: V
    fresh_until: float
    expires_at: float
    refreshing: bool = False


class FreshCache(Generic[K, V]):
    """Values by key, loaded once and refreshed in the background (stale-while-revalidate).

    ``get(key, load, fresh=...)``:

    * a fresh entry is returned as it is (no await on anything);
    * a stale one (older than ``fresh``, younger than ``expire_factor * fresh``) is returned
      as it is, and one background task runs ``load()`` to replace it: concurrent callers
      never start a second one, and a failed refresh keeps the old value until it expires;
    * a missing or expired one is loaded, once for all concurrent callers of that key.

    The fresh period is jittered down by up to ``jitter`` of itself, so entries loaded
    together do not all refresh in the same instant. ``fresh <= 0`` bypasses the cache.
    """

    def __init__(self, size: int, *, expire_factor: float = 3.0, jitter: float = 0.2) -> None:
        self._entries: LRU[K, _Entry[V]] = LRU(size)
        self._loading: dict[K, asyncio.Future[V]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.expire_factor = expire_factor
        self.jitter = jitter
        self.clock: Callable[[], float] = time.monotonic
        self.loads = 0  # load() calls started (cold and refresh): for tests and metrics

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: K, load: Callable[[], Awaitable[V]], *, fresh: float) -> V:
        if fresh <= 0:
            return await load()
        now = self.clock()
        entry = self._entries.get(key)
        if entry is not None and now < entry.expires_at:
            if now >= entry.fresh_until and not entry.refreshing:
                entry.refreshing = True
                self._spawn(self._refresh(key, entry, load, fresh))
            return entry.value
        pending = self._loading.get(key)
        if pending is None:
            task = self._spawn(self._load(key, load, fresh))
            pending = self._loading[key] = task
        # shield: a caller that gives up (a closed connection) does not cancel the others' load
        return await asyncio.shield(pending)

    def clear(self) -> None:
        """Forget every entry (the test suite's reset); loads still running finish unstored."""
        self._entries.clear()
        self._loading.clear()

    async def drain(self) -> None:
        """Wait for the loads and refreshes running now (their failures are not raised)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _store(self, key: K, value: V, fresh: float, started: float) -> None:
        fresh_until = started + fresh * (1 - self.jitter * random.random())
        self._entries.put(key, _Entry(value, fresh_until, started + fresh * self.expire_factor))

    async def _load(self, key: K, load: Callable[[], Awaitable[V]], fresh: float) -> V:
        started = self.clock()
        self.loads += 1
        try:
            value = await load()
            if self._loading.get(key) is asyncio.current_task():
                self._store(key, value, fresh, started)
            return value
        finally:
            if self._loading.get(key) is asyncio.current_task():
                del self._loading[key]

    async def _refresh(
        self, key: K, entry: _Entry[V], load: Callable[[], Awaitable[V]], fresh: float
    ) -> None:
        started = self.clock()
        self.loads += 1
        try:
            value = await load()
        except Exception:
            log.warning("background refresh failed; the cached value stays", exc_info=True)
            entry.refreshing = False  # the next stale read tries again
            return
        if self._entries.get(key) is entry:  # not cleared or replaced meanwhile
            self._store(key, value, fresh, started)
