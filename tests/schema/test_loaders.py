"""The per-request batch loader: one call per batch, values remembered, errors and
cancellation confined to those they concern."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from ncm.schema.loaders import BatchLoader, Loaders


class Source:
    def __init__(self, fail: int = 0, delay: float = 0.0) -> None:
        self.calls: list[list[int]] = []
        self.fail = fail
        self.delay = delay

    async def __call__(self, keys: Sequence[int]) -> Mapping[int, str]:
        self.calls.append(list(keys))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            self.fail -= 1
            raise RuntimeError("database down")
        return {k: f"v{k}" for k in keys if k % 10 != 0}  # multiples of 10 do not exist


async def test_sibling_loads_share_one_call_and_values_are_remembered() -> None:
    source = Source()
    loader: BatchLoader[int, str | None] = BatchLoader(source, lambda: None)

    async def later(key: int) -> str | None:
        await asyncio.sleep(0)  # a resolver that starts a turn later still joins the batch
        return await loader.load(key)

    results = await asyncio.gather(
        loader.load(1), loader.load_many([2, 3, 1]), later(4), loader.load(10)
    )
    assert results == ["v1", ["v2", "v3", "v1"], "v4", None]
    assert [sorted(c) for c in source.calls] == [[1, 2, 3, 4, 10]]
    assert await loader.load_many([3, 10, 5]) == ["v3", None, "v5"]
    assert source.calls[1:] == [[5]]  # only the key not seen yet
    assert await loader.load_many([]) == []


async def test_a_key_in_flight_is_not_fetched_twice() -> None:
    source = Source(delay=0.01)
    loader: BatchLoader[int, str | None] = BatchLoader(source, lambda: None)
    first = asyncio.ensure_future(loader.load_many([1, 2]))
    await asyncio.sleep(0.002)  # the first batch is running
    assert await loader.load_many([2, 3]) == ["v2", "v3"]
    assert await first == ["v1", "v2"]
    assert source.calls == [[1, 2], [3]]


async def test_a_failed_batch_raises_in_every_caller_and_is_retried_later() -> None:
    source = Source(fail=1)
    loader: BatchLoader[int, str | None] = BatchLoader(source, lambda: None)
    results = await asyncio.gather(loader.load(1), loader.load(2), return_exceptions=True)
    assert [str(r) for r in results] == ["database down", "database down"]
    assert await loader.load(1) == "v1"
    assert source.calls == [[1, 2], [1]]


async def test_a_cancelled_caller_does_not_cancel_the_others() -> None:
    source = Source(delay=0.01)
    loader: BatchLoader[int, str | None] = BatchLoader(source, lambda: None)
    doomed = asyncio.ensure_future(loader.load(1))
    kept = asyncio.ensure_future(loader.load(1))
    await asyncio.sleep(0.002)
    doomed.cancel()
    assert await kept == "v1"
    with pytest.raises(asyncio.CancelledError):
        await doomed


async def test_loaders_give_one_loader_per_function_and_scope() -> None:
    seen: list[tuple[Any, list[int]]] = []

    async def liked(viewer: int, keys: Sequence[int]) -> Mapping[int, bool]:
        seen.append((viewer, list(keys)))
        return {k: True for k in keys if k == viewer}

    async def tags(keys: Sequence[int]) -> Mapping[int, list[str]]:
        return {1: ["a"]}

    loaders = Loaders()
    assert loaders.one(liked, 7) is loaders.one(liked, 7)
    assert loaders.one(liked, 7) is not loaders.one(liked, 8)
    assert await loaders.one(liked, 7).load_many([7, 8]) == [True, None]
    assert await loaders.one(liked, 8).load(8) is True
    assert seen == [(7, [7, 8]), (8, [8])]
    assert await loaders.many(tags).load_many([1, 2]) == [["a"], []]


async def test_a_later_batch_that_finishes_first_still_wakes_its_waiter() -> None:
    calls: list[list[int]] = []

    async def slow_first(keys: Sequence[int]) -> Mapping[int, str]:
        calls.append(list(keys))
        await asyncio.sleep(0.05 if 1 in keys else 0)  # the first batch is the slow one
        return {k: f"v{k}" for k in keys}

    loader: BatchLoader[int, str | None] = BatchLoader(slow_first, lambda: None)
    first = asyncio.ensure_future(loader.load_many([1, 2]))
    await asyncio.sleep(0.01)  # the first batch is running
    both = await asyncio.wait_for(loader.load_many([2, 3]), timeout=5)
    assert both == ["v2", "v3"] and await first == ["v1", "v2"]
    assert calls == [[1, 2], [3]]
