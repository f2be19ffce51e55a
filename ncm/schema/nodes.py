"""``node(id)``: each domain registers how to load its types by primary key, and how to
view one of its models (``view_of``), so a type may return another domain's views without
importing that domain's types (``User.playlists``: accounts' types never import playlists')."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ncm.schema.base import from_global_id
from ncm.schema.context import Info
from ncm.schema.loaders import BatchFn

Resolver = Callable[[Info, int], Awaitable[Any]]
_REGISTRY: dict[str, Resolver] = {}
_VIEWS: dict[str, Callable[[Any], Any]] = {}


def register_view(type_name: str, convert: Callable[[Any], Any]) -> None:
    _VIEWS[type_name] = convert


def view_of(type_name: str) -> Callable[[Any], Any]:
    """The function that builds the GraphQL type ``type_name`` from its model."""
    return _VIEWS[type_name]


def register_node(type_name: str, batch: BatchFn, convert: Callable[[Any], Any]) -> None:
    """A public type: any viewer may load it by id through the request's DataLoader."""
    register_view(type_name, convert)

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
