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
