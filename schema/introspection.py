"""Who may introspect the schema, and who gets "Did you mean ...?" in error messages.

In dev (EHOME_ENV=dev) everyone may. In production only signed-in admins (any admin role) and
partner keys: for everyone else an operation that selects `__schema` or `__type` fails
validation (GRAPHQL_VALIDATION_FAILED, "GraphQL introspection is disabled for this caller
..."), and field suggestions are cut from every error message, since they would hand the schema
out one name at a time. `__typename` stays allowed: clients need it and it tells nothing.
Validation errors stay otherwise as helpful as ever; unexpected errors stay masked
(schema/errors.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graphql import FieldNode, GraphQLError, ValidationRule
from strawberry.extensions import SchemaExtension

from policies.rbac import Role
from schema.context import Context

ADMIN_ROLES = frozenset({Role.SUPER_ADMIN, Role.SENIOR_ADMIN, Role.JUNIOR_ADMIN})
# A cheap test on the text first: only an operation naming these can introspect (a match in a
# comment or a string costs one extra validation rule, nothing else).
_INTROSPECTIVE = re.compile(r"\b__(?:schema|type)\b")
_SUGGESTION = re.compile(r"\s*Did you mean .*\?\s*$", re.DOTALL)


class NoIntrospection(ValidationRule):
    """`__schema` and `__type` refused, once each (graphql-core's own rule also reports every
    field below them)."""

    def enter_field(self, node: FieldNode, *_args: Any) -> None:
        name = node.name.value
        if name in ("__schema", "__type"):
            self.report_error(
                GraphQLError(
                    f"GraphQL introspection is disabled for this caller (field '{name}'); "
                    "it is open to signed-in admins and partner keys",
                    node,
                )
            )


def introspection_open(context: Context) -> bool:
    if context.runtime.settings.env == "dev":
        return True
    principal = context.principal
    if principal is None:
        return False
    if principal.kind == "partner":
        return True
    bindings = context.runtime.authz.bindings(principal.subject)
    return any(binding.role in ADMIN_ROLES for binding in bindings)


def without_suggestions(errors: list[GraphQLError]) -> list[GraphQLError]:
    """The errors, with any "Did you mean ...?" cut (copies: validation errors are cached and
    shared with callers who may see suggestions)."""
    return [
        GraphQLError(
            _SUGGESTION.sub("", error.message),
            error.nodes,
            error.source,
            error.positions,
            error.path,
            error.original_error,
            error.extensions,
        )
        if "Did you mean" in error.message
        else error
        for error in errors
    ]


class IntrospectionGate(SchemaExtension):
    """In production, introspection only for signed-in admins and partners."""

    def on_operation(self) -> Iterator[None]:
        execution_context = self.execution_context
        context = execution_context.context
        closed = isinstance(context, Context) and not introspection_open(context)
        if closed and _INTROSPECTIVE.search(execution_context.query or ""):
            # Part of the validation cache's key: the verdict is cached per rule set.
            execution_context.validation_rules = (
                *execution_context.validation_rules,
                NoIntrospection,
            )
        yield
        if closed:
            self._cut(execution_context.result)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        # WebSocket operations: each result leaves before on_operation ends.
        context = self.execution_context.context
        if isinstance(context, Context) and not introspection_open(context):
            self._cut(result)
        yield

    @staticmethod
    def _cut(result: Any) -> None:
        errors = getattr(result, "errors", None)
        if errors and any("Did you mean" in error.message for error in errors):
            result.errors = without_suggestions(errors)
