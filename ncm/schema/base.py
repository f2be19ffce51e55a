"""Shared GraphQL building blocks: global ids, the Node interface, connections, errors."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from enum import StrEnum
from typing import Any, Generic, Self, TypeVar, cast

import strawberry
from strawberry.extensions import FieldExtension

from ncm.errors import (
    BadCredentials,
    Conflict,
    ErrorCode,
    Forbidden,
    InvalidInput,
    NcmError,
    NoSuch,
    NotAuthenticated,
    NotFound,
    RateLimited,
    all_error_codes,
)
from ncm.kit.pagination import Page
from ncm.kit.text import BIGINT_MAX
from ncm.kit.unset import UNSET

T = TypeVar("T")
N = TypeVar("N")


@functools.lru_cache(maxsize=65_536)  # pages show the same rows again and again
def to_global_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode())


def from_global_id(
    value: str, expected: str | None = None, *, field: str = "id"
) -> tuple[str, int]:
    """``(type name, primary key)``; a malformed id, or one of another type, is InvalidInput."""
    try:
        padded = value + "=" * (-len(value) % 4)
        type_name, _, pk = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        if not (pk.isascii() and pk.isdigit()) or pk.startswith("0"):
            raise ValueError(pk)  # one spelling per id: no " 1", "1_0", "٣" or "032"
        number = int(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput(
            "This id is not valid.", field=field, code=ErrorCode.INVALID_ID
        ) from None
    if not 1 <= number <= BIGINT_MAX:  # a key the database cannot hold is no id of ours
        raise InvalidInput("This id is not valid.", field=field, code=ErrorCode.INVALID_ID)
    if expected is not None and type_name != expected:
        raise InvalidInput(f"This id is not a {expected}.", field=field, code=ErrorCode.INVALID_ID)
    return type_name, number


def given(value: Any) -> Any:
    """A GraphQL input field as the services take it: omitted becomes ``ncm.kit.unset.UNSET``."""
    return UNSET if value is strawberry.UNSET else value


def pk_of(value: str, expected: str, *, field: str = "id") -> int:
    return from_global_id(value, expected, field=field)[1]


class ModelView:
    """A GraphQL type built from a model whose fields are listed once, in the class body.

    ``from_model(model)`` (or ``copy_from(model, **given)`` when some fields are computed)
    fills each init field from the model: ``id`` is the global id of ``model.id``, ``pk``
    reads ``model.id``, ``<name>_pk`` reads ``<name>_id``, and any other field reads the
    attribute of the same name. The views stay plain objects with plain attributes, which
    the executor's fast path reads directly (``ncm/schema/executor.py``)."""

    @classmethod
    def copy_from(cls, model: Any, /, **given: Any) -> Self:
        return cast(Self, cls.builder(*given)(model, **given))

    @classmethod
    def from_model(cls, model: Any) -> Self:
        build = _BUILDERS.get((cls, ())) or cls.builder()
        return cast(Self, build(model))

    @classmethod
    def builder(cls, *given: str) -> Callable[..., Self]:
        """``build(model, *, <given>=...)``: ``cls(field=model.attribute, ..., <given>)``
        written out once (as dataclasses write ``__init__``), as fast as a hand-written
        constructor call; hot paths keep it (``Comment``'s page of views)."""
        build = _BUILDERS.get((cls, given))
        if build is None:
            values: list[tuple[str, str]] = []  # (field, expression), in the fields' order
            for field in dataclasses.fields(cls):  # type: ignore[arg-type]
                if not field.init:
                    continue
                if field.name in given:
                    values.append((field.name, field.name))
                elif field.name == "id":
                    name = cls.__strawberry_definition__.name  # type: ignore[attr-defined]
                    values.append(("id", f"to_global_id({name!r}, _source_.id)"))
                else:
                    values.append((field.name, f"_source_.{_source(field.name)}"))
            # A given name that is no field of the constructor: the call refuses it, as before.
            others = [(name, name) for name in given if name not in {f for f, _ in values}]
            keywords = "".join(f", {name}" for name in given)
            if _plain_init(cls) and not others:
                # What the dataclass's __init__ does (every field assigned, in order),
                # without the call and its keyword arguments.
                fill = ", ".join(f"{f!r}: {e}" for f, e in values)
                body = (
                    f"    view = new(cls)\n    view.__dict__.update({{{fill}}})\n    return view\n"
                )
            else:
                body = f"    return cls({', '.join(f'{f}={e}' for f, e in values + others)})\n"
            source = f"def build(_source_, /{', *' if given else ''}{keywords}):\n{body}"
            namespace: dict[str, Any] = {
                "cls": cls,
                "to_global_id": to_global_id,
                "new": object.__new__,
            }
            exec(compile(source, f"<view builder of {cls.__name__}>", "exec"), namespace)
            build = _BUILDERS[(cls, given)] = namespace["build"]
        return cast(Callable[..., Self], build)


