"""``node(id)``: each domain registers how to load its types by primary key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ncm.schema.base import from_global_id
from ncm.schema.context import Info
from ncm.schema.loaders import BatchFn

Resolver = Callable[[Info, int], Awaitable[Any]]
_REGISTRY: dict[str, Resolver] = {}


def register_node(type_name: str, batch: BatchFn, convert: Callable[[Any], Any]) -> None:
    """A public type: any viewer may load it by id through the request's DataLoader."""

    async def resolve(info: Info, pk: int) -> Any:
        model = await info.context.loaders.one(batch).load(pk)
        return convert(model) if model is not None else None

    _REGISTRY[type_name] = resolve


def register_node_resolver(type_name: str, resolve: Resolver) -> None:
    """A type with its own visibility rules (it returns ``None`` for what the viewer may
    not see)."""
    _REGISTRY[type_name] = resolve


async def resolve_node(info: Info, global_id: str) -> Any:
    type_name, pk = from_global_id(global_id)
    resolve = _REGISTRY.get(type_name)
    return await resolve(info, pk) if resolve is not None else None
