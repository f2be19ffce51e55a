"""A graphql-core executor with a fast path for plain fields and lists of plain objects.

Most fields of a response are plain attributes of an already built view (a comment's
``body``, an author's ``handle``): no resolver, no arguments, a scalar or enum type.
graphql-core still resolves each one like any other field -- a ``Path``, a resolve info, the
resolver indirection, awaitable checks and the generic completion -- which is most of the
Python time of a list page (~265 fields for 20 comments). Here such a field is read and
coerced directly (a Strawberry enum by one dictionary lookup), a plain attribute holding an
object (an edge's ``node``, a comment's ``author``) has its own fields executed on it at once
(Strawberry's ``is_type_of`` checked), and so does each item of a list of such objects
(``complete_list_value``: the promotions served, a page's items). Anything else (a resolver,
arguments, an abstract type, a null on a non-null field, a value that does not coerce or is
not of its type) takes graphql-core's own path, which also produces its exact errors. The
fast path is off when a schema extension hooks every resolve.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from keyword import iskeyword
from typing import Any, NamedTuple, TypeVar
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLResolveInfoHelpers,
    GraphQLScalarType,
    GraphQLString,
    GraphQLUnionType,
    Undefined,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.cast import TYPE_CAST_ATTRIBUTE
from strawberry.types.field import StrawberryField

from ncm.kit.isotime import isoformat
from ncm.kit.lru import LRU

DEFINITION = "strawberry-definition"


class PlainField(NamedTuple):
    read: Callable[[Any, str], Any]
    attribute: str
    coerce: Callable[[Any], Any] | None  # a leaf's; None for an object
    non_null: bool
    # An object type: its fields are executed on the attribute's value directly.
    object_type: GraphQLObjectType | None = None
    return_type: Any = None


_GENERAL = object()  # "graphql-core's path answers this field (or this object)"
_PLANS: WeakKeyDictionary[GraphQLObjectType, dict[str, PlainField]] = WeakKeyDictionary()
# Strawberry's own ``is_type_of`` (an isinstance check that ignores the resolve info).
_STRAWBERRY_IS_TYPE_OF = "._get_is_type_of.<locals>.is_type_of"


def plain_field(field: GraphQLField) -> PlainField | None:
    """How to read a leaf field directly, or None when it needs graphql-core's full path."""
    definition = _basic(field)
    if definition is None:
        return None
    leaf = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if not isinstance(leaf, GraphQLScalarType | GraphQLEnumType):
        return None
    non_null = isinstance(field.type, GraphQLNonNull)
    return PlainField(
        definition.default_resolver, definition.python_name, leaf_coercion(leaf), non_null
    )


def object_field(field: GraphQLField) -> PlainField | None:
    """How to read an object field directly (an attribute holding a view of a concrete
    type whose ``is_type_of``, if any, is Strawberry's), or None."""
    definition = _basic(field)
    if definition is None:
        return None
    target = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if not _direct_object(target):
        return None
    assert isinstance(target, GraphQLObjectType)
    non_null = isinstance(field.type, GraphQLNonNull)
    return PlainField(
        definition.default_resolver, definition.python_name, None, non_null, target, field.type
    )


def _direct_object(target: Any) -> bool:
    """An object type whose values' fields the fast path may execute directly: it has no
    ``is_type_of``, or Strawberry's (an isinstance check that ignores the resolve info)."""
    return isinstance(target, GraphQLObjectType) and (
        target.is_type_of is None
        or getattr(target.is_type_of, "__qualname__", "").endswith(_STRAWBERRY_IS_TYPE_OF)
    )


class ListPlan(NamedTuple):
    """A list of plain objects: each item's fields are executed on it directly."""

    item_type: GraphQLOutputType  # as declared (non-null or not)
    object_type: GraphQLObjectType
    item_non_null: bool


_LISTS: WeakKeyDictionary[GraphQLList[Any], ListPlan | None] = WeakKeyDictionary()


def list_plan(list_type: GraphQLList[Any]) -> ListPlan | None:
    """How to complete a list of objects directly, or None (a list of leaves, of lists, of
    an abstract type, of a type with its own ``is_type_of``)."""
    try:
        return _LISTS[list_type]
    except KeyError:
        pass
    item_type = list_type.of_type
    non_null = isinstance(item_type, GraphQLNonNull)
    target = item_type.of_type if non_null else item_type
    plan = ListPlan(item_type, target, non_null) if _direct_object(target) else None
    _LISTS[list_type] = plan
    return plan