_BUILDERS: dict[tuple[type, tuple[str, ...]], Callable[..., Any]] = {}


def _plain_init(cls: type) -> bool:
    """The class's ``__init__`` is the one ``dataclasses`` wrote (compiled from a string) and
    does nothing but assign the fields it takes: no ``__post_init__``, no slots, no field
    left out of it that it would fill with a default."""
    init = cls.__dict__.get("__init__")
    code = getattr(init, "__code__", None)
    return (
        dataclasses.is_dataclass(cls)
        and code is not None
        and code.co_filename == "<string>"
        and not hasattr(cls, "__post_init__")
        and "__slots__" not in cls.__dict__
        and all(
            f.init
            or (f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
            for f in dataclasses.fields(cls)
        )
    )


def _source(name: str) -> str:
    if name == "pk":
        return "id"
    return name[:-3] + "_id" if name.endswith("_pk") else name


@strawberry.interface(description="An object with a global id, fetchable with `node(id)`.")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[N]):
    cursor: str
    node: N


@strawberry.type(description="A page of a list: pass `pageInfo.endCursor` as `after`.")
class Connection(Generic[N]):
    edges: list[Edge[N]]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[N]:
        return [edge.node for edge in self.edges]


def connection(page: Page[Any], convert: Callable[[Any], N]) -> Connection[N]:
    return connection_from(page, [convert(item) for item in page.items])


def connection_of(
    page: Page[Any], key: Callable[[Any], Hashable], found: Mapping[Any, N]
) -> Connection[N]:
    """A connection of ``found[key(item)]``; items whose object is gone (deleted, hidden
    from the viewer since) drop out, and the cursors stay valid."""
    return connection_from(page, [found.get(key(item)) for item in page.items])


def connection_from(page: Page[Any], nodes: Sequence[N | None]) -> Connection[N]:
    """A connection of ``nodes``, one per item of the page, in its order (``None``: the
    item drops out, its cursor with it)."""
    edges = [
        Edge(cursor=cursor, node=node)
        for node, cursor in zip(nodes, page.cursors, strict=True)
        if node is not None
    ]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        ),
    )


def _error_code_enum() -> type[StrEnum]:
    """One GraphQL enum of every declared code (``ncm.errors.error_code_enums``), named by
    value: the same spelling as a top-level error's ``extensions.code``."""
    values = sorted(set(all_error_codes().values()))
    return cast(type[StrEnum], StrEnum("ErrorCode", [(value, value) for value in values]))


ErrorCodeEnum = strawberry.enum(
    _error_code_enum(),
    name="ErrorCode",
    description="Why a mutation failed: the codes of every domain (see the `Error` types).",
)


@strawberry.interface(description="An expected failure, returned as data in a mutation result.")
class Error:
    code: str = strawberry.field(
        graphql_type=ErrorCodeEnum, description="Machine-readable, e.g. HANDLE_TAKEN."
    )
    message: str = strawberry.field(description="A sentence a person can read.")
    field: str | None = strawberry.field(description="The input it concerns, if one.")


