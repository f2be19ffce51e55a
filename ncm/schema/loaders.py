"""Per-request batch loaders built from the domains' batch functions.

A batch function takes a list of keys and returns ``{key: value}``. ``Loaders.one(fn)``
and ``Loaders.many(fn)`` give the request's loader for it (created on first use), so a
field crossing a relation costs one query per request, whatever the page size.

:class:`BatchLoader` replaces Strawberry's ``DataLoader`` on this hot path: that one makes a
future per key tied to its batch in a reference cycle, so every key of every request became
garbage only the cyclic collector could free -- collections that paused the server for
tens of milliseconds under load. Here ``load_many`` costs one future per call, whatever the
number of keys, and nothing is left in a cycle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
BatchFn = Callable[..., Awaitable[Mapping[Any, Any]]]


class _Batch:
    __slots__ = ("keys", "waiters")

    def __init__(self) -> None:
        self.keys: list[Any] = []
        self.waiters: list[asyncio.Future[None]] = []


class BatchLoader(Generic[K, V]):
    """Collects the keys asked for while the event loop runs the current resolvers, fetches
    them with one call, and remembers the values for the rest of the request.

    A key the batch function does not return loads as ``missing()``. A failed fetch raises in
    every caller waiting for it and is not remembered (a later load tries again). A cancelled
    caller cancels only its own wait.
    """

    __slots__ = ("_fetch", "_in_flight", "_missing", "_open", "_running", "_values")

    def __init__(
        self, fetch: Callable[[list[K]], Awaitable[Mapping[K, V]]], missing: Callable[[], V]
    ) -> None:
        self._fetch = fetch
        self._missing = missing
        self._values: dict[K, V] = {}
        self._in_flight: dict[K, _Batch] = {}
        self._open: _Batch | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def load(self, key: K) -> V:
        if key not in self._values:
            await self._wait([key])
        return self._value(key)

    async def load_many(self, keys: Iterable[K]) -> list[V]:
        keys = list(keys)
        if any(k not in self._values for k in keys):
            await self._wait(keys)
        return [self._value(k) for k in keys]

    def peek(self, key: K, default: Any = None) -> Any:
        """The value already known for ``key`` (primed or loaded), else ``default``: a
        resolver that finds it answers synchronously, without a coroutine."""
        return self._values.get(key, default)

    def prime(self, key: K, value: V) -> None:
        """Remember ``value`` for ``key`` (fetched along with something else), unless a value
        is already known or on its way."""
        if key not in self._values and key not in self._in_flight:
            self._values[key] = value

    def _value(self, key: K) -> V:
        values = self._values
        return values[key] if key in values else self._missing()

    async def _wait(self, keys: list[K]) -> None:
        batches: list[_Batch] = []
        for key in keys:
            if key in self._values:
                continue
            batch = self._in_flight.get(key)
            if batch is None:
                batch = self._open
                if batch is None:
                    batch = self._open = _Batch()
                    # Two loop turns, as Strawberry's DataLoader: sibling resolvers that are
                    # still starting join this batch.
                    asyncio.get_running_loop().call_soon(self._schedule, batch)
                batch.keys.append(key)
                self._in_flight[key] = batch
            if batch not in batches:
                batches.append(batch)
        # Every waiter joins its batch before the first await: a later batch may finish while
        # an earlier one is awaited, and a waiter added after that would wait forever.
        loop = asyncio.get_running_loop()
        waiters: list[asyncio.Future[None]] = []
        for batch in batches:
            waiter: asyncio.Future[None] = loop.create_future()
            batch.waiters.append(waiter)
            waiters.append(waiter)
        try:
            for waiter in waiters:
                await waiter
        finally:
            for waiter in waiters:
                if not waiter.done():
                    waiter.cancel()
                elif not waiter.cancelled():
                    waiter.exception()  # retrieved: one failure is raised once

    def _schedule(self, batch: _Batch) -> None:
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, batch: _Batch) -> None:
        if self._open is batch:  # keys asked for from now on go to the next batch
            self._open = None
        try:
            found = await self._fetch(batch.keys)
        except asyncio.CancelledError:
            self._settle(batch)
            for waiter in batch.waiters:
                waiter.cancel()
            raise
        except Exception as exc:  # every waiter raises it
            self._settle(batch)
            for waiter in batch.waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        values, missing = self._values, self._missing
        for key in batch.keys:
            values[key] = found[key] if key in found else missing()
        self._settle(batch)
        for waiter in batch.waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _settle(self, batch: _Batch) -> None:
        in_flight = self._in_flight
        for key in batch.keys:
            if in_flight.get(key) is batch:
                del in_flight[key]


class Loaders:
    def __init__(self) -> None:
        self._loaders: dict[tuple[BatchFn, bool, Hashable], BatchLoader[Any, Any]] = {}

    def one(self, fn: BatchFn, scope: Hashable = None) -> BatchLoader[Any, Any]:
        """``load(key)`` gives the value for the key, or ``None``.

        With a ``scope`` (such as the viewer's id) the batch function is called as
        ``fn(scope, keys)``: for per-viewer facts like "liked by me".
        """
        return self._get(fn, many=False, scope=scope)

    def many(self, fn: BatchFn, scope: Hashable = None) -> BatchLoader[Any, Any]:
        """``load(key)`` gives the list for the key, or ``[]``."""
        return self._get(fn, many=True, scope=scope)

    def _get(self, fn: BatchFn, *, many: bool, scope: Hashable) -> BatchLoader[Any, Any]:
        key = (fn, many, scope)
        loader = self._loaders.get(key)
        if loader is None:
            fetch = fn if scope is None else _scoped(fn, scope)
            loader = BatchLoader(fetch, list if many else _none)
            self._loaders[key] = loader
        return loader


def _none() -> None:
    return None


def _scoped(fn: BatchFn, scope: Hashable) -> Callable[[list[Any]], Awaitable[Mapping[Any, Any]]]:
    def fetch(keys: list[Any]) -> Awaitable[Mapping[Any, Any]]:
        return fn(scope, keys)

    return fetch
