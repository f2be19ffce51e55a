"""Error codes and masking for top-level errors, metrics by operation name, and the guard
in front of every operation (parse, limits, validation; ``Guard``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    NameNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationRule,
    Visitor,
    assert_valid_schema,
    parse,
    validate,
    visit,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types import ExecutionContext

from ncm.errors import NcmError, NotAuthenticated
from ncm.kit.lru import LRU
from ncm.kit.observability import (
    GRAPHQL_DURATION,
    GRAPHQL_ERRORS,
    Children,
    operation_label,
    request_id_var,
)
from ncm.schema.cost import MAX_FRAGMENT_NESTING, Limits, measure

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
            if isinstance(original, NotAuthenticated) and original.reason:  # a refused token
                error.extensions = {**(error.extensions or {}), "reason": original.reason}
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


def observe_operation(operation_name: str | None, started: float, failed: bool) -> None:
    """One operation's latency (since ``started``, a ``perf_counter``) and whether it
    answered errors, by operation name: ``Metrics`` and the view's lean lane alike."""
    label = operation_label(operation_name)  # a bounded label set
    _DURATIONS(label).observe(time.perf_counter() - started)
    if failed:
        _ERRORS(label).inc()


_DURATIONS, _ERRORS = Children(GRAPHQL_DURATION), Children(GRAPHQL_ERRORS)


class Metrics(SchemaExtension):
    """Latency and errors by operation name, for /metrics."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        result = self.execution_context.result
        observe_operation(
            self.execution_context.operation_name,
            started,
            result is not None and bool(result.errors),
        )


class OperationRefused(GraphQLError):
    """A request refused before validation or execution (too deep, too many aliases, too
    costly, too many tokens, no operation chosen, over the validation budget): the view
    answers it with HTTP 400."""

    def __init__(self, message: str, code: str, **extensions: object) -> None:
        super().__init__(message, extensions={"code": code, **extensions})


class RefusalCode(StrEnum):
    OPERATION_TOO_COMPLEX = "OPERATION_TOO_COMPLEX"
    OPERATION_TOO_LARGE = "OPERATION_TOO_LARGE"
    OPERATION_NAME_REQUIRED = "OPERATION_NAME_REQUIRED"
    VALIDATION_BUDGET_EXCEEDED = "VALIDATION_BUDGET_EXCEEDED"


_FIGURE_NAMES = {
    "depth": "is {measured} fields deep, which exceeds maximum operation depth of {limit}",
    "aliases": "has {measured} aliases, more than the {limit} aliases allowed",
    "cost": "costs {measured}, more than the maximum cost of {limit}",
    "breadth": "selects {measured} fields or fragments in one selection set, more than {limit}",
    "repeats": "selects one field {measured} times in one selection set, more than {limit}",
}


@dataclass
class Prepared:
    """A parsed document that passed its limits, and its validation errors once known."""

    document: DocumentNode
    operations: int
    validation: tuple[tuple[Any, ...], list[GraphQLError]] | None = None
    # Every field name the document selects anywhere (fragments included): what a resolver
    # may fetch along in the same statement (``ncm.schema.catalog.queries``).
    field_names: frozenset[str] = frozenset()


@dataclass(frozen=True)
class _Refusal:
    """A refusal as cached: a fresh error is raised from it for every request, so one
    request's error processing never changes what the next one sees."""

    message: str
    code: str
    extensions: tuple[tuple[str, object], ...] = ()

    def error(self) -> OperationRefused:
        return OperationRefused(self.message, self.code, **dict(self.extensions))


# Documents longer than this are parsed for each request instead of being cached: the cache
# must not hold hundreds of megabytes of query text.
CACHE_MAX_QUERY_CHARS = 64 * 1024
# No document is longer (an app's largest is a few KB; long text goes in variables).
MAX_DOCUMENT_CHARS = 100_000
# The event loop waits this many validation budgets (wall time) for the validating thread.
WAIT_FACTOR = 10


