"""The lean lane: the common GraphQL request served without Strawberry's HTTP view machinery
and schema-extension runner, with the same answer.

Why: on a page like the track page (issue #18) Strawberry's generic path -- the request
adapter, per-request extension instances driven through async context managers for each of
operation, parsing, validation and execution, the execution context and the result
conversions -- costs a large share of the server's CPU for what is, on a warm process, a
dictionary lookup and a call to graphql-core's ``execute``.

What it serves: one ``POST`` with ``Content-Type: application/json`` or one ``GET`` naming a
``query`` or ``extensions``; a query (or, by POST, a mutation); a document the schema's
``Guard`` has already parsed, measured and validated without errors (the first request for a
document takes the long way, which fills that cache); a bearer token that is absent or
valid. It runs the same steps with the same helpers: the body's checks
(``prepared_variables``), persisted queries, the guard's cache, the context
(``GraphQLView.get_context``), replica routing (``routed_reads``), graphql-core's
``execute`` with the schema's executor and arguments, error codes and masking
(``NcmSchema.process_errors``), metrics (``observe_operation``), status codes and caching
headers (``GraphQLView.settle``), the response body (``process_result``,
``create_response``) and the ETag (``GraphQLView.run``).

Everything else -- batches, a body that is not one JSON object or that ``orjson`` refuses,
anything malformed, an unknown persisted hash, a refused or invalid document, a refused
token, subscriptions, the GraphiQL page, websockets -- leaves the lane before anything has a
side effect, and Strawberry serves the request from the same ``Request`` (its body read
once). ``NCM_FAST_EXECUTOR=0`` turns the lane off with the fast executor (``ncm.app``).
"""

from __future__ import annotations

import time
from inspect import isawaitable
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import ExecutionResult as CoreResult
from graphql import GraphQLError, execute
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions import AddValidationRules
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema._graphql_core import execution_context_class_kwargs
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET

from ncm.config import Settings
from ncm.schema.extensions import Guarded, Metrics, observe_operation
from ncm.schema.persisted import BadPersistedQuery, requested_hash
from ncm.schema.routing import ReadRouting, routed_reads
from ncm.schema.schema import NcmSchema
from ncm.schema.view import BadOperation, GraphQLView, prepared_variables

JSON_BODY = "application/json"
_BY_GET = frozenset({OperationType.QUERY})
_BY_POST = frozenset({OperationType.QUERY, OperationType.MUTATION})


# The schema extensions whose work the lane does itself (or which only add validation
# rules, already applied by the guard's cached validation). A schema with any other
# extension is served the long way: the lane would skip its hooks.
MIRRORED = (AddValidationRules, Guarded, Metrics, ReadRouting)


class RequestHeaders(Headers):
    """Starlette's request headers with ``get`` answering a missing header without raising
    and catching a ``KeyError`` (``Mapping.get``'s way): a request asks for six or seven
    headers, most of them absent (authorization, origin, a CDN's country...)."""

    def get(self, key: str, default: Any = None) -> Any:
        wanted = key.lower().encode("latin-1")
        for name, value in self._list:
            if name == wanted:
                return value.decode("latin-1")
        return default