_COERCIONS: WeakKeyDictionary[Any, Callable[[Any], Any]] = WeakKeyDictionary()


def leaf_coercion(leaf: GraphQLScalarType | GraphQLEnumType) -> Callable[[Any], Any]:
    """A leaf type's output coercion (an enum's by ``enum_coercion``), made once per type."""
    found = _COERCIONS.get(leaf)
    if found is None:
        if isinstance(leaf, GraphQLEnumType):
            found = enum_coercion(leaf)
        else:
            found = datetime_coercion(leaf) or leaf.coerce_output_value
        _COERCIONS[leaf] = found
    return found


_SAMPLE = datetime(2026, 12, 4, 1, 2, 3, 4005, tzinfo=UTC)


def datetime_coercion(leaf: GraphQLScalarType) -> Callable[[Any], Any] | None:
    """A ``DateTime`` written by ``ncm.kit.isotime`` when the scalar writes ``isoformat()``
    (checked on a sample): every comment of a page has one."""
    general = leaf.coerce_output_value
    if leaf.name != "DateTime" or general(_SAMPLE) != _SAMPLE.isoformat():
        return None

    def coerce(value: Any) -> Any:
        return isoformat(value) if type(value) is datetime else general(value)

    return coerce


def enum_coercion(leaf: GraphQLEnumType) -> Callable[[Any], Any]:
    """A Strawberry enum's output coercion as one dictionary lookup by member (Strawberry's
    compares the value with each of the type's values in turn); anything else, and a member
    the type does not list, through the type's own."""
    wrapped = getattr(leaf, "wrapped_cls", None)
    general = leaf.coerce_output_value
    if wrapped is None:
        return general
    names: dict[Any, str] = {}
    for member in wrapped:
        for name, value in leaf.values.items():
            if member.value == value.value:
                names[member] = name
                break

    def coerce(value: Any) -> Any:
        if type(value) is wrapped:
            found = names.get(value)
            if found is not None:
                return found
        return general(value)

    return coerce


NOT_PRIMED: Any = object()  # what a ``peek`` returns when the resolver must run
_PEEK = "__ncm_peek__"
R = TypeVar("R", bound=Callable[..., Any])


def answered_by(peek: Callable[[Any, Any], Any]) -> Callable[[R], R]:
    """Marks a resolver (below ``@strawberry.field``, for a field without arguments) whose
    answer is often at hand without it: ``peek(source, context)`` returns that answer, or
    ``NOT_PRIMED`` when the resolver must run. A shape (``PlainFieldExecutor``) then reads
    the field like a plain attribute -- no resolve info, no argument conversion, no
    resolver call -- and completes the value itself; an object whose peek says
    ``NOT_PRIMED`` takes graphql-core's path, which calls the resolver. ``peek`` must give
    what the resolver would and have no effect (the resolver should call it first)."""

    def mark(resolver: R) -> R:
        setattr(resolver, _PEEK, peek)
        return resolver

    return mark


def peek_of(field: GraphQLField) -> Callable[[Any, Any], Any] | None:
    """The field's ``answered_by`` peek, when its resolver has one and nothing else wraps it
    (no arguments, no field extensions such as permissions)."""
    definition = (field.extensions or {}).get(DEFINITION)
    if not isinstance(definition, StrawberryField) or field.args or definition.extensions:
        return None
    resolver = definition.base_resolver
    if resolver is None:
        return None
    return getattr(resolver.wrapped_func, _PEEK, None)


def _basic(field: GraphQLField) -> StrawberryField | None:
    """The field's Strawberry definition when it is a plain attribute: no resolver, no
    arguments."""
    definition = (field.extensions or {}).get(DEFINITION)
    if not isinstance(definition, StrawberryField) or field.args:
        return None
    if not getattr(field.resolve, "_is_default", False) or not definition.is_basic_field:
        return None
    return definition


def plain_fields(parent_type: GraphQLObjectType) -> dict[str, PlainField]:
    """The leaf fields of a type that the fast path reads directly."""
    return {k: v for k, v in field_plans(parent_type).items() if v.object_type is None}


