"""Error codes and masking for top-level errors, and metrics by operation name."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from ncm.errors import NcmError
from ncm.kit.observability import GRAPHQL_DURATION, GRAPHQL_ERRORS, operation_label, request_id_var

log = logging.getLogger("ncm.graphql")
MASKED_MESSAGE = "Unexpected error."


def is_expected(error: GraphQLError) -> bool:
    """Errors that say something true to the client: ours, and GraphQL's own syntax/validation."""
    original = error.original_error
    return original is None or isinstance(original, (NcmError, GraphQLError))


def process_errors(
    errors: list[GraphQLError], execution_context: ExecutionContext | None, *, mask: bool
) -> None:
    """Give every top-level error an ``extensions.code``; log (and mask) the unexpected ones.

    A user's mistake (bad syntax, a failed validation, an NcmError) is not logged as an error.
    """
    for error in errors:
        original = error.original_error
        if isinstance(original, NcmError):
            code = original.code
        elif is_expected(error):
            code = (error.extensions or {}).get("code", "GRAPHQL_VALIDATION_FAILED")
        else:
            code = "INTERNAL_SERVER_ERROR"
            operation = execution_context.operation_name if execution_context else None
            log.error(
                "unexpected error in %s: %s",
                operation or "anonymous",
                error.message,
                exc_info=original,
                extra={"request_id": request_id_var.get()},
            )
            error.extensions = {**(error.extensions or {}), "requestId": request_id_var.get()}
            if mask:
                error.message = MASKED_MESSAGE
        error.extensions = {**(error.extensions or {}), "code": code}


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
