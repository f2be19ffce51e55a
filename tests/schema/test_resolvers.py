"""Lean resolvers (``ncm.schema.resolvers``) answer what Strawberry's own wrapper answers, and
only fields whose arguments Strawberry hands over unchanged get one."""

from __future__ import annotations

import enum
from typing import Any

import pytest
import strawberry
from strawberry.permission import BasePermission
from strawberry.relay import GlobalID

from ncm.schema import resolvers
from ncm.schema.schema import build_schema

CALLS: list[tuple[str, Any]] = []


@strawberry.enum
class Order(enum.Enum):
    NEWEST = "newest"
    OLDEST = "oldest"


@strawberry.input
class Filter:
    word: str


class Never(BasePermission):
    message = "not for you"

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return False


@strawberry.type
class Shelf:
    name: str

    @strawberry.field
    def label(
        self, info: strawberry.Info, order: Order = Order.NEWEST, first: int | None = None
    ) -> str:
        CALLS.append(("label", (order, first, info.path.key)))
        return f"{self.name}:{order.name}:{first}"

    @strawberry.field
    async def later(self, upper: bool, root: strawberry.Parent[Any]) -> str:
        CALLS.append(("later", root is self))
        return self.name.upper() if upper else self.name

    @strawberry.field
    def broken(self, why: str) -> str | None:
        raise ValueError(why)

    @strawberry.field
    def matching(self, where: Filter) -> str:  # an input type: Strawberry builds it
        return where.word

    @strawberry.field
    def picked(self, ids: list[int]) -> int:  # a list: Strawberry copies it
        return sum(ids)

    @strawberry.field
    def node_name(self, id: GlobalID) -> str:  # a GlobalID: Strawberry decodes it
        return id.type_name

    @strawberry.field(permission_classes=[Never])
    def secret(self) -> str:
        return "s"


@strawberry.type
class Query:
    @strawberry.field
    def shelf(self, name: strawberry.ID) -> Shelf:
        return Shelf(name=str(name))

    @strawberry.field
    @staticmethod
    async def count(n: int = 3) -> int:
        return n


QUERY = """query($n: String!, $o: Order) { shelf(name: "a") { label(order: $o, first: 2)
  other: label later(upper: true) broken(why: $n) matching(where: {word: "w"})
  picked(ids: [1, 2]) nodeName(id: "VXNlcjox") } count }"""


def test_only_fields_with_leaf_arguments_and_no_extension_get_one() -> None:
    schema = strawberry.Schema(Query)
    resolvers.install(schema)
    lean = {
        f"{t.name}.{n}"
        for t in (schema._schema.get_type("Shelf"), schema._schema.query_type)
        for n, f in t.fields.items()  # type: ignore[union-attr]
        if f.resolve is not None and f.resolve.__qualname__.startswith("lean_resolver")
    }
    assert lean == {"Shelf.label", "Shelf.later", "Shelf.broken", "Query.shelf", "Query.count"}


@pytest.mark.parametrize("variables", [{"n": "why not", "o": "OLDEST"}, {"n": "x", "o": None}])
async def test_answers_and_errors_are_strawberrys(variables: dict[str, Any]) -> None:
    plain = strawberry.Schema(Query)
    lean = strawberry.Schema(Query)
    resolvers.install(lean)
    CALLS.clear()
    expected = await plain.execute(QUERY, variable_values=variables)
    expected_calls = list(CALLS)
    CALLS.clear()
    got = await lean.execute(QUERY, variable_values=variables)
    assert got.data == expected.data
    assert [(e.message, e.path) for e in got.errors or []] == [
        (e.message, e.path) for e in expected.errors or []
    ]
    assert expected_calls == CALLS  # the same arguments, info and parent reach the resolvers
    secret = await lean.execute('{ shelf(name: "a") { secret } }')
    assert secret.errors and secret.errors[0].message == "not for you"


def test_the_schema_with_the_fast_executor_has_them_and_without_it_not() -> None:
    def leaned(schema: strawberry.Schema) -> bool:
        field = schema._schema.query_type.fields["comments"]  # type: ignore[union-attr]
        return field.resolve.__qualname__.startswith("lean_resolver")  # type: ignore[union-attr]

    assert leaned(build_schema(fast_executor=True))
    assert not leaned(build_schema(fast_executor=False))  # NCM_FAST_EXECUTOR=0
