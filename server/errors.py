"""Errors that services raise on purpose; each carries the GraphQL `extensions.code` it maps to.

Anything else that escapes a resolver is unexpected: its message is masked as
INTERNAL_SERVER_ERROR and its traceback goes to the log only.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions


class BadUserInput(AppError):
    code = "BAD_USER_INPUT"


class NotFound(AppError):
    code = "NOT_FOUND"


class Unauthenticated(AppError):
    code = "UNAUTHENTICATED"


class Forbidden(AppError):
    code = "FORBIDDEN"


class RateLimited(AppError):
    code = "RATE_LIMITED"


class OperationTooComplex(AppError):
    """An operation over one of the limits (depth, aliases, tokens, directives, root fields,
    cost), refused before it runs; extensions name the `limit`, its `max` and the `value`."""

    code = "OPERATION_TOO_COMPLEX"


class OperationTimedOut(AppError):
    """An operation that ran longer than EHOME_QUERY_TIMEOUT seconds and was stopped."""

    code = "TIMEOUT"
