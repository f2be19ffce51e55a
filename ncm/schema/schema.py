"""The GraphQL schema: Query, Mutation and Subscription composed from one class per domain."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.extensions.disable_introspection import DisableIntrospection
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from ncm.config import get_settings
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
from ncm.schema.executor import PlainFieldExecutor
from ncm.schema.extensions import Metrics, process_errors
from ncm.schema.finance.mutations import FinanceMutation
from ncm.schema.finance.queries import FinanceQuery
from ncm.schema.incidents.mutations import IncidentsMutation
from ncm.schema.incidents.queries import IncidentsQuery
from ncm.schema.playlists.mutations import PlaylistsMutation
from ncm.schema.playlists.queries import PlaylistsQuery
from ncm.schema.playlists.types import Playlist
from ncm.schema.promotion.mutations import PromotionMutation
from ncm.schema.promotion.queries import PromotionQuery
from ncm.schema.rules import NoNulInStrings
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


def build_schema(*, production: bool | None = None) -> strawberry.Schema:
    settings = get_settings()
    production = settings.production if production is None else production
    # The limiters build their validation rule classes in __init__: build them once, or every
    # request brings new rule classes and ValidationCache (keyed by the rules) never hits.
    limit_rules = [
        *QueryDepthLimiter(max_depth=settings.graphql_max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases).validation_rules,
        NoNulInStrings,
    ]
    extensions: list = [
        lambda: AddValidationRules(limit_rules),
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
        Metrics,
    ]
    if production:
        extensions.append(DisableIntrospection)
    return NcmSchema(
        mask_errors=production,
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
        execution_context_class=PlainFieldExecutor,
        config=StrawberryConfig(auto_camel_case=True),
    )


class NcmSchema(strawberry.Schema):
    """Codes on every top-level error; unexpected ones logged with the request id, and their
    message masked in production."""

    def __init__(self, *args: Any, mask_errors: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mask_errors = mask_errors

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        process_errors(errors, execution_context, mask=self.mask_errors)


@lru_cache(maxsize=2)
def get_schema(production: bool = False) -> strawberry.Schema:
    return build_schema(production=production)


def sdl() -> str:
    return get_schema(False).as_str() + "\n"