class Guard:
    """Parsing, limits and validation for one schema, each document's outcome cached by its
    text: a refused document is refused again from the cache, never let through.

    * parse with the token limit (graphql-core stops reading at the limit);
    * measure depth, aliases and cost (``ncm.schema.cost``: linear, fragments memoized);
    * validate with the schema's rules, suggestions hidden when ``hide_suggestions``, under
      a time budget: a validation running past it is refused (and not cached, so a slow
      moment of the machine does not refuse a good document for good).
    """

    def __init__(
        self,
        limits: Limits,
        *,
        max_tokens: int,
        hide_suggestions: bool,
        validation_budget_ms: int,
        cache_size: int = 512,
    ) -> None:
        self.limits = limits
        self.max_tokens = max_tokens
        self.hide_suggestions = hide_suggestions
        self.validation_budget = validation_budget_ms / 1000
        self.cache_size = cache_size
        self._cache: LRU[str, Prepared | _Refusal] = LRU(cache_size)
        self.measured = 0  # documents measured (not served from the cache): for tests
        self.validated = 0
        self._schema_checked = False

    def prepare(self, schema: GraphQLSchema, query: str) -> Prepared:
        """The document of ``query``; raises ``OperationRefused`` (or a syntax error)."""
        if not self._schema_checked:  # once, here: not inside the first validation's budget
            assert_valid_schema(schema)
            self._schema_checked = True
        found = self._cache.get(query)
        if found is None:
            found = self._prepare(schema, query)
            if len(query) <= CACHE_MAX_QUERY_CHARS:
                self._cache.put(query, found)
        if isinstance(found, _Refusal):
            raise found.error()
        return found

    def cached(self, query: str) -> Prepared | None:
        """The cached document of ``query`` when it passed its limits, else ``None`` (not
        seen yet, refused, or too long to cache): no parsing, no measuring."""
        found = self._cache.get(query)
        return found if isinstance(found, Prepared) else None

    def _prepare(self, schema: GraphQLSchema, query: str) -> Prepared | _Refusal:
        if len(query) > MAX_DOCUMENT_CHARS:  # parsing a megabyte of text holds the loop
            return _Refusal(
                f"The document is longer than {MAX_DOCUMENT_CHARS} characters.",
                RefusalCode.OPERATION_TOO_LARGE,
                (("figure", "characters"), ("measured", len(query)), ("limit", MAX_DOCUMENT_CHARS)),
            )
        try:
            document = parse(query, max_tokens=self.max_tokens)
        except GraphQLSyntaxError as exc:
            if "tokens. Parsing aborted" not in exc.message:
                raise  # an ordinary syntax error: reported as it is, not cached (the
                # token limit bounds what parsing it again costs)
            return _Refusal(
                f"The document has more than {self.max_tokens} tokens, the limit.",
                RefusalCode.OPERATION_TOO_LARGE,
                (("figure", "tokens"), ("limit", self.max_tokens)),
            )
        self.measured += 1
        measurement = measure(schema, document, self.limits)

        if measurement.too_nested:
            return _Refusal(
                f"The document nests fragments more than {MAX_FRAGMENT_NESTING} deep.",
                RefusalCode.OPERATION_TOO_COMPLEX,
                (("figure", "fragmentNesting"), ("limit", MAX_FRAGMENT_NESTING)),
            )
        exceeded = measurement.figures.exceeded(self.limits)
        if exceeded:
            figure, measured, limit = exceeded[0]
            others = "; ".join(f"{name} {value} (limit {cap})" for name, value, cap in exceeded[1:])
            message = "The operation " + _FIGURE_NAMES[figure].format(
                measured=measured, limit=limit
            )
            message += f" (also {others})." if others else "."
            return _Refusal(
                message,
                RefusalCode.OPERATION_TOO_COMPLEX,
                (("figure", figure), ("measured", measured), ("limit", limit)),
            )
        operations = sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)
        return Prepared(document, operations, field_names=_field_names(document))

    async def validate(
        self, schema: GraphQLSchema, prepared: Prepared, rules: tuple[Any, ...]
    ) -> list[GraphQLError]:
        """The document's validation errors: from the cache, or computed in a worker thread,
        off the event loop. The thread stops itself once it has used the budget in CPU time
        (``_budget_rule``: a loaded machine slows the clock, not the CPU time), and the loop
        stops waiting after ``WAIT_FACTOR`` budgets of wall time, whatever the thread does.
        Either way the document is refused, and the refusal is not cached (a slow moment of
        the machine must not refuse a good document for good)."""
        if prepared.validation is not None and prepared.validation[0] == rules:
            return prepared.validation[1]
        self.validated += 1
        work = asyncio.get_running_loop().run_in_executor(
            _VALIDATORS, self._validate, schema, prepared, rules
        )
        work.add_done_callback(_retrieve)  # a late failure is nobody's to log
        try:
            return await asyncio.wait_for(
                asyncio.shield(work), self.validation_budget * WAIT_FACTOR
            )
        except TimeoutError:
            raise self._over_budget() from None

    def _validate(
        self, schema: GraphQLSchema, prepared: Prepared, rules: tuple[Any, ...]
    ) -> list[GraphQLError]:
        budget = _budget_rule(time.thread_time() + self.validation_budget, self)
        errors = validate(
            schema,
            prepared.document,
            (*rules, MaybeNullValidationRule, OneOfInputValidationRule, budget),
            hide_suggestions=self.hide_suggestions,
        )
        prepared.validation = (rules, errors)
        return errors

    def _over_budget(self) -> OperationRefused:
        ms = round(self.validation_budget * 1000)
        return OperationRefused(
            f"Validating the document took longer than its budget of {ms} ms.",
            RefusalCode.VALIDATION_BUDGET_EXCEEDED,
            figure="validationMs",
            limit=ms,
        )


