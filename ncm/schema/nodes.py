"""``node(id)``: each domain registers how to load its types by primary key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ncm.schema.base import from_global_id
from ncm.schema.context import Info
from ncm.schema.loaders import BatchFn

_REGISTRY: dict[str, tuple[BatchFn, Callable[[Any], Any]]] = {}


def register_node(type_name: str, batch: BatchFn, convert: Callable[[Any], Any]) -> None:
    _REGISTRY[type_name] = (batch, convert)


async def resolve_node(info: Info, global_id: str) -> Any:
    type_name, pk = from_global_id(global_id)
    entry = _REGISTRY.get(type_name)
    if entry is None:
        return None
    batch, convert = entry
    model = await info.context.loaders.one(batch).load(pk)
    return convert(model) if model is not None else None
