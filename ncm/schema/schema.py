"""The GraphQL schema: Query, Mutation and Subscription composed from one class per domain."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import AddValidationRules
from strawberry.extensions.disable_introspection import DisableIntrospection
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from ncm.config import get_settings
from ncm.schema import resolvers
from ncm.schema.accounts.mutations import AccountsMutation
from ncm.schema.accounts.queries import AccountsQuery
from ncm.schema.base import (
    BadCredentialsError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
)
from ncm.schema.billing.mutations import BillingMutation
from ncm.schema.billing.queries import BillingQuery
from ncm.schema.catalog.queries import CatalogQuery
from ncm.schema.catalog.types import Album, Artist, Genre, Track
from ncm.schema.comments.mutations import CommentsMutation
from ncm.schema.comments.queries import CommentsQuery
from ncm.schema.comments.subscriptions import CommentsSubscription
from ncm.schema.compensation.mutations import CompensationMutation
from ncm.schema.compensation.queries import CompensationQuery
from ncm.schema.cost import Limits
from ncm.schema.executor import PlainFieldExecutor
from ncm.schema.extensions import Guard, Guarded, Metrics, process_errors
from ncm.schema.finance.mutations import FinanceMutation
from ncm.schema.finance.queries import FinanceQuery
from ncm.schema.incidents.mutations import IncidentsMutation
from ncm.schema.incidents.queries import IncidentsQuery
from ncm.schema.playlists.mutations import PlaylistsMutation
from ncm.schema.playlists.queries import PlaylistsQuery
from ncm.schema.playlists.types import Playlist
from ncm.schema.promotion.mutations import PromotionMutation
from ncm.schema.promotion.queries import PromotionQuery
from ncm.schema.routing import ReadRouting
from ncm.schema.rules import NoNulInStrings
from ncm.schema.scalars import SCALAR_OVERRIDES
from ncm.schema.stream.mutations import PlaybackMutation
from ncm.schema.stream.queries import PlaybackQuery


@strawberry.type
class Query(
    AccountsQuery,
    CatalogQuery,
    PlaylistsQuery,
    CommentsQuery,
    PlaybackQuery,
    BillingQuery,
    IncidentsQuery,
    CompensationQuery,
    FinanceQuery,
    PromotionQuery,
):
    pass


@strawberry.type
class Mutation(
    AccountsMutation,
    PlaylistsMutation,
    CommentsMutation,
    PlaybackMutation,
    BillingMutation,
    IncidentsMutation,
    CompensationMutation,
    FinanceMutation,
    PromotionMutation,
):
    pass


@strawberry.type
class Subscription(CommentsSubscription):
    pass


def build_schema(
    *, production: bool | None = None, fast_executor: bool | None = None
) -> strawberry.Schema:
    settings = get_settings()
    production = settings.production if production is None else production
    fast_executor = settings.fast_executor if fast_executor is None else fast_executor
    # One guard per schema parses, measures (depth, aliases, cost: ncm.schema.cost) and
    # validates every document, and caches each outcome by the document's text (a refused
    # document stays refused). It replaces Strawberry's ParserCache, ValidationCache,
    # MaxTokensLimiter, QueryDepthLimiter and MaxAliasesLimiter: the last two expanded
    # every fragment spread again, exponential in a document of fragments spreading twice.
    guard = Guard(
        Limits(
            max_depth=settings.graphql_max_depth,
            max_aliases=settings.graphql_max_aliases,
            max_cost=settings.graphql_max_cost,
            max_breadth=settings.graphql_max_breadth,
            max_page_size=settings.max_page_size,
        ),
        max_tokens=settings.graphql_max_tokens,
        hide_suggestions=production,
        validation_budget_ms=settings.graphql_validation_budget_ms,
    )
    rules: list[type[ASTValidationRule]] = [
        NoNulInStrings
    ]  # one list for the schema's life: the guard caches by the rules
    extensions: list = [
        lambda: AddValidationRules(rules),
        lambda: Guarded(guard),
        Metrics,
        ReadRouting,
    ]
    if production:
        extensions.append(DisableIntrospection)
    schema = NcmSchema(
        mask_errors=production,
        guard=guard,
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[
            Track,
            Playlist,
            Album,
            Artist,
            Genre,
            InvalidInputError,
            NotFoundError,
            ConflictError,
            BadCredentialsError,
            RateLimitedError,
        ],
        extensions=extensions,
        # NCM_FAST_EXECUTOR=0: graphql-core's own executor (CI runs the API tests both ways).
        execution_context_class=PlainFieldExecutor if fast_executor else None,
        config=StrawberryConfig(auto_camel_case=True),
        scalar_overrides=SCALAR_OVERRIDES,  # DateTime parsed faster (ncm/schema/scalars.py)
    )
    if fast_executor:  # NCM_FAST_EXECUTOR=0 leaves every resolver to Strawberry
        resolvers.install(schema)
    return schema


class NcmSchema(strawberry.Schema):
    """Codes on every top-level error; unexpected ones logged with the request id, and their
    message masked in production."""

    def __init__(self, *args: Any, mask_errors: bool, guard: Guard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mask_errors = mask_errors
        self.guard = guard

    def _get_custom_context_kwargs(
        self, operation_extensions: dict[str, Any] | None = None, *, sync: bool = False
    ) -> dict[str, Any]:
        """In production, variable errors name no enum values or fields either ("Did you
        mean ...?" would rebuild the schema that turning introspection off hides)."""
        kwargs = super()._get_custom_context_kwargs(operation_extensions, sync=sync)
        if self.guard.hide_suggestions:
            kwargs["hide_suggestions"] = True
        return kwargs

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        process_errors(errors, execution_context, mask=self.mask_errors)


@lru_cache(maxsize=2)
def get_schema(production: bool = False) -> strawberry.Schema:
    return build_schema(production=production)


def sdl() -> str:
    return get_schema(False).as_str() + "\n"
