"""The Strawberry ASGI view: builds the per-request context (viewer, loaders) and refuses
malformed requests, over HTTP and over the websocket, before GraphQL sees them."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import GraphQLError, GraphQLSyntaxError
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET

from ncm.config import Settings
from ncm.kit.text import valid_unicode
from ncm.schema.context import (
    Context,
    playback_region,
    read_authorization,
    refusal_extensions,
    token_refusal,
)
from ncm.schema.extensions import OperationRefused
from ncm.schema.ide import graphiql_html
from ncm.schema.persisted import (
    BadPersistedQuery,
    PersistedQueries,
    not_found_error,
    requested_hash,
)
from ncm.schema.schema import get_schema

log = logging.getLogger("ncm.graphql")

INVALID_UNICODE = "The request holds text that is not valid Unicode (an unpaired surrogate)."


class BadOperation(ValueError):
    """An operation's parts are not what GraphQL takes (the message says why)."""


class TooDeep(BadOperation):
    """Variables nested deeper than ``MAX_VARIABLE_DEPTH``: a well-formed message asking
    for too much, answered as an operation error (over the websocket: an ``error`` message
    for that operation, the connection stays)."""


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


# Variables nested deeper than any input type of the schema are refused before anything
# walks them (a 500-level list used to exhaust the stack in this module's walk).
MAX_VARIABLE_DEPTH = 32


def _clean_text(value: str) -> str:
    if not valid_unicode(value):
        raise BadOperation(INVALID_UNICODE)
    return value.replace("\x00", "") if "\x00" in value else value


def _clean(value: Any) -> Any:
    """``value`` with every string cleaned (a copy when one needs it); nesting past
    ``MAX_VARIABLE_DEPTH`` is ``BadOperation``.

    The usual case costs two passes in C and one over the containers: orjson encodes the
    whole value (it refuses an unpaired surrogate, and writes a NUL as ``\\u0000``), and
    when neither is there the value is returned as it is once its depth is checked. Anything
    else takes the walk below."""
    if isinstance(value, str):
        return _clean_text(value)
    if not isinstance(value, dict | list):
        return value
    try:
        encoded = orjson.dumps(value)
    except TypeError:  # an unpaired surrogate (or nothing JSON holds): the walk says which
        encoded = b"\\u0000"
    if b"\\u0000" not in encoded:
        level, depth = [value], 1
        while level:
            if depth > MAX_VARIABLE_DEPTH:
                raise TooDeep(f"`variables` nest more than {MAX_VARIABLE_DEPTH} levels deep.")
            level = [
                v
                for c in level
                for v in (c.values() if isinstance(c, dict) else c)
                if isinstance(v, dict | list)
            ]
            depth += 1
        return value
    return _walk(value)


def _walk(value: Any) -> Any:
    """A copy of ``value`` (a dict or a list) with every string cleaned, walked without
    recursion; nesting past ``MAX_VARIABLE_DEPTH`` is ``BadOperation``."""
    holder: list[Any] = [None]
    stack: list[tuple[Any, Any, Any, int]] = [(value, holder, 0, 1)]
    while stack:
        source, target, key, depth = stack.pop()
        if isinstance(source, str):
            target[key] = _clean_text(source)
        elif isinstance(source, dict | list):
            if depth > MAX_VARIABLE_DEPTH:
                raise TooDeep(f"`variables` nest more than {MAX_VARIABLE_DEPTH} levels deep.")
            if isinstance(source, dict):
                copy: Any = {}
                for k, v in source.items():
                    clean_key = _clean_text(k) if isinstance(k, str) else k
                    copy[clean_key] = None
                    stack.append((v, copy, clean_key, depth + 1))
            else:
                copy = [None] * len(source)
                stack.extend((v, copy, i, depth + 1) for i, v in enumerate(source))
            target[key] = copy
        else:
            target[key] = source
    return holder[0]


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
            except TooDeep as exc:
                error = GraphQLError(str(exc), extensions={"code": "BAD_REQUEST"})
                await self.send_message(
                    {"id": message["id"], "type": "error", "payload": [error.formatted]}
                )
                return
            except BadOperation as exc:
                await self.handle_invalid_message(str(exc))
                return
            message = {**message, "payload": {**payload, "variables": variables}}
        await super().handle_message(message)

    async def _handle_pre_execution_error(self, operation: Any, result: Any) -> None:
        """A syntax error is the operation's error (an ``error`` message for its id), as the
        graphql-transport-ws protocol has it, not a reason to close the connection."""
        if result.errors and isinstance(result.errors[0], GraphQLSyntaxError):
            await operation.send_initial_errors(result.errors)
            return
        await super()._handle_pre_execution_error(operation, result)


GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


def negotiate(accept: str | None) -> str:
    """``application/graphql-response+json`` when the client accepts it (and does not
    prefer ``application/json``), else ``application/json`` (the legacy default, also for
    a missing or a wildcard ``Accept``)."""
    if not accept:
        return JSON
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[media.lower()] = max(q, weights.get(media.lower(), 0.0))
    ours = weights.get(GRAPHQL_RESPONSE, 0.0)
    if ours > 0 and ours >= weights.get(JSON, 0.0):
        return GRAPHQL_RESPONSE
    return JSON


def encode_json_bytes(data: object) -> bytes:
    """UTF-8 JSON as it is (晴天, not ``\\u6674\\u5929``: half the bytes of a Chinese page),
    written by orjson; what orjson refuses (an integer past 64 bits in a JSON scalar) is
    written by the standard library instead."""
    try:
        return orjson.dumps(data)
    except TypeError:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def if_none_match(value: str | None) -> set[str]:
    """The entity tags of an ``If-None-Match`` header (weak ones compared as strong: the
    comparison for a GET is the weak one, RFC 9110 13.1.2)."""
    if not value:
        return set()
    return {tag.strip().removeprefix("W/") for tag in value.split(",") if tag.strip()}


def is_request_error(result: Any) -> bool:
    """The request failed before execution: parse, validation, variable coercion, a limit.
    Such a response has no ``data`` entry (GraphQL spec, "Response")."""
    if result.data is not None or not result.errors:
        return False
    return isinstance(result, PreExecutionError) or all(e.path is None for e in result.errors)


