"""The plain-field fast path answers exactly what graphql-core's own execution answers."""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension

from ncm.schema.executor import PlainFieldExecutor, plain_fields


@strawberry.enum
class Mood(enum.Enum):
    CALM = "calm"
    LOUD = "loud"


@strawberry.type
class Item:
    id: strawberry.ID
    title: str
    note: str | None
    plays: int
    mood: Mood
    at: datetime
    secret: strawberry.Private[str]

    @strawberry.field
    def shout(self) -> str:
        return self.title.upper()

    @strawberry.field
    def echo(self, text: str) -> str:
        return text


@strawberry.type
class Box:
    item: Item | None
    items: list[Item]


def _item(**changes: Any) -> Item:
    values: dict[str, Any] = {
        "id": strawberry.ID("i1"),
        "title": "Song",
        "note": None,
        "plays": 7,
        "mood": Mood.LOUD,
        "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "secret": "x",
    }
    values.update(changes)
    return Item(**values)


def _schemas(box: Callable[[], Box], *extensions: Any) -> tuple[strawberry.Schema, ...]:
    @strawberry.type
    class Query:
        @strawberry.field
        def box(self) -> Box:
            return box()

    plain = strawberry.Schema(Query, extensions=list(extensions))
    fast = strawberry.Schema(
        Query, extensions=list(extensions), execution_context_class=PlainFieldExecutor
    )
    return plain, fast


async def _both(box: Callable[[], Box], query: str, *extensions: Any) -> tuple[Any, Any]:
    plain, fast = _schemas(box, *extensions)
    a, b = await plain.execute(query), await fast.execute(query)
    return a, b


def _errors(result: Any) -> list[tuple[str, list[Any] | None]]:
    return [(e.message, e.path) for e in result.errors or []]


QUERY = """{ box { items { at mood b: plays shout id note title echo(text: "hi") plays }
  item { title } } }"""


async def test_same_data_and_field_order() -> None:
    plain, fast = await _both(lambda: Box(item=_item(), items=[_item(), _item(note="n")]), QUERY)
    assert fast.errors is None
    assert fast.data == plain.data
    first = fast.data["box"]["items"][0]
    assert list(first) == ["at", "mood", "b", "shout", "id", "note", "title", "echo", "plays"]
    assert first["mood"] == "LOUD" and first["at"] == "2026-01-02T03:04:05+00:00"
    assert first["echo"] == "hi" and first["shout"] == "SONG"


async def test_null_on_a_non_null_field_is_the_same_error() -> None:
    plain, fast = await _both(lambda: Box(item=_item(title=None), items=[]), QUERY)
    assert fast.data == plain.data == {"box": {"items": [], "item": None}}
    assert _errors(fast) == _errors(plain)
    assert _errors(fast)[0][1] == ["box", "item", "title"]


async def test_a_value_that_does_not_coerce_is_the_same_error() -> None:
    plain, fast = await _both(lambda: Box(item=None, items=[_item(plays="many")]), QUERY)
    assert fast.data is None and plain.data is None
    assert _errors(fast) == _errors(plain)
    assert "Int cannot represent" in _errors(fast)[0][0]


def test_only_resolver_free_leaf_fields_take_the_fast_path() -> None:
    _, fast = _schemas(lambda: Box(item=None, items=[]))
    plans = plain_fields(fast._schema.get_type("Item"))  # type: ignore[arg-type]
    assert set(plans) == {"id", "title", "note", "plays", "mood", "at"}
    assert plain_fields(fast._schema.get_type("Box")) == {}  # type: ignore[arg-type]


async def test_an_extension_that_hooks_resolve_still_sees_every_field() -> None:
    seen: list[str] = []

    class Spy(SchemaExtension):
        def resolve(
            self, _next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any
        ) -> Any:
            seen.append(info.field_name)
            return _next(root, info, *args, **kwargs)

    _, fast = _schemas(lambda: Box(item=_item(), items=[]), Spy)
    result = await fast.execute("{ box { item { title plays } } }")
    assert result.errors is None
    assert seen == ["box", "item", "title", "plays"]
