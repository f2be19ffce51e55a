"""The Strawberry ASGI view: builds the per-request context (viewer, loaders) and refuses
malformed requests, over HTTP and over the websocket, before GraphQL sees them."""

from __future__ import annotations

import json
import logging
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.types.graphql import OperationType

from ncm.config import Settings
from ncm.kit.text import valid_unicode
from ncm.schema.context import Context, read_authorization
from ncm.schema.ide import graphiql_html
from ncm.schema.schema import get_schema

log = logging.getLogger("ncm.graphql")

INVALID_UNICODE = "The request holds text that is not valid Unicode (an unpaired surrogate)."


class BadOperation(ValueError):
    """An operation's parts are not what GraphQL takes (the message says why)."""


def prepared_variables(query: Any, variables: Any, operation_name: Any) -> Any:
    """An operation's variables as the services may take them, over HTTP and over the
    websocket alike: NUL characters, which no text column can hold, removed from every
    string. Parts of the wrong type, or text that is not valid Unicode, are ``BadOperation``."""
    if not isinstance(query, str | None) or not isinstance(operation_name, str | None):
        raise BadOperation("`query` and `operationName` must be strings.")
    if not isinstance(variables, dict | None):
        raise BadOperation("`variables` must be an object.")
    if not all(valid_unicode(text) for text in (query, operation_name) if text is not None):
        raise BadOperation(INVALID_UNICODE)
    return _clean(variables)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        if not valid_unicode(value):
            raise BadOperation(INVALID_UNICODE)
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def client_ip(request: Request | WebSocket) -> str:
    # Behind a proxy, run uvicorn with --proxy-headers so this is the real client address.
    return request.client.host if request.client else "unknown"


class TransportWsHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with the same input rules as HTTP: a message that is not an
    object with a type, or an operation whose parts have the wrong types or invalid Unicode,
    closes the socket with 4400 (the protocol's answer to an invalid message) instead of
    failing inside the handler; NUL characters are removed from variables."""

    async def handle_message(self, message: Any) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.handle_invalid_message("A message must be an object with a type.")
            return
        if message["type"] == "subscribe":
            payload = message.get("payload")
            if not isinstance(message.get("id"), str) or not isinstance(payload, dict):
                await self.handle_invalid_message("subscribe needs an id and a payload object.")
                return
            query = payload.get("query")
            try:
                if not isinstance(query, str):
                    raise BadOperation("subscribe needs a query.")
                variables = prepared_variables(
                    query, payload.get("variables"), payload.get("operationName")
                )
            except BadOperation as exc:
                await self.handle_invalid_message(str(exc))
                return
            message = {**message, "payload": {**payload, "variables": variables}}
        await super().handle_message(message)


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TransportWsHandler

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
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

    @property
    def graphql_ide_html(self) -> str:
        return graphiql_html()

    def is_websocket_origin_allowed(self, request: Any, origin: str) -> bool:
        if self.settings.origin_allowed(origin.rstrip("/")):
            return True
        log.warning("websocket from origin %s refused: add it to NCM_ALLOWED_ORIGINS", origin)
        return False

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

    def decode_json(self, data: str | bytes) -> object:
        """Text that is not JSON in UTF-8, nests too deep or holds absurd numbers is not JSON:
        400 for a request, close code 4400 for a websocket message."""
        try:
            return json.loads(data)
        except (UnicodeDecodeError, RecursionError, ValueError) as exc:
            raise json.JSONDecodeError(f"not valid JSON ({type(exc).__name__})", "", 0) from exc

    async def parse_http_body(self, request: Any) -> Any:
        try:
            parsed = await super().parse_http_body(request)
        except AttributeError as exc:  # JSON that is not an object (null, 42, "q")
            raise HTTPException(400, "The request body must be a JSON object.") from exc
        for data in parsed if isinstance(parsed, list) else [parsed]:
            try:
                data.variables = prepared_variables(data.query, data.variables, data.operation_name)
            except BadOperation as exc:
                raise HTTPException(400, str(exc)) from exc
        return parsed

    async def execute_single(
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: Context,
        root_value: Any,
        request_data: Any,
    ) -> Any:
        """Queries by GET or POST, mutations by POST (GET: 405 Method Not Allowed),
        subscriptions only over the websocket (400 here, not an internal error)."""
        method = request_adapter.method
        allowed = {OperationType.QUERY} | ({OperationType.MUTATION} if method == "POST" else set())
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from exc
        except InvalidOperationTypeError as exc:
            if exc.operation_type == OperationType.SUBSCRIPTION:
                raise HTTPException(
                    400, "Subscriptions run over a websocket (graphql-transport-ws) at /graphql."
                ) from exc
            raise HTTPException(405, exc.as_http_error_reason(method)) from exc
        except MissingQueryError as exc:
            raise HTTPException(400, "No GraphQL query found in the request") from exc

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
