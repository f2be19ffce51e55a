"""Lean resolvers: Strawberry's resolver wrapper, without its generic steps, for fields whose
arguments need no conversion.

Strawberry wraps every resolver in a function that, on each call, builds the ``Info``, converts
each argument by walking its type (``convert_arguments``: the GraphQL name computed again, the
type unwrapped, a leaf handed back unchanged), runs the field extensions through a chain of
partials and awaits the result in a coroutine of its own. For a field whose arguments are all
leaves (strings, numbers, booleans, ids, enums, optional or not) and which has no field
extension and no exception handler, that is a rename of the arguments (Strawberry's own
``_is_leaf_type`` decides what a leaf is): the lean resolver
does just that, with the names and the resolver's parameters looked up once, and calls the
resolver as Strawberry's ``StrawberryField.get_result`` would (``self`` positional,
``info``/``root``/``parent`` by name). Any other field keeps Strawberry's wrapper.

Installed by ``install`` on a schema built with the fast executor (``NCM_FAST_EXECUTOR=0``
leaves every field to Strawberry); ``tests/schema/test_resolvers.py`` compares answers and
errors with Strawberry's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLField, GraphQLObjectType, GraphQLResolveInfo
from strawberry import Schema
from strawberry.relay.types import GlobalID
from strawberry.types.arguments import _is_leaf_type
from strawberry.types.base import StrawberryOptional
from strawberry.types.enum import has_enum_definition
from strawberry.types.field import StrawberryField

from ncm.schema.executor import DEFINITION


def install(schema: Schema) -> int:
    """Give every eligible field of ``schema`` a lean resolver; returns how many."""
    converter = schema.schema_converter
    count = 0
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name.startswith("__"):
            continue
        if graphql_type is schema._schema.subscription_type:
            continue
        for field in graphql_type.fields.values():
            resolve = lean_resolver(schema, field, converter)
            if resolve is not None:
                field.resolve = resolve
                count += 1
    return count


def lean_resolver(schema: Schema, field: GraphQLField, converter: Any) -> Callable[..., Any] | None:
    """The lean resolver of ``field``, or None when Strawberry's wrapper must stay."""
    definition = (field.extensions or {}).get(DEFINITION)
    if not isinstance(definition, StrawberryField):
        return None
    resolver = definition.base_resolver
    if resolver is None or definition.extensions or definition.is_subscription:
        return None
    if converter._get_field_exception_handlers(definition):
        return None
    names: dict[str, str] = {}
    for argument in definition.arguments:
        if not _leaf(argument.type, converter.scalar_registry):
            return None
        assert argument.python_name
        names[schema.config.name_converter.from_argument(argument)] = argument.python_name
    function = resolver.wrapped_func
    if not callable(function):
        return None
    takes_self = resolver.self_parameter is not None
    by_source = [p.name for p in (resolver.parent_parameter, resolver.root_parameter) if p]
    info_name = resolver.info_parameter.name if resolver.info_parameter else None
    info_class = schema.config.info_class

    def resolve(source: Any, info: GraphQLResolveInfo, **arguments: Any) -> Any:
        kwargs = {names[name]: value for name, value in arguments.items() if name in names}
        for name in by_source:
            kwargs[name] = source
        if info_name is not None:
            kwargs[info_name] = info_class(_raw_info=info, _field=definition)
        return function(source, **kwargs) if takes_self else function(**kwargs)

    return resolve


def _leaf(type_: Any, scalars: Any) -> bool:
    """An argument type Strawberry hands to the resolver unchanged (its own test: a scalar but
    ``GlobalID``, or an enum), optional or not; lists are copied by Strawberry, input types
    built: those keep its wrapper."""
    if isinstance(type_, StrawberryOptional):
        type_ = type_.of_type
    if has_enum_definition(type_):
        return True
    return _is_leaf_type(type_, scalars, skip_classes=(GlobalID,))
