"""Per-request DataLoaders built from the domains' batch functions.

A batch function takes a list of keys and returns ``{key: value}``. ``Loaders.one(fn)``
and ``Loaders.many(fn)`` give the request's DataLoader for it (created on first use), so a
field crossing a relation costs one query per request, whatever the page size.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Any

from strawberry.dataloader import DataLoader

BatchFn = Callable[..., Awaitable[Mapping[Any, Any]]]


class Loaders:
    def __init__(self) -> None:
        self._loaders: dict[tuple[BatchFn, bool, Hashable], DataLoader[Any, Any]] = {}

    def one(self, fn: BatchFn, scope: Hashable = None) -> DataLoader[Any, Any]:
        """``load(key)`` gives the value for the key, or ``None``.

        With a ``scope`` (such as the viewer's id) the batch function is called as
        ``fn(scope, keys)``: for per-viewer facts like "liked by me".
        """
        return self._get(fn, many=False, scope=scope)

    def many(self, fn: BatchFn, scope: Hashable = None) -> DataLoader[Any, Any]:
        """``load(key)`` gives the list for the key, or ``[]``."""
        return self._get(fn, many=True, scope=scope)

    def _get(self, fn: BatchFn, *, many: bool, scope: Hashable) -> DataLoader[Any, Any]:
        key = (fn, many, scope)
        loader = self._loaders.get(key)
        if loader is None:

            async def load(keys: list[Any]) -> list[Any]:
                found = await (fn(keys) if scope is None else fn(scope, keys))
                return [found.get(k, [] if many else None) for k in keys]

            loader = DataLoader(load_fn=load)
            self._loaders[key] = loader
        return loader
