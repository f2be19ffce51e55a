"""Operation cost analysis: how deep, how many aliases and how much work a document asks for,
measured once per document before it is validated or executed.

Every fragment is measured once (memoized by name and by whether it inherits a list size:
its cost is affine in that size, so the size itself is not part of the key), so a
document whose fragments spread each other twice (``...F1 ...F1`` in ``F0``, and so on) is
measured in time linear in its size, while its figures grow as its expansion would: twenty
such fragments cost two million fields and are refused in well under a millisecond.

The figures are upper bounds, counted on the document as written:

* **depth**: fields that have a selection set, on the longest path (``{ a { b } }`` is 1;
  introspection fields, ``__schema`` and ``__type``, are not counted, as in
  Strawberry's ``QueryDepthLimiter``);
* **aliases**: aliased fields, each spread of a fragment counting its aliases again;
* **cost**: the fields the response can hold, one per field (``__typename`` is free, and
  so are the scalars of introspection, read from the schema in memory),
  multiplied by the sizes of the lists around it. A list's size is its own ``first`` /
  ``last`` / ``limit`` argument, or, for the ``edges`` and ``nodes`` of a connection, the
  connection field's; a literal is taken as written (capped at the page size cap), a
  variable as the cap (the server refuses more), and no argument as the argument's
  default or the default page size. A list without a size argument (``genres``,
  ``track.artists``) counts :data:`LIST_ESTIMATE` items.

* **breadth**: the most fields and fragment spreads written in one selection set (its
  inline fragments included);
* **repeats**: the most times one response name is selected in one selection set, the
  fragments spread there included. Validation compares the fields of a selection set that
  share a response name pairwise, subtrees included (the rule that fields must merge), so
  a hundred copies of one field cost seconds of validation while costing little else. No
  type here has more than a few dozen fields and aliases are limited, so only repetition
  reaches these two limits (an app repeating ``id`` in each of its fragments stays far below).

A spread of the same fragment twice at one level is counted twice, although GraphQL merges
it: the point is to refuse documents written to be expensive, not to price them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_composite_type,
)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef

SIZE_ARGUMENTS = ("first", "last", "limit")
LIST_ESTIMATE = 10
DEFAULT_PAGE_SIZE = 20
# Fragments spreading fragments spreading fragments ...: more levels than any client writes.
MAX_FRAGMENT_NESTING = 64


@dataclass(frozen=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_cost: int
    max_breadth: int = 100
    max_repeats: int = 30
    max_page_size: int = 100
    default_page_size: int = DEFAULT_PAGE_SIZE
    list_estimate: int = LIST_ESTIMATE


@dataclass(frozen=True)
class Figures:
    depth: int = 0
    aliases: int = 0
    cost: int = 0
    breadth: int = 0
    repeats: int = 0
    # The cost per item of the list size a selection set inherits (a connection's `first`
    # handed to its `edges`/`nodes`): the cost at size n is ``cost + per_size * n``. Kept
    # apart so a fragment is measured once whatever size it is spread under.
    per_size: int = 0

    def exceeded(self, limits: Limits) -> list[tuple[str, int, int]]:
        """``(figure, measured, limit)`` for every limit this passes."""
        checks = [
            ("depth", self.depth, limits.max_depth),
            ("aliases", self.aliases, limits.max_aliases),
            ("cost", self.cost, limits.max_cost),
            ("breadth", self.breadth, limits.max_breadth),
            ("repeats", self.repeats, limits.max_repeats),
        ]
        return [check for check in checks if check[1] > check[2]]


@dataclass(frozen=True)
class Measurement:
    figures: Figures
    visited: int  # selection nodes looked at: linear in the document, whatever it expands to
    too_nested: bool = False  # fragments nest deeper than MAX_FRAGMENT_NESTING


class _TooNested(Exception):
    pass


class _Meter:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, limits: Limits) -> None:
        self.schema = schema
        self.limits = limits
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.memo: dict[tuple[str, bool, bool], tuple[Figures, dict[str, int]]] = {}
        self.introspecting = False  # inside __schema / __type
        self.in_progress: set[str] = set()
        self.visited = 0
        self.nesting = 0

    def operation(self, op: OperationDefinitionNode) -> Figures:
        root = {
            OperationType.QUERY: self.schema.query_type,
            OperationType.MUTATION: self.schema.mutation_type,
            OperationType.SUBSCRIPTION: self.schema.subscription_type,
        }.get(op.operation)
        return self.selection_set(op.selection_set, root, None)

    def selection_set(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None, size: int | None
    ) -> Figures:
        """The figures of a selection set under the list size ``size`` (cost resolved)."""
        figures = self._selection_set(selection_set, parent, size is not None)[0]
        if size is None:
            return figures
        cost = figures.cost + figures.per_size * size
        return Figures(figures.depth, figures.aliases, cost, figures.breadth, figures.repeats)

    def _selection_set(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None, sized: bool
    ) -> tuple[Figures, dict[str, int]]:
        """The figures, and how often each response name is selected at this level (spread
        fragments' included: validation compares those that share a name). ``sized``: a
        connection field hands its list size to its ``edges``/``nodes``; their cost is then
        counted in ``per_size`` (the cost is affine in the size, so it is not walked again
        for every size)."""
        depth = aliases = cost = per_size = widest = deepest_repeats = 0
        own = 0  # fields and spreads written here, its inline fragments' included
        keys: dict[str, int] = {}
        pending: list[tuple[SelectionSetNode, GraphQLNamedType | None]] = [(selection_set, parent)]
        while pending:  # inline fragments flattened without recursion
            current, current_parent = pending.pop()
            for selection in current.selections:
                self.visited += 1
                if isinstance(selection, FieldNode):
                    figures = self.field(selection, current_parent, sized)
                    key = (selection.alias or selection.name).value
                    keys[key] = keys.get(key, 0) + 1
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    scope = (
                        self.schema.get_type(condition.name.value) if condition else current_parent
                    )
                    pending.append((selection.selection_set, scope))
                    continue
                elif isinstance(selection, FragmentSpreadNode):
                    figures, spread_keys = self._spread(selection.name.value, sized)
                    for key, count in spread_keys.items():
                        keys[key] = keys.get(key, 0) + count
                else:  # pragma: no cover - no other selection kinds exist
                    continue
                own += 1
                depth = max(depth, figures.depth)
                aliases += figures.aliases
                cost += figures.cost
                per_size += figures.per_size
                widest = max(widest, figures.breadth)
                deepest_repeats = max(deepest_repeats, figures.repeats)
        repeats = max(deepest_repeats, max(keys.values(), default=0))
        return Figures(depth, aliases, cost, max(own, widest), repeats, per_size), keys

    def spread(self, name: str) -> Figures:
        return self._spread(name, False)[0]

    def _spread(self, name: str, sized: bool) -> tuple[Figures, dict[str, int]]:
        fragment = self.fragments.get(name)
        if fragment is None or name in self.in_progress:
            return Figures(), {}  # unknown fragments and cycles are validation errors
        key = (name, sized, self.introspecting)
        found = self.memo.get(key)
        if found is not None:
            return found
        self.nesting += 1
        if self.nesting > MAX_FRAGMENT_NESTING:
            raise _TooNested()
        self.in_progress.add(name)
        try:
            scope = self.schema.get_type(fragment.type_condition.name.value)
            measured = self._selection_set(fragment.selection_set, scope, sized)
        finally:
            self.in_progress.discard(name)
            self.nesting -= 1
        self.memo[key] = measured
        return measured

    def field(self, node: FieldNode, parent: GraphQLNamedType | None, sized: bool) -> Figures:
        name = node.name.value
        aliases = 1 if node.alias is not None else 0
        if name == "__typename":
            return Figures(0, aliases, 0)
        definition = self._definition(parent, name)
        if node.selection_set is None:
            return Figures(0, aliases, 0 if self.introspecting else 1)
        return_type = definition.type if definition is not None else None
        own_size = self._size(node, definition)
        multiplier = 1
        by_size = False  # the list's size is the one inherited (``per_size``)
        if _is_list(return_type):
            if own_size is not None:
                multiplier = own_size
            elif sized and name in ("edges", "nodes"):
                by_size = True
            else:
                multiplier = self.limits.list_estimate
            own_size = None  # a list's size is spent on the list itself
        child_type = get_named_type(return_type) if return_type is not None else None
        introspection = name.startswith("__")
        outer, self.introspecting = self.introspecting, self.introspecting or introspection
        try:
            inner = self.selection_set(
                node.selection_set,
                child_type if child_type is not None and is_composite_type(child_type) else None,
                own_size,
            )
        finally:
            self.introspecting = outer
        return Figures(
            0 if introspection else inner.depth + 1,
            aliases + inner.aliases,
            1 if by_size else 1 + multiplier * inner.cost,
            inner.breadth,
            inner.repeats,
            inner.cost if by_size else 0,
        )

    def _definition(self, parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
        if name == "__schema":
            return SchemaMetaFieldDef
        if name == "__type":
            return TypeMetaFieldDef
        fields = getattr(parent, "fields", None)
        return fields.get(name) if fields else None

    def _size(self, node: FieldNode, definition: GraphQLField | None) -> int | None:
        """The list size a field's arguments ask for, or None when it has no size argument."""
        cap = self.limits.max_page_size
        given = {a.name.value: a.value for a in node.arguments or ()}
        for argument in SIZE_ARGUMENTS:
            declared = definition.args.get(argument) if definition is not None else None
            if argument not in given and declared is None:
                continue
            value = given.get(argument)
            if isinstance(value, IntValueNode):
                try:
                    return max(0, min(int(value.value), cap))
                except ValueError:
                    return cap
            if isinstance(value, VariableNode) or value is not None:
                return cap
            default = declared.default_value if declared is not None else None
            if isinstance(default, int):
                return max(0, min(default, cap))
            return self.limits.default_page_size
        return None


def _is_list(type_: Any) -> bool:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


def measure(schema: GraphQLSchema, document: DocumentNode, limits: Limits) -> Measurement:
    """The largest figures of the document's operations (each operation measured; the
    fragments they share measured once). Breadth also counts fragments no operation uses."""
    meter = _Meter(schema, document, limits)
    depth = aliases = cost = breadth = repeats = 0
    try:
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                figures = meter.operation(definition)
                depth = max(depth, figures.depth)
                aliases = max(aliases, figures.aliases)
                cost = max(cost, figures.cost)
                breadth = max(breadth, figures.breadth)
                repeats = max(repeats, figures.repeats)
        for name in meter.fragments:  # validation reads unused fragments too
            figures = meter.spread(name)
            breadth = max(breadth, figures.breadth)
            repeats = max(repeats, figures.repeats)
    except _TooNested:
        too_nested = True
    else:
        too_nested = False
    return Measurement(
        Figures(depth, aliases, cost, breadth, repeats), meter.visited, too_nested=too_nested
    )