@strawberry.type(description="An input was malformed or broke a rule.")
class InvalidInputError(Error):
    pass


@strawberry.type(description="The thing the mutation refers to does not exist.")
class NotFoundError(Error):
    pass


@strawberry.type(description="The change conflicts with the current state (e.g. taken).")
class ConflictError(Error):
    pass


@strawberry.type(description="Wrong email/handle or password (the same for both).")
class BadCredentialsError(Error):
    pass


@strawberry.type(description="Too many attempts; try again after `retryAfterSeconds`.")
class RateLimitedError(Error):
    retry_after_seconds: int


E = TypeVar("E", bound=NcmError)
Resolver = TypeVar("Resolver", bound=Callable[..., Awaitable[object]])
_ERROR_TYPES: list[tuple[type[NcmError], Callable[[Any], Error]]] = []


def register_error(kind: type[E], build: Callable[[E], Error]) -> None:
    """Map a domain error to its GraphQL error type; later (more specific) ones win."""
    _ERROR_TYPES.insert(0, (kind, build))


def error_fields(exc: NcmError) -> dict[str, Any]:
    """The ``Error`` interface's fields of a domain error (for ``register_error``)."""
    return {"code": exc.code, "message": exc.message, "field": exc.field}


def error_result(exc: NcmError) -> Error:
    """The typed GraphQL error for a domain error (permission errors are raised instead).

    A code no ``*ErrorCode`` enum declares is a bug: it fails as an internal error (logged)."""
    if exc.code not in ErrorCodeEnum.__members__:
        raise LookupError(f"undeclared error code {exc.code!r}: add it to an *ErrorCode enum")
    for kind, build in _ERROR_TYPES:
        if isinstance(exc, kind):
            return build(exc)
    raise exc


register_error(InvalidInput, lambda e: InvalidInputError(**error_fields(e)))
register_error(NotFound, lambda e: NotFoundError(**error_fields(e)))
register_error(
    NoSuch, lambda e: NotFoundError(**{**error_fields(e), "message": e.naming(to_global_id)})
)
register_error(Conflict, lambda e: ConflictError(**error_fields(e)))
register_error(BadCredentials, lambda e: BadCredentialsError(**error_fields(e)))
register_error(
    RateLimited, lambda e: RateLimitedError(retry_after_seconds=e.retry_after, **error_fields(e))
)


class ErrorsAsData(FieldExtension):
    """Expected domain failures (``NcmError``) become the payload union's typed error;
    permission failures (``NotAuthenticated``, ``Forbidden``) stay top-level errors."""

    def resolve(self, next_: Callable[..., Any], source: Any, info: Any, **kwargs: Any) -> Any:
        raise TypeError("ErrorsAsData serves async resolvers only")

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Any, **kwargs: Any
    ) -> Any:
        return await attempt(next_(source, info, **kwargs))


def mutation(
    *,
    description: str | None = None,
    name: str | None = None,
    deprecation_reason: str | None = None,
) -> Callable[[Resolver], Resolver]:
    """``strawberry.mutation`` whose domain errors are data (the result union's error types).

    The resolver (async) just calls the service and builds the success payload; the union
    it returns lists the error types a client should expect.
    """
    field = strawberry.mutation(
        description=description,
        name=name,
        deprecation_reason=deprecation_reason,
        extensions=[ErrorsAsData()],
    )

    def decorate(resolver: Resolver) -> Resolver:
        return cast(Resolver, field(resolver))

    return decorate


async def attempt(work: Awaitable[Any]) -> Any:
    """Await a service call; expected failures become typed results, permissions stay errors.

    ``ErrorsAsData`` (``@mutation``) is its one user: every mutation is a ``@mutation``."""
    try:
        return await work
    except (NotAuthenticated, Forbidden):
        raise
    except NcmError as exc:
        return error_result(exc)
