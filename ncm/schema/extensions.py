"""Schema extensions: error codes on top-level errors, metrics by operation name."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from ncm.errors import NcmError
from ncm.observability import GRAPHQL_DURATION, GRAPHQL_ERRORS, operation_label, request_id_var

log = logging.getLogger("ncm.graphql")


def is_expected(error: GraphQLError) -> bool:
    """Errors that say something true to the client: ours, and GraphQL's own validation."""
    original = error.original_error
    return original is None or isinstance(original, NcmError)


class ErrorCodes(SchemaExtension):
    """Give every top-level error a machine-readable ``extensions.code``; log unexpected ones."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        for error in result.errors:
            original = error.original_error
            if isinstance(original, NcmError):
                code = original.code
            elif original is None:
                code = (error.extensions or {}).get("code", "GRAPHQL_VALIDATION_FAILED")
            else:
                code = "INTERNAL_SERVER_ERROR"
                log.error(
                    "unexpected error in %s",
                    self.execution_context.operation_name or "anonymous",
                    exc_info=original,
                    extra={"request_id": request_id_var.get()},
                )
            error.extensions = {**(error.extensions or {}), "code": code}
            if not isinstance(original, NcmError) and original is not None:
                error.extensions["requestId"] = request_id_var.get()


class Metrics(SchemaExtension):
    """Latency and errors by operation name, for /metrics."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        label = operation_label(self.execution_context.operation_name)
        result = self.execution_context.result
        GRAPHQL_DURATION.labels(operation=label).observe(time.perf_counter() - started)
        if result is not None and result.errors:
            GRAPHQL_ERRORS.labels(operation=label).inc()