def field_plans(parent_type: GraphQLObjectType) -> dict[str, PlainField]:
    """Every field of a type that the fast path answers (leaves and objects), by name."""
    plans = _PLANS.get(parent_type)
    if plans is None:
        plans = {}
        for name, field in parent_type.fields.items():
            plan = plain_field(field) or object_field(field)
            if plan is not None:
                plans[name] = plan
        _PLANS[parent_type] = plans
    return plans


# How a shape step reads its value (see ``Shape``).
_LEAF, _INT, _OBJECT, _LIST, _TYPENAME, _UNION = range(6)
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
# A built-in scalar whose output coercion returns a value of exactly this type unchanged.
_UNCHANGED: dict[Any, type] = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool}


class Step(NamedTuple):
    name: str  # the response key
    kind: int
    read: Callable[[Any, Any], Any]  # (source, attribute), or a peek's (source, context)
    attribute: str  # for _TYPENAME: the type's name
    coerce: Callable[[Any], Any] | None
    unchanged: type | None  # a value of exactly this type is its own coercion
    non_null: bool
    child: Shape | None = None  # an object's (a list's items') shape
    is_type_of: Callable[[Any, Any], Any] | None = None
    item_non_null: bool = False
    peek: bool = False  # ``read`` is an ``answered_by`` peek
    members: Members | None = None  # a union's members with their shapes


# Shapes of the operations seen lately, by the identity of the operation's node (the guard
# caches parsed documents, so a document's requests share their nodes): a request compiles
# only what an earlier request of its document has not. Not for an operation holding any
# directive: ``@include(if: $v)``, ``@defer`` make its selections depend on the request.
_OPERATIONS: LRU[int, tuple[Any, dict[Any, Shape | None] | None]] = LRU(1024)


class Shape(tuple[Step, ...]):
    """The steps completing an object whose selection is all plain. A shape kept across
    requests also gets ``run``: the steps as one generated Python function (see
    ``generated``), which the steps describe exactly."""

    run: Callable[[Any, Any, Callable[[Any], bool]], Any] | None = None


class Members:
    """A Strawberry union's members, each with the shape of the selection for it, found by
    the class of a value as Strawberry's type resolver finds them: a value that is not cast
    is of the member whose definition is its class's ``__strawberry_definition__``. A
    class of no member, or of a member whose selection is not plain, is None (graphql-core's
    path resolves and reports it)."""

    __slots__ = ("by_class", "by_definition")

    def __init__(self, by_definition: dict[int, tuple[Any, GraphQLObjectType, Shape]]) -> None:
        # id(definition) -> (definition, kept alive so the id stays its own; type; shape)
        self.by_definition = by_definition
        self.by_class: dict[type, tuple[GraphQLObjectType, Shape] | None] = {}

    def of(self, cls: type) -> tuple[GraphQLObjectType, Shape] | None:
        found = self.by_class.get(cls, _GENERAL)
        if found is _GENERAL:
            definition = getattr(cls, "__strawberry_definition__", None)
            member = self.by_definition.get(id(definition))
            found = None if member is None else member[1:]
            if len(self.by_class) < 64:  # the classes of a schema's types: a handful
                self.by_class[cls] = found
        return found  # type: ignore[return-value]


def member_of(
    members: Members, value: Any, is_awaitable: Callable[[Any], bool]
) -> tuple[GraphQLObjectType, Shape] | None:
    """The member type and shape completing ``value``, or None for graphql-core's path (an
    error, an awaitable, a cast object, a class of no plain member, a value its member's
    ``is_type_of`` refuses)."""
    if isinstance(value, Exception) or is_awaitable(value):
        return None
    if getattr(value, TYPE_CAST_ATTRIBUTE, None) is not None:
        return None
    found = members.of(type(value))
    if found is None or not _accepts(found[0].is_type_of, value):
        return None
    return found


def _complete_member(
    members: Members, value: Any, context: Any, is_awaitable: Callable[[Any], bool]
) -> Any:
    """A union value completed by its member's generated shape, or ``_GENERAL``."""
    found = member_of(members, value, is_awaitable)
    if found is None or found[1].run is None:
        return _GENERAL
    return found[1].run(value, context, is_awaitable)


