"""A graphql-core executor with a fast path for plain scalar fields.

Most fields of a response are plain attributes of an already built view (a comment's
``body``, an author's ``handle``): no resolver, no arguments, a scalar or enum type.
graphql-core still resolves each one like any other field -- a ``Path``, a resolve info, the
resolver indirection, awaitable checks and the generic completion -- which is most of the
Python time of a list page (~265 fields for 20 comments). Here such a field is read and
coerced directly; anything else (a resolver, arguments, an object or list type, a null on a
non-null field, a value that does not coerce) takes graphql-core's own path, which also
produces its exact errors. The fast path is off when a schema extension hooks every resolve.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfoHelpers,
    GraphQLScalarType,
    Undefined,
)
from graphql.execution.collect_fields import GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.field import StrawberryField

DEFINITION = "strawberry-definition"


class PlainField(NamedTuple):
    read: Callable[[Any, str], Any]
    attribute: str
    coerce: Callable[[Any], Any]
    non_null: bool


_PLANS: WeakKeyDictionary[GraphQLObjectType, dict[str, PlainField]] = WeakKeyDictionary()


def plain_field(field: GraphQLField) -> PlainField | None:
    """How to read a field directly, or None when it needs graphql-core's full path."""
    definition = (field.extensions or {}).get(DEFINITION)
    if not isinstance(definition, StrawberryField) or field.args:
        return None
    if not getattr(field.resolve, "_is_default", False) or not definition.is_basic_field:
        return None
    non_null = isinstance(field.type, GraphQLNonNull)
    leaf = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if not isinstance(leaf, GraphQLScalarType | GraphQLEnumType):
        return None
    return PlainField(
        definition.default_resolver, definition.python_name, leaf.coerce_output_value, non_null
    )


def plain_fields(parent_type: GraphQLObjectType) -> dict[str, PlainField]:
    plans = _PLANS.get(parent_type)
    if plans is None:
        plans = {}
        for name, field in parent_type.fields.items():
            plan = plain_field(field)
            if plan is not None:
                plans[name] = plan
        _PLANS[parent_type] = plans
    return plans


class PlainFieldExecutor(StrawberryGraphQLCoreExecutionContext):
    @property
    def async_helpers(self) -> GraphQLResolveInfoHelpers:
        """Made when a resolver's info asks. graphql-core keeps one on the executor, bound to
        the executor's own methods: a reference cycle that made every request's executor,
        context and loaded rows garbage for the cyclic collector instead of being freed at
        once (``tests/comments/test_graphql_pages.py`` checks a page leaves no garbage)."""
        return GraphQLResolveInfoHelpers(gather=self.gather_async_work, track=self.track_async_work)

    @async_helpers.setter
    def async_helpers(self, _: GraphQLResolveInfoHelpers) -> None:
        pass  # graphql-core's __init__ sets one; the property above replaces it

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        if self.middleware_manager is not None and self.middleware_manager.middlewares:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        plans = plain_fields(parent_type)
        results: dict[str, Any] = {}
        rest: dict[str, Any] = {}
        for response_name, details in grouped_field_set.items():
            node = details[0].node
            plan = None if node.arguments else plans.get(node.name.value)
            if plan is not None:
                try:
                    value = plan.read(source_value, plan.attribute)
                    if value is None:
                        if not plan.non_null:
                            results[response_name] = None
                            continue
                    elif not isinstance(value, Exception):
                        coerced = plan.coerce(value)
                        if coerced is not None and coerced is not Undefined:
                            results[response_name] = coerced
                            continue
                except Exception:  # the general path below reports it properly
                    pass
            rest[response_name] = details
            results[response_name] = None  # keeps the response in the query's field order
        if not rest:
            return results
        general = super().execute_fields(parent_type, source_value, path, rest, position_context)
        if self.is_awaitable(general):

            async def merged() -> dict[str, Any]:
                return _merge(results, rest, await general)

            return merged()
        return _merge(results, rest, general)  # type: ignore[arg-type]


def _merge(
    results: dict[str, Any], rest: dict[str, Any], general: dict[str, Any]
) -> dict[str, Any]:
    for name in rest:
        if name in general:
            results[name] = general[name]
        else:  # a field the schema does not have (graphql-core leaves it out)
            del results[name]
    return results