def is_refused(result: Any) -> bool:
    return any(isinstance(e, OperationRefused) for e in result.errors or ())


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
        self.geo_header = settings.geo_header
        self.persisted = PersistedQueries()
        self.vary = ", ".join(
            ["Accept", "Authorization", *([settings.geo_header] if settings.geo_header else [])]
        )

    @property
    def graphql_ide_html(self) -> str:
        return graphiql_html()

    def should_render_graphql_ide(self, request: Any) -> bool:
        """A GET naming a persisted query (``extensions``) is an operation, not the IDE."""
        if "extensions" in request.query_params:
            return False
        return super().should_render_graphql_ide(request)

    def is_websocket_origin_allowed(self, request: Any, origin: str) -> bool:
        if self.settings.origin_allowed(origin.rstrip("/")):
            return True
        log.warning("websocket from origin %s refused: add it to NCM_ALLOWED_ORIGINS", origin)
        return False

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        claims, problem = read_authorization(request.headers.get("authorization"))
        return Context(
            request=request,
            response=response,
            claims=claims,
            token_problem=problem,
            client_ip=client_ip(request),
            user_agent=request.headers.get("user-agent", "")[:255],
            playback_region=playback_region(self.geo_header, request.headers),
        )

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = negotiate(request.headers.get("accept"))
        return sub_response

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        """Strawberry's, in the media type the client asked for, the body as UTF-8 bytes."""
        response = Response(encode_json_bytes(response_data), status_code=200)
        response.headers.raw.extend(sub_response.headers.raw)
        if sub_response.background:
            response.background = sub_response.background
        if sub_response.status_code:
            response.status_code = sub_response.status_code
        media_type = sub_response.media_type or JSON
        response.headers["content-type"] = f"{media_type}; charset=utf-8"
        return response

    async def process_result(self, request: Request, result: ExecutionResult) -> Any:
        """Pre-execution failures have no ``data`` entry under
        ``application/graphql-response+json`` and when a limit refused the operation;
        ``application/json`` keeps ``"data": null`` for them (what apps read today)."""
        response = await super().process_result(request, result)
        media_type = negotiate(request.headers.get("accept"))
        if is_request_error(result) and (media_type == GRAPHQL_RESPONSE or is_refused(result)):
            response.pop("data", None)
        return response

    def encode_json(self, data: object) -> str:
        """Text for the websocket's messages (HTTP answers take ``encode_json_bytes``)."""
        return encode_json_bytes(data).decode()

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """Strawberry's, plus validators on a public GET answer: an ``ETag`` (the body and
        its media type hashed), and 304 Not Modified when ``If-None-Match`` holds it."""
        response = await super().run(request, context, root_value)
        if not isinstance(request, Request):
            return response
        return self.validators(request, response)

    def validators(self, request: Request, response: Response) -> Response:
        """A public GET answer with its ``ETag``; 304 when ``If-None-Match`` holds it."""
        if request.method != "GET":
            return response
        if not response.headers.get("cache-control", "").startswith("public"):
            return response
        digest = hashlib.sha256(response.body)
        digest.update(response.headers.get("content-type", "").encode())
        etag = f'"{digest.hexdigest()[:32]}"'
        response.headers["etag"] = etag
        if etag in if_none_match(request.headers.get("if-none-match")):
            kept = {k: response.headers[k] for k in ("etag", "cache-control", "vary")}
            return Response(status_code=304, headers=kept)
        return response

    def cache_headers(self, request: Any, context: Context, result: Any, sub_response: Any) -> None:
        """A GET answer is public (``Cache-Control: public, max-age=N``, then an ``ETag``)
        when it carries no credentials, no error and nothing a resolver marked personal
        (``Context.personal``: signed URLs, a profile built from the client's address);
        every other GET answer is ``private, no-store``."""
        public = (
            self.settings.graphql_public_max_age > 0
            and not result.errors
            and not context.personal
            and context.claims is None
            and "authorization" not in request.headers
            and sub_response.status_code in (None, 200)
        )
        sub_response.headers["cache-control"] = (
            f"public, max-age={self.settings.graphql_public_max_age}"
            if public
            else "private, no-store"
        )
        sub_response.headers["vary"] = self.vary

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
        subscriptions only over the websocket (400 here, not an internal error).

        A request carrying a bearer token that is forged, expired or revoked is not run at
        all: an ``UNAUTHENTICATED`` error, public fields included, so an app knows to
        refresh instead of showing logged-out data (HTTP 200 under ``application/json``, as
        that media type asks for a request GraphQL understood; 401 with
        ``WWW-Authenticate`` under ``application/graphql-response+json``). An operation
        refused by a limit is 400; under ``application/graphql-response+json`` so is every
        request error (parse, validation, variables)."""
        if context.token_invalid:
            sub_response.headers["www-authenticate"] = 'Bearer error="invalid_token"'
            if sub_response.media_type == GRAPHQL_RESPONSE:
                sub_response.status_code = 401
            refusal = context.token_refusal()
            error = GraphQLError(refusal.message, extensions=refusal_extensions(refusal))
            return PreExecutionError(data=None, errors=[error])
        method = request_adapter.method
        allowed = {OperationType.QUERY} | ({OperationType.MUTATION} if method == "POST" else set())
        query = request_data.query
        try:
            digest = requested_hash(request_data.extensions)
            if digest is not None:
                query = self.persisted.resolve(digest, query)
        except BadPersistedQuery as exc:
            raise HTTPException(400, str(exc)) from exc
        if query is None and digest is not None:  # the client sends the text next time
            if sub_response.media_type == GRAPHQL_RESPONSE:
                sub_response.status_code = 400
            return PreExecutionError(data=None, errors=[not_found_error()])
        try:
            result = await self.schema.execute(
                query,
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
        self.settle(request, context, result, sub_response)
        return result

    def settle(self, request: Request, context: Context, result: Any, sub_response: Any) -> None:
        """An executed operation's status and caching headers: 400 for an operation a limit
        refused, and under ``application/graphql-response+json`` for every request error;
        a GET answer's ``Cache-Control`` (``cache_headers``)."""
        if is_refused(result) or (
            sub_response.media_type == GRAPHQL_RESPONSE and is_request_error(result)
        ):
            sub_response.status_code = 400
        if request.method == "GET":
            self.cache_headers(request, context, result, sub_response)

    async def on_ws_connect(self, context: Context) -> Any:
        """Websocket clients authenticate with ``{"authorization": "Bearer ..."}`` in init."""
        params = context.connection_params or {}
        if not isinstance(params, dict):
            raise ConnectionRejectionError()
        auth = params.get("authorization") or params.get("Authorization")
        if auth:
            claims, problem = read_authorization(auth)
            if problem is not None:
                refusal = token_refusal(problem)
                raise ConnectionRejectionError(
                    {"message": refusal.message, **refusal_extensions(refusal)}
                )
            context.claims = claims
        return await super().on_ws_connect(context)
