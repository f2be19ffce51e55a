"""Errors the domain raises on purpose.

Every expected failure is an ``NcmError`` with a machine-readable ``code``, a message a
person can read and, where it concerns one input, the ``field``. The GraphQL face maps them
to typed results; the CLI prints the message and exits non-zero.
"""

from __future__ import annotations


class NcmError(Exception):
    code = "ERROR"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class InvalidInput(NcmError):
    code = "INVALID_INPUT"


class NotFound(NcmError):
    code = "NOT_FOUND"


class Conflict(NcmError):
    code = "CONFLICT"


class NotAuthenticated(NcmError):
    """Top-level error: the request needs a logged-in viewer."""

    code = "UNAUTHENTICATED"

    def __init__(self, message: str = "You need to log in to do this.") -> None:
        super().__init__(message)


class Forbidden(NcmError):
    """Top-level error: the viewer may not do this."""

    code = "FORBIDDEN"

    def __init__(self, message: str = "You are not allowed to do this.") -> None:
        super().__init__(message)


class RateLimited(NcmError):
    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BadCredentials(NcmError):
    code = "BAD_CREDENTIALS"

    def __init__(self) -> None:
        super().__init__("The email/handle or the password is wrong.")
