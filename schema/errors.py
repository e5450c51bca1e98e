"""Every error leaves with an `extensions.code`; unexpected ones leave masked.

Expected errors (server.errors.AppError) keep their message and code. GraphQL's own errors
(syntax, validation, variable coercion) keep their helpful message; a document over the token
limit is OPERATION_TOO_COMPLEX, as the other operation limits (schema/limits.py). Anything else
is replaced by "Internal server error" with the request id, and its traceback is logged, never
returned.
"""

from __future__ import annotations

import logging
import re

from graphql import GraphQLError, VariableDefinitionNode

from server.errors import AppError

log = logging.getLogger("ehome.graphql")
MASKED = "Internal server error"
# The parser stopped by its `max_tokens` option (set by schema/limits.py from the settings).
_TOO_MANY_TOKENS = re.compile(
    r"Syntax Error: Document contains more than (\d+) tokens\. Parsing aborted\."
)


def _graphql_code(error: GraphQLError) -> str:
    """The code of an error graphql-core raised itself: always the query's fault."""
    if any(isinstance(node, VariableDefinitionNode) for node in error.nodes or ()):
        return "BAD_USER_INPUT"  # a variable's value does not fit its declared type
    if error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if error.path is None:
        return "GRAPHQL_VALIDATION_FAILED"
    return "BAD_USER_INPUT"  # e.g. a literal argument that does not coerce


def classify(error: GraphQLError, request_id: str | None) -> None:
    """Set the error's code in place, masking what must not leave the server."""
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error  # a resolver re-raised a located error
    extensions = dict(error.extensions or {})
    if isinstance(original, AppError):
        extensions.update(original.extensions)
        extensions["code"] = original.code
    elif extensions.get("limit") == "tokens":
        pass  # classified already
    elif (tokens := _TOO_MANY_TOKENS.match(error.message)) is not None:
        # One of the operation limits, answered like the others (schema/limits.py). The
        # parser stops at the first token over the limit: the value is that token's number.
        limit = int(tokens.group(1))
        error.message = f"the document has more than {limit} tokens, the limit"
        extensions.update(code="OPERATION_TOO_COMPLEX", limit="tokens", max=limit, value=limit + 1)
    elif original is None or isinstance(original, GraphQLError):
        extensions["code"] = _graphql_code(error)
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
