"""Errors the domain raises on purpose.

Every expected failure is an ``NcmError`` with a machine-readable ``code``, a message a
person can read and, where it concerns one input, the ``field``. The GraphQL face maps them
to typed results; the CLI prints the message and exits non-zero.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from enum import StrEnum

from ncm.domains import DOMAINS


class ErrorCode(StrEnum):
    """The codes every domain may use; a domain's own are in ``ncm/<domain>/errors.py`` as
    ``<Domain>ErrorCode`` (all of them together are the GraphQL enum ``ErrorCode``)."""

    ERROR = "ERROR"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_ID = "INVALID_ID"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    BAD_CREDENTIALS = "BAD_CREDENTIALS"
    TOO_LONG = "TOO_LONG"


class NcmError(Exception):
    """``code`` is a member of one of the ``*ErrorCode`` enums (a plain string with the same
    value works too; an undeclared code fails the GraphQL response and the tests)."""

    code: str = ErrorCode.ERROR

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class InvalidInput(NcmError):
    code: str = ErrorCode.INVALID_INPUT


class NotFound(NcmError):
    code: str = ErrorCode.NOT_FOUND


class NoSuch(NotFound):
    """Some things a request named by id do not exist. The message names them as the caller
    did: plain numbers here (the CLI, the services), global ids in the GraphQL face, which
    rewrites it with :meth:`naming` (an internal id never leaks into an API message)."""

    SHOWN = 10  # at most this many ids in a message

    def __init__(self, type_name: str, ids: Iterable[int], *, field: str, noun: str) -> None:
        self.type_name = type_name
        self.ids = sorted(set(ids))
        self.noun = noun
        super().__init__(self.naming(lambda _type, pk: str(pk)), field=field)

    def naming(self, spell: Callable[[str, int], str]) -> str:
        """The message with each id spelled by ``spell(type_name, id)``."""
        shown = ", ".join(spell(self.type_name, i) for i in self.ids[: self.SHOWN])
        more = len(self.ids) - self.SHOWN
        return f"No such {self.noun}: {shown}{f' and {more} more' if more > 0 else ''}."


class Conflict(NcmError):
    code: str = ErrorCode.CONFLICT


class NotAuthenticated(NcmError):
    """Top-level error: the request needs a logged-in viewer. ``reason``, when given, says
    why a token was refused (``extensions.reason``: SESSION_ENDED, TOKEN_EXPIRED ...)."""

    code: str = ErrorCode.UNAUTHENTICATED

    def __init__(
        self, message: str = "You need to log in to do this.", *, reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason


class Forbidden(NcmError):
    """Top-level error: the viewer may not do this."""

    code: str = ErrorCode.FORBIDDEN

    def __init__(self, message: str = "You are not allowed to do this.") -> None:
        super().__init__(message)


class RateLimited(NcmError):
    code: str = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BadCredentials(NcmError):
    code: str = ErrorCode.BAD_CREDENTIALS

    def __init__(
        self,
        message: str = "The email/handle or the password is wrong.",
        *,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)


def error_code_enums() -> list[type[StrEnum]]:
    """Every ``*ErrorCode`` enum: ``ErrorCode`` and each domain's in ``ncm.<domain>.errors``
    (a domain without an ``errors`` module has none). A new domain's enum is found here
    without being listed anywhere."""
    found: list[type[StrEnum]] = [ErrorCode]
    for domain in DOMAINS:
        name = f"ncm.{domain}.errors"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        found.extend(
            value
            for key, value in vars(module).items()
            if key.endswith("ErrorCode")
            and isinstance(value, type)
            and issubclass(value, StrEnum)
            and value.__module__ == name
        )
    return found


def all_error_codes(enums: list[type[StrEnum]] | None = None) -> dict[str, str]:
    """``{name: value}`` of every declared code. The same name in two enums must have the
    same value (it is one code); otherwise this raises at import, naming both."""
    codes: dict[str, str] = {}
    owner: dict[str, str] = {}
    for enum in error_code_enums() if enums is None else enums:
        for member in enum:
            if codes.setdefault(member.name, member.value) != member.value:
                raise TypeError(
                    f"{enum.__module__}.{enum.__qualname__}.{member.name} = {member.value!r}"
                    f" but {owner[member.name]} = {codes[member.name]!r}: one code, one value"
                )
            owner.setdefault(member.name, f"{enum.__module__}.{enum.__qualname__}.{member.name}")
    return codes