def _field_names(document: DocumentNode) -> frozenset[str]:
    names: set[str] = set()

    class Names(Visitor):
        def enter_field(self, node: FieldNode, *_args: Any) -> None:
            names.add(node.name.value)

    visit(document, Names())
    return frozenset(names)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


# Validation runs here, off the event loop: two threads, so a burst of slow documents can
# neither hold the loop nor take every thread of the default executor.
_VALIDATORS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ncm-validate")


def _budget_rule(deadline: float, guard: Guard) -> type[ValidationRule]:
    class ValidationBudget(ValidationRule):
        """Checks this thread's CPU time every few nodes; past the deadline, validation
        stops and the document is refused."""

        seen = 0

        def enter(self, *_args: Any) -> None:
            ValidationBudget.seen += 1
            if ValidationBudget.seen % 16 == 0 and time.thread_time() > deadline:
                raise guard._over_budget()

    return ValidationBudget


def _stand_in(operation_name: str | None) -> DocumentNode:
    """A one-field document standing in for one that failed to parse or was refused, so
    Strawberry's steps between parsing and validation (which need a document) pass and the
    failure is reported as the validation result: over HTTP and the websocket alike."""
    return DocumentNode(
        definitions=(
            OperationDefinitionNode(
                operation=OperationType.QUERY,
                name=NameNode(value=operation_name) if operation_name else None,
                variable_definitions=(),
                directives=(),
                selection_set=SelectionSetNode(
                    selections=(
                        FieldNode(name=NameNode(value="__typename"), arguments=(), directives=()),
                    )
                ),
            ),
        )
    )


class Guarded(SchemaExtension):
    """The schema extension in front of every operation: ``Guard`` parses, measures and
    validates; a document with several operations and no ``operationName`` is refused
    (GraphQL would otherwise run the first). A syntax error or a refusal becomes the
    validation result (``_stand_in``), so it is never executed."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self.prepared: Prepared | None = None
        self.failure: GraphQLError | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            name = context._provided_operation_name
            try:
                self.prepared = self.guard.prepare(context.schema._schema, context.query)
            except GraphQLError as exc:  # a syntax error or a refusal
                self.failure = exc
                context.graphql_document = _stand_in(name)
            else:
                context.graphql_document = self.prepared.document
                if hasattr(context.context, "document_fields"):  # ncm's Context
                    context.context.document_fields = self.prepared.field_names
                if self.prepared.operations > 1 and name is None:
                    self.failure = OperationRefused(
                        "The document holds several operations: say which to run with"
                        " `operationName`.",
                        RefusalCode.OPERATION_NAME_REQUIRED,
                    )
        yield

    async def on_validate(self) -> AsyncIterator[None]:
        context = self.execution_context
        if self.failure is not None:
            context.pre_execution_errors = [self.failure]
        elif self.prepared is not None and context.graphql_document is self.prepared.document:
            try:
                context.pre_execution_errors = await self.guard.validate(
                    context.schema._schema, self.prepared, tuple(context.validation_rules)
                )
            except OperationRefused as exc:  # over the validation budget
                context.pre_execution_errors = [exc]
        yield
