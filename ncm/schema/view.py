"""The Strawberry ASGI view: builds the per-request context (viewer, loaders)."""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from ncm.config import Settings
from ncm.schema.context import Context, read_authorization
from ncm.schema.schema import get_schema


def client_ip(request: Request | WebSocket) -> str:
    # Behind a proxy, run uvicorn with --proxy-headers so this is the real client address.
    return request.client.host if request.client else "unknown"


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, settings: Settings) -> None:
        super().__init__(
            get_schema(settings.production),
            graphql_ide=None if settings.production else "graphiql",
            allow_queries_via_get=True,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            allowed_origins=settings.allowed_origins,
            keep_alive=True,
            keep_alive_interval=15,
            max_subscriptions_per_connection=20,
        )

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        claims, invalid = read_authorization(request.headers.get("authorization"))
        return Context(
            request=request,
            response=response,
            claims=claims,
            token_invalid=invalid,
            client_ip=client_ip(request),
            user_agent=request.headers.get("user-agent", "")[:255],
        )

    async def execute_single(self, *args: Any, **kwargs: Any) -> Any:
        """GraphQL-over-HTTP: a mutation sent with GET is 405 Method Not Allowed, not 400."""
        try:
            return await super().execute_single(*args, **kwargs)
        except HTTPException as exc:
            adapter = kwargs.get("request_adapter")
            if (
                exc.status_code == 400
                and adapter is not None
                and adapter.method == "GET"
                and ("not allowed when using GET" in exc.reason)
            ):
                raise HTTPException(405, exc.reason) from exc
            raise

    async def on_ws_connect(self, context: Context) -> Any:
        """Websocket clients authenticate with ``{"authorization": "Bearer ..."}`` in init."""
        params = context.connection_params or {}
        if not isinstance(params, dict):
            raise ConnectionRejectionError()
        auth = params.get("authorization") or params.get("Authorization")
        if auth:
            claims, invalid = read_authorization(auth)
            if invalid:
                raise ConnectionRejectionError({"message": "invalid or expired token"})
            context.claims = claims
        return await super().on_ws_connect(context)