class LaneView(GraphQLView):
    """``GraphQLView`` with the lean lane in front of Strawberry's ``run``."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        schema = self.schema
        self.lane_open = (
            isinstance(schema, NcmSchema)
            and all(isinstance(e, MIRRORED) for e in schema.get_extensions())
            and not self._stream_transport_map  # HTTP streams (SSE, multipart) are Strawberry's
            and not self.multipart_uploads_enabled
        )

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if (
            self.lane_open
            and isinstance(request, Request)
            and context is UNSET
            and root_value is UNSET
        ):
            response = await self.lean(request)
            if response is not None:
                return self.validators(request, response)
        return await super().run(request, context, root_value)

    async def lean(self, request: Request) -> Response | None:
        """The response to ``request``, or ``None`` when Strawberry must serve it."""
        if not hasattr(request, "_headers"):  # what ``Request.headers`` would make, but faster
            request._headers = RequestHeaders(scope=request.scope)
        schema = self.schema
        assert isinstance(schema, NcmSchema)
        data = await self._body(request)
        if not isinstance(data, dict):
            return None
        query, name, extensions = (
            data.get("query"),
            data.get("operationName"),
            data.get("extensions"),
        )
        if not isinstance(extensions, dict | None):
            return None
        try:
            variables = prepared_variables(query, data.get("variables"), name)
            digest = requested_hash(extensions)
            if digest is not None:
                query = self.persisted.resolve(digest, query)
        except (BadOperation, BadPersistedQuery):
            return None
        if not query:
            return None
        prepared = schema.guard.cached(query)
        if prepared is None or not prepared.validation or prepared.validation[1]:
            return None  # not seen, refused, not validated yet, or invalid: the long way
        if prepared.operations > 1 and name is None:
            return None
        allowed = _BY_POST if request.method == "POST" else _BY_GET
        execution = ExecutionContext(
            query=query,
            schema=schema,
            allowed_operations=allowed,
            variables=variables,
            provided_operation_name=name,
            operation_extensions=extensions,
            graphql_document=prepared.document,
        )
        try:
            operation = execution.operation_type
        except RuntimeError:  # no such operation in the document
            return None
        if operation not in allowed:
            return None
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, sub_response)
        if context.token_invalid:
            return None
        context.document_fields = prepared.field_names
        execution.context = context
        result = await self._execute(schema, execution, operation)
        self.settle(request, context, result, sub_response)
        if not result.errors and not result.extensions:
            response_data: Any = {"data": result.data}  # what process_result gives for it
        else:
            response_data = await self.process_result(request, result)
            if result.errors:
                self._handle_errors(result.errors, response_data)
        return self.create_response(response_data, sub_response)

    async def _body(self, request: Request) -> Any:
        """The request's JSON object (POST) or query parameters (GET); ``None`` when the
        long way must read them (another content type, JSON ``orjson`` refuses, no
        operation in a GET: the GraphiQL page)."""
        if request.method == "POST":
            content_type = request.headers.get("content-type", "")
            if content_type != JSON_BODY and parse_content_type(content_type)[0] != JSON_BODY:
                return None
            try:
                return orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                return None
        params = request.query_params
        if request.method != "GET" or ("query" not in params and "extensions" not in params):
            return None
        try:
            return self.parse_query_params(params)
        except HTTPException:
            return None

    @staticmethod
    async def _execute(
        schema: NcmSchema, execution: ExecutionContext, operation: OperationType
    ) -> ExecutionResult:
        """Strawberry's ``Schema.execute`` from validation on, without the extension runner:
        the steps the schema's extensions (``Metrics``, ``ReadRouting``) take, in order."""
        started = time.perf_counter()
        name = execution.operation_name
        result: ExecutionResult
        try:
            async with routed_reads(execution.context, execution.graphql_document, name, operation):
                outcome: Any = execute(
                    schema._schema,
                    execution.graphql_document,  # type: ignore[arg-type]
                    context_value=execution.context,
                    variable_values=execution.variables,
                    operation_name=name,
                    is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
                    **execution_context_class_kwargs(schema.execution_context_class),
                    **schema._get_custom_context_kwargs(execution.operation_extensions),
                )
                if isawaitable(outcome):
                    outcome = await outcome
            assert isinstance(outcome, CoreResult)
            if outcome.errors:
                schema._process_errors(outcome.errors, execution)
            result = ExecutionResult(data=outcome.data, errors=outcome.errors)
        except Exception as exc:  # as Strawberry: the request's error, not a 500
            error = (
                exc if isinstance(exc, GraphQLError) else GraphQLError(str(exc), original_error=exc)
            )
            schema._process_errors([error], execution)
            result = PreExecutionError(data=None, errors=[error])
        observe_operation(name, started, bool(result.errors))
        return result
