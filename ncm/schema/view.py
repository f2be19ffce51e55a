"""The Strawberry ASGI view: builds the per-request context (viewer, loaders)."""

from __future__ import annotations

import json
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.graphql import OperationType

from ncm.config import Settings
from ncm.schema.context import Context, read_authorization
from ncm.schema.schema import get_schema

INVALID_UNICODE = "The request holds text that is not valid Unicode (an unpaired surrogate)."


def _valid_unicode(text: str | None) -> bool:
    if text is None:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_text(value: Any) -> Any:
    """Variables as the services may take them: NUL characters (which no text column can
    hold) removed from every string; text that is not valid Unicode refused (400)."""
    if isinstance(value, str):
        if not _valid_unicode(value):
            raise HTTPException(400, INVALID_UNICODE)
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {clean_text(k): clean_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_text(v) for v in value]
    return value


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

    def decode_json(self, data: str | bytes) -> object:
        """Bodies that are not JSON in UTF-8, nest too deep or hold absurd numbers are 400."""
        try:
            return json.loads(data)
        except (UnicodeDecodeError, RecursionError, ValueError) as exc:
            raise HTTPException(400, "The request body is not valid JSON in UTF-8.") from exc

    async def parse_http_body(self, request: Any) -> Any:
        try:
            parsed = await super().parse_http_body(request)
        except AttributeError as exc:  # JSON that is not an object (null, 42, "q")
            raise HTTPException(400, "The request body must be a JSON object.") from exc
        for data in parsed if isinstance(parsed, list) else [parsed]:
            data.variables = clean_text(data.variables)
            if not all(map(_valid_unicode, (data.query, data.operation_name))):
                raise HTTPException(400, INVALID_UNICODE)
        return parsed

    async def execute_single(
        self, request: Any, request_adapter: Any, sub_response: Any, context: Context,
        root_value: Any, request_data: Any,
    ) -> Any:  # fmt: skip
        """Queries by GET or POST, mutations by POST (GET: 405 Method Not Allowed),
        subscriptions only over the websocket (400 here, not an internal error)."""
        method = request_adapter.method
        allowed = {OperationType.QUERY} | ({OperationType.MUTATION} if method == "POST" else set())
        try:
            return await self.schema.execute(
                request_data.query, root_value=root_value,
                variable_values=request_data.variables, context_value=context,
                operation_name=request_data.operation_name, allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )  # fmt: skip
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
