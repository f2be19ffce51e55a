"""Which GraphQL operations read from the replica (``ncm.kit.replica``).

A query whose root fields are all lag-tolerant -- the catalog and search, public profiles
and playlists, comment pages, reports -- reads from the replica when it is usable and the
viewer has not written within ``NCM_REPLICA_STICKY_MS``. Anything else (the viewer's own
account, playback decisions, moderation queues, promotions served, every mutation and
subscription) reads from the primary. A mutation by a logged-in viewer keeps that viewer's
reads on the primary for a while, so they see what they wrote.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from ncm.kit import replica

# Root query fields whose answer may be a little stale (at most NCM_REPLICA_MAX_LAG_MS).
LAG_TOLERANT = frozenset(
    {
        "__typename",
        # catalog and search
        "track",
        "album",
        "artist",
        "genres",
        "tracks",
        "search",
        "searchSuggestions",
        # public profiles and playlists
        "user",
        "playlist",
        # comment pages
        "commentThread",
        "comments",
        "comment",
        # reports
        "revenueReport",
        "listeningMix",
        "campaignReport",
        "partnerReport",
    }
)


def root_fields(document: DocumentNode, operation_name: str | None) -> set[str] | None:
    """The root field names an operation selects (through fragments), or None when the
    document does not say which operation runs."""
    operation = get_operation_ast(document, operation_name)
    if not isinstance(operation, OperationDefinitionNode):
        return None
    fragments = {
        d.name.value: d.selection_set
        for d in document.definitions
        if isinstance(d, FragmentDefinitionNode)
    }
    names: set[str] = set()
    pending: list[SelectionSetNode] = [operation.selection_set]
    seen: set[str] = set()
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                names.add(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in seen or name not in fragments:
                    continue
                seen.add(name)
                pending.append(fragments[name])
    return names


def lag_tolerant(document: DocumentNode | None, operation_name: str | None) -> bool:
    if document is None:
        return False
    names = root_fields(document, operation_name)
    return bool(names) and names is not None and names <= LAG_TOLERANT


@asynccontextmanager
async def routed_reads(
    context: Any,
    document: DocumentNode | None,
    operation_name: str | None,
    operation: OperationType,
) -> AsyncIterator[None]:
    """Runs the body (an operation's execution) on the replica when the operation is a
    lag-tolerant query and the viewer may read there; marks a mutation as the viewer's write.
    Shared by ``ReadRouting`` and the view's lean lane (``ncm.schema.lane``)."""
    if not replica.configured():
        yield
        return
    viewer_id = getattr(context, "viewer_id", None)
    route = (
        operation == OperationType.QUERY
        and lag_tolerant(document, operation_name)
        and await replica.may_read_replica(viewer_id)
    )
    with replica.route_reads(route):
        yield
    if operation == OperationType.MUTATION:
        await replica.wrote(viewer_id)


class ReadRouting(SchemaExtension):
    """Runs a lag-tolerant query's reads on the replica; marks a viewer's writes."""

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        async with routed_reads(
            execution.context,
            execution.graphql_document,
            execution.operation_name,
            execution.operation_type,
        ):
            yield