def _strawberry_union(union: GraphQLUnionType) -> bool:
    """Resolved by Strawberry's union type resolver (by class, see ``Members``)."""
    resolver = union.resolve_type
    return resolver is not None and resolver.__qualname__.endswith(
        "get_type_resolver.<locals>._resolve_union_type"
    )


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

    def collect_and_execute_subfields(
        self,
        return_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """graphql-core's, with a shortcut for an object whose selection is all plain: plain
        leaves, ``__typename``, plain objects and lists of them, all the way down (an edge
        and its node and the node's author, say). Such an object is executed by its
        ``Shape`` -- the selection compiled once per request into steps -- in one loop per
        object, without paths, resolve infos or the field-by-field dispatch. Anything unusual
        on the way (a null on a non-null field, a value that does not coerce or is not of its
        type, an exception) drops the whole object to graphql-core's path, which reads the
        same plain attributes again and reports it exactly: a plain read has no effect."""
        if position_context is None and not self.middleware_manager_hooks:
            shape = self._shape(return_type, field_details_list)
            if shape is not None:
                try:
                    run = shape.run
                    if run is not None:
                        completed = run(result, self.context_value, self.is_awaitable)
                    else:
                        completed = self._run(shape, result)
                except Exception:  # graphql-core's path reports it
                    completed = _GENERAL
                if completed is not _GENERAL:
                    return completed
        return super().collect_and_execute_subfields(
            return_type, field_details_list, path, result, position_context
        )

    @property
    def middleware_manager_hooks(self) -> bool:
        """A schema extension hooks every resolve: every fast path steps aside."""
        return self.middleware_manager is not None and bool(self.middleware_manager.middlewares)

    def _shape(self, object_type: GraphQLObjectType, details: FieldDetailsList) -> Shape | None:
        """The steps of ``object_type``'s selection ``details``, or None when a field needs
        graphql-core's path (a resolver, arguments, an abstract or non-plain type). Memoized
        per request by the identity of ``details`` (as graphql-core memoizes the collected
        fields) and across the requests of an operation without directives by the identity
        of the selection's field nodes."""
        shapes = self.__dict__.setdefault("_shapes", {})
        key = (object_type, id(details))
        found = shapes.get(key)
        if found is not None:
            return found[1]
        known = self._operation_shapes()
        if known is None:
            shape = self._compile(object_type, details)
        else:
            nodes = (object_type, *(id(d.node) for d in details))
            if nodes in known:
                shape = known[nodes]
            else:
                shape = known[nodes] = self._compile(object_type, details)
                if shape is not None:
                    shape.run = generated(shape)
        shapes[key] = (details, shape)  # the list kept alive: its id stays unique
        return shape

    def _operation_shapes(self) -> dict[Any, Shape | None] | None:
        operation = self.operation
        found = _OPERATIONS.get(id(operation))
        if found is None or found[0] is not operation:
            shapes: dict[Any, Shape | None] | None = (
                None if _has_directives(operation, self.fragments) else {}
            )
            found = (operation, shapes)  # the operation kept alive: its id stays unique
            _OPERATIONS.put(id(operation), found)
        return found[1]

    def _compile(self, object_type: GraphQLObjectType, details: FieldDetailsList) -> Shape | None:
        grouped, new_defer_usages, *_ = self.collect_subfields(object_type, details)
        if new_defer_usages:
            return None
        steps: list[Step] = []
        for name, field_details in grouped.items():
            node = field_details[0].node
            field_name = node.name.value
            if field_name == "__typename":
                steps.append(Step(name, _TYPENAME, getattr, object_type.name, None, None, True))
                continue
            field = object_type.fields.get(field_name)
            if field is None or node.arguments:
                return None
            reader = self._reader(field)
            if reader is None:
                return None
            step = self._step(name, field.type, *reader, field_details)
            if step is None:
                return None
            steps.append(step)
        return Shape(steps)

    @staticmethod
    def _reader(field: GraphQLField) -> tuple[Callable[[Any, Any], Any], str, bool] | None:
        """How a step reads the field's value: a plain attribute, or a resolver's ``peek``
        (``answered_by``, called with the request's context); None for any other field."""
        definition = _basic(field)
        if definition is not None:
            return definition.default_resolver, definition.python_name, False
        peek = peek_of(field)
        return None if peek is None else (peek, "", True)

    def _step(
        self,
        name: str,
        field_type: Any,
        read: Callable[[Any, Any], Any],
        attribute: str,
        peek: bool,
        details: FieldDetailsList,
    ) -> Step | None:
        """The step completing a value of ``field_type``, or None when it needs graphql-core
        (an abstract type, a list of leaves or lists, a type with its own ``is_type_of``)."""
        non_null = isinstance(field_type, GraphQLNonNull)
        inner = field_type.of_type if non_null else field_type
        if isinstance(inner, GraphQLScalarType | GraphQLEnumType):
            kind = _INT if inner is GraphQLInt else _LEAF
            coerce = leaf_coercion(inner)
            return Step(
                name, kind, read, attribute, coerce, _UNCHANGED.get(inner), non_null, peek=peek
            )
        if isinstance(inner, GraphQLUnionType):
            members = self._members(inner, details)
            if members is None:
                return None
            return Step(
                name, _UNION, read, attribute, None, None, non_null, members=members, peek=peek
            )
        kind, item_non_null = _OBJECT, False
        if isinstance(inner, GraphQLList):
            plan = list_plan(inner)
            if plan is None or node_directives(details):
                return None
            kind, inner, item_non_null = _LIST, plan.object_type, plan.item_non_null
        elif not _direct_object(inner):
            return None
        child = self._shape(inner, details)
        if child is None:
            return None
        is_type_of = inner.is_type_of
        return Step(
            name,
            kind,
            read,
            attribute,
            None,
            None,
            non_null,
            child,
            is_type_of,
            item_non_null,
            peek,
        )

    def _members(self, union: GraphQLUnionType, details: FieldDetailsList) -> Members | None:
        """The members of a Strawberry union whose selection here is plain, with their
        shapes; None when none is, or the union is resolved some other way."""
        if not _strawberry_union(union) or node_directives(details):
            return None
        by_definition: dict[int, tuple[Any, GraphQLObjectType, Shape]] = {}
        for member in union.types:
            definition = member.extensions.get(DEFINITION)
            if definition is None or definition.is_graphql_generic:
                continue
            shape = self._shape(member, details)
            if shape is not None:
                by_definition[id(definition)] = (definition, member, shape)
        return Members(by_definition) if by_definition else None

    def _run(self, shape: Shape, source: Any) -> Any:
        """The object's result by its shape, or ``_GENERAL``."""
        result: dict[str, Any] = {}
        for step in shape:
            name, kind, read, attribute, coerce, unchanged, non_null, *_ = step
            peek = step.peek
            if kind == _TYPENAME:
                result[name] = attribute
                continue
            value = read(source, self.context_value) if peek else read(source, attribute)
            if value is None:
                if non_null:
                    return _GENERAL
                result[name] = None
            elif kind == _LEAF:
                if type(value) is unchanged:
                    result[name] = value
                else:
                    coerced = coerce(value)  # type: ignore[misc]
                    if coerced is None or coerced is Undefined:
                        return _GENERAL
                    result[name] = coerced
            elif kind == _INT:
                if type(value) is not int or not _INT_MIN <= value <= _INT_MAX:
                    return _GENERAL
                result[name] = value
            elif value is NOT_PRIMED:
                return _GENERAL
            elif kind == _OBJECT:
                completed = self._run_object(step, value)
                if completed is _GENERAL:
                    return _GENERAL
                result[name] = completed
            elif kind == _UNION:
                member = member_of(step.members, value, self.is_awaitable)  # type: ignore[arg-type]
                if member is None:
                    return _GENERAL
                completed = self._run(member[1], value)
                if completed is _GENERAL:
                    return _GENERAL
                result[name] = completed
            else:  # _LIST
                if type(value) not in (list, tuple):
                    return _GENERAL
                items: list[Any] = []
                for item in value:
                    if item is None:
                        if step.item_non_null:
                            return _GENERAL
                        items.append(None)
                        continue
                    completed = self._run_object(step, item)
                    if completed is _GENERAL:
                        return _GENERAL
                    items.append(completed)
                result[name] = items
        return result

    def _run_object(self, step: Step, value: Any) -> Any:
        if not self._of_type(step.is_type_of, value):
            return _GENERAL
        return self._run(step.child, value)  # type: ignore[arg-type]

    def _of_type(self, is_type_of: Any, value: Any) -> bool:
        """``value`` is one the fast paths complete as an object of its type, as graphql-core
        would: not an error, not awaitable, and accepted by the type's ``is_type_of`` if
        it has one (anything else takes graphql-core's path, which reports it)."""
        return not (isinstance(value, Exception) or self.is_awaitable(value)) and (
            is_type_of is None or is_type_of(value, None) is True
        )

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """graphql-core's ``execute_fields`` (the same order, errors and awaiting), with two
        shortcuts: a plain scalar field is read and coerced in place, and a plain object
        field (an attribute holding a view) has its own fields executed on the value,
        without a resolver call, a resolve info or the generic completion."""
        if self.middleware_manager_hooks:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        plans = field_plans(parent_type)
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, details in grouped_field_set.items():
                node = details[0].node
                plan = None if node.arguments else plans.get(node.name.value)
                if plan is not None and plan.object_type is None:
                    try:
                        value = plan.read(source_value, plan.attribute)
                        if value is None:
                            if not plan.non_null:
                                results[response_name] = None
                                continue
                        elif not isinstance(value, Exception):
                            coerced = plan.coerce(value)  # type: ignore[misc]
                            if coerced is not None and coerced is not Undefined:
                                results[response_name] = coerced
                                continue
                    except Exception:  # the general path below reports it properly
                        pass
                elif plan is not None:
                    value = self._object(
                        plan,
                        source_value,
                        details,
                        path,
                        response_name,
                        parent_type,
                        position_context,
                    )
                    if value is not _GENERAL:
                        results[response_name] = value
                        if is_awaitable(value):
                            awaitable_fields.append(response_name)
                        continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    details,
                    Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:  # Undefined: a field the schema does not have
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[name] for name in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                name = awaitable_fields[0]
                results[name] = await results[name]
            else:
                values = await gather_with_cancel(*(results[n] for n in awaitable_fields))
                results.update(zip(awaitable_fields, values, strict=True))
            return results

        return get_results()

    def _object(
        self,
        plan: PlainField,
        source: Any,
        details: Any,
        path: Path | None,
        response_name: str,
        parent_type: GraphQLObjectType,
        position_context: Any,
    ) -> Any:
        """A plain object field completed on the attribute's value, or ``_GENERAL`` when
        graphql-core's path must answer it (a null on a non-null field, an error, a value
        not of the type: that path produces the exact error)."""
        try:
            value = plan.read(source, plan.attribute)
        except Exception:
            return _GENERAL
        if value is None:
            return _GENERAL if plan.non_null else None
        object_type = plan.object_type
        assert object_type is not None
        if not self._of_type(object_type.is_type_of, value):
            return _GENERAL
        field_path = Path(path, response_name, parent_type.name)
        try:
            completed = self.collect_and_execute_subfields(
                object_type, details, field_path, value, position_context
            )
        except Exception as error:  # as execute_field: located, raised on a non-null field
            self.handle_field_error(error, plan.return_type, details, field_path)
            return None
        if self.is_awaitable(completed):
            return self._completed(completed, plan.return_type, details, field_path)
        return completed

    async def _completed(
        self, completed: Awaitable[Any], return_type: Any, details: Any, path: Path
    ) -> Any:
        try:
            return await completed
        except Exception as error:
            self.handle_field_error(error, return_type, details, path)
            return None

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[list[Any]]:
        """graphql-core's, with a shortcut for a list (or tuple) of plain objects (a page of
        views, the promotions served): each item's fields are executed on it directly, as
        ``complete_list_item_value`` would after its type checks, without the per-item
        completion calls. Anything else takes graphql-core's path, decided before any item is
        executed: a list of another kind, an item that is null (on a non-null item type), an
        error, awaitable or not of its type (that path reports it exactly), a directive on the
        field (``@stream``), an extension hooking every resolve."""
        plan = list_plan(return_type)
        if (
            plan is None
            or type(result) not in (list, tuple)
            or field_details_list[0].node.directives
            or self.middleware_manager_hooks
            or not self._plain_items(plan, result)
        ):
            return super().complete_list_value(
                return_type, field_details_list, info, path, result, position_context
            )
        object_type, item_type = plan.object_type, plan.item_type
        execute = self.collect_and_execute_subfields
        is_awaitable = self.is_awaitable
        completed: list[Any] = []
        awaitable_indices: list[int] = []
        try:
            for index, item in enumerate(result):
                if item is None:
                    completed.append(None)
                    continue
                item_path = path.add_key(index, None)
                try:
                    value = execute(
                        object_type, field_details_list, item_path, item, position_context
                    )
                except Exception as error:  # as complete_list_item_value
                    self.handle_field_error(error, item_type, field_details_list, item_path)
                    value = None
                else:
                    if is_awaitable(value):
                        value = self._completed(value, item_type, field_details_list, item_path)
                        awaitable_indices.append(index)
                completed.append(value)
        except Exception:  # a non-null item's error: the list's own (as complete_iterable_value)
            if awaitable_indices:
                self.settle_in_background([completed[i] for i in awaitable_indices])
            raise
        if not awaitable_indices:
            return completed

        async def get_completed() -> list[Any]:
            if len(awaitable_indices) == 1:
                index = awaitable_indices[0]
                completed[index] = await completed[index]
            else:
                values = await gather_with_cancel(*(completed[i] for i in awaitable_indices))
                for index, value in zip(awaitable_indices, values, strict=True):
                    completed[index] = value
            return completed

        return get_completed()

    def _plain_items(self, plan: ListPlan, items: list[Any] | tuple[Any, ...]) -> bool:
        """Every item is a value the shortcut completes as graphql-core would: an instance of
        the item type (``is_type_of``), or null on a nullable item type."""
        is_type_of = plan.object_type.is_type_of
        return all(
            not plan.item_non_null if item is None else self._of_type(is_type_of, item)
            for item in items
        )


def node_directives(details: FieldDetailsList) -> bool:
    """Whether the field carries a directive (``@stream`` on a list)."""
    return any(d.node.directives for d in details)


def _has_directives(operation: Any, fragments: dict[str, Any]) -> bool:
    """Whether any selection of the operation or of the document's fragments carries a
    directive (graphql-core 3.3 keeps each fragment's node in ``FragmentDetails.definition``)."""
    stack = [operation.selection_set]
    stack += [getattr(f, "definition", f).selection_set for f in fragments.values()]
    while stack:
        selection_set = stack.pop()
        if selection_set is None:
            continue
        for selection in selection_set.selections:
            if selection.directives:
                return True
            stack.append(getattr(selection, "selection_set", None))
    return False


def generated(shape: Shape) -> Callable[[Any, Any, Callable[[Any], bool]], Any]:
    """``PlainFieldExecutor._run`` for this shape as one straight-line function
    ``run(source, context, is_awaitable)``: a value read with an attribute access (or the
    step's reader, or its peek), the checks of its kind, and the result built as one dict
    literal in the selection's order. Its children's functions are called for objects and
    list items (a child shape kept across requests has one)."""
    space: dict[str, Any] = {
        "GENERAL": _GENERAL,
        "Undefined": Undefined,
        "NOT_PRIMED": NOT_PRIMED,
        "INT_MIN": _INT_MIN,
        "INT_MAX": _INT_MAX,
        "SEQUENCES": (list, tuple),
    }
    lines = ["def run(source, context, is_awaitable):"]
    keys: list[str] = []
    for i, step in enumerate(shape):
        value = f"v{i}"
        keys.append(f"{step.name!r}: {value}")
        if step.kind == _TYPENAME:
            space[f"typename{i}"] = step.attribute
            lines.append(f"    {value} = typename{i}")
            continue
        if step.peek:
            space[f"peek{i}"] = step.read
            lines.append(f"    {value} = peek{i}(source, context)")
            lines.append(f"    if {value} is NOT_PRIMED: return GENERAL")
        elif (
            step.read is getattr and step.attribute.isidentifier() and not iskeyword(step.attribute)
        ):
            lines.append(f"    {value} = source.{step.attribute}")
        else:
            space[f"read{i}"], space[f"attribute{i}"] = step.read, step.attribute
            lines.append(f"    {value} = read{i}(source, attribute{i})")
        if step.non_null:
            lines.append(f"    if {value} is None: return GENERAL")
            indent = "    "
        else:
            lines.append(f"    if {value} is not None:")
            indent = "        "
        lines.extend(indent + line for line in _checks(step, i, value, space))
    lines.append(f"    return {{{', '.join(keys)}}}")
    # The text is ours: response keys as Python literals, attribute names of the schema's
    # own types checked to be identifiers, every value a name bound in ``space``.
    exec("\n".join(lines), space)
    function: Callable[[Any, Any, Callable[[Any], bool]], Any] = space["run"]
    return function


def _checks(step: Step, i: int, value: str, space: dict[str, Any]) -> list[str]:
    """The lines completing a non-null ``value`` of the step's kind (``return GENERAL`` on
    anything ``_run`` would drop)."""
    if step.kind == _LEAF:
        space[f"coerce{i}"] = step.coerce
        lines = [
            f"{value} = coerce{i}({value})",
            f"if {value} is None or {value} is Undefined: return GENERAL",
        ]
        if step.unchanged is None:
            return lines
        space[f"unchanged{i}"] = step.unchanged
        return [f"if type({value}) is not unchanged{i}:", *("    " + line for line in lines)]
    if step.kind == _INT:
        return [f"if type({value}) is not int or not INT_MIN <= {value} <= INT_MAX: return GENERAL"]
    if step.kind == _UNION:
        space[f"members{i}"], space["complete_member"] = step.members, _complete_member
        return [
            f"{value} = complete_member(members{i}, {value}, context, is_awaitable)",
            f"if {value} is GENERAL: return GENERAL",
        ]
    child = step.child
    assert child is not None and child.run is not None, "a child shape is generated first"
    space[f"child{i}"] = child.run
    if step.is_type_of is not None:
        # Strawberry's is_type_of answers by the object's class unless the object is cast
        # (``strawberry.cast`` sets CAST on it): a class it accepted for an object not cast
        # is accepted again without the call (the call and the cast check cost more).
        space[f"is_type_of{i}"] = step.is_type_of
        space[f"accepted{i}"] = _ACCEPTED.setdefault(step.is_type_of, set())
        space["CAST"], space["accept"] = TYPE_CAST_ATTRIBUTE, _accept
        check = [
            f"if type(ITEM) not in accepted{i} or CAST in ITEM.__dict__:",
            f"    if is_type_of{i}(ITEM, None) is not True: return GENERAL",
            f"    accept(accepted{i}, ITEM)",
        ]
    else:
        check = ["if isinstance(ITEM, Exception) or is_awaitable(ITEM): return GENERAL"]
    complete = [
        *check,
        f"ITEM = child{i}(ITEM, context, is_awaitable)",
        "if ITEM is GENERAL: return GENERAL",
    ]
    if step.kind == _OBJECT:
        return [line.replace("ITEM", value) for line in complete]
    none_item = "return GENERAL" if step.item_non_null else "items.append(None); continue"
    return [
        f"if type({value}) not in SEQUENCES: return GENERAL",
        "items = []",
        f"for item in {value}:",
        f"    if item is None: {none_item}",
        *("    " + line.replace("ITEM", "item") for line in complete),
        "    items.append(item)",
        f"{value} = items",
    ]


# Per Strawberry ``is_type_of``: the classes it accepted for objects that were not cast.
_ACCEPTED: dict[Callable[[Any, Any], Any], set[type]] = {}


def _accepts(is_type_of: Callable[[Any, Any], Any] | None, value: Any) -> bool:
    """``is_type_of`` (None: any value) accepts ``value``, an object that is not cast: its
    class, once accepted, is accepted again without the call (as the generated checks)."""
    if is_type_of is None:
        return True
    accepted = _ACCEPTED.setdefault(is_type_of, set())
    if type(value) in accepted:
        return True
    if is_type_of(value, None) is not True:
        return False
    _accept(accepted, value)
    return True


def _accept(accepted: set[type], value: Any) -> None:
    """Remember ``value``'s class as accepted, unless the object (or its class) is cast."""
    if getattr(value, TYPE_CAST_ATTRIBUTE, None) is None:
        accepted.add(type(value))
