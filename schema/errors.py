"""Every error leaves with an `extensions.code`; unexpected ones leave masked.

Expected errors (server.errors.AppError) keep their message and code. GraphQL's own errors
(syntax, validation, variable coercion) keep their helpful message. Anything else is replaced by
"Internal server error" with the request id, and its traceback is logged, never returned.
"""

from __future__ import annotations

import logging

from graphql import GraphQLError

from server.errors import AppError

log = logging.getLogger("ehome.graphql")
MASKED = "Internal server error"


def classify(error: GraphQLError, request_id: str | None) -> None:
    """Set the error's code in place, masking what must not leave the server."""
    original = error.original_error
    extensions = dict(error.extensions or {})
    if isinstance(original, AppError):
        extensions.update(original.extensions)
        extensions["code"] = original.code
    elif original is None:
        # Raised by graphql-core itself, before or during execution: the query's fault.
        if error.message.startswith("Syntax Error"):
            extensions.setdefault("code", "GRAPHQL_PARSE_FAILED")
        elif error.message.startswith("Variable "):
            extensions.setdefault("code", "BAD_USER_INPUT")
        elif error.path is None:
            extensions.setdefault("code", "GRAPHQL_VALIDATION_FAILED")
        else:
            extensions.setdefault("code", "BAD_USER_INPUT")
    elif isinstance(original, GraphQLError):
        classify(original, request_id)
        extensions.update(original.extensions or {})
        error.message = original.message
    else:
        log.error(
            "unexpected error in %s (request %s)",
            ".".join(map(str, error.path or [])),
            request_id,
            exc_info=original,
        )
        error.message = MASKED
        error.original_error = None
        extensions = {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    error.extensions = extensions
