"""The schema: one constructor call over the domains' merged roots."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from schema.branches import BranchQuery
from schema.context import Context
from schema.errors import classify
from schema.executor import PlannedExecutionContext
from schema.members import MemberQuery
from schema.node import NodeQuery
from schema.overview import OverviewQuery
from schema.tenants import TenantQuery
from schema.types import ActivityNode, BranchNode, MemberNode, TenantNode

Query = merge_types("Query", (TenantQuery, BranchQuery, MemberQuery, NodeQuery, OverviewQuery))


class EhomeSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        context = execution_context.context if execution_context else None
        request_id = context.request_id if isinstance(context, Context) else None
        for error in errors:
            classify(error, request_id)


def build_schema(**kwargs: Any) -> EhomeSchema:
    return EhomeSchema(
        query=Query,
        # Types reachable only through `node(id:)` must still be in the schema.
        types=[TenantNode, BranchNode, MemberNode, ActivityNode],
        extensions=[
            # Repeated operations (screens poll the same few) skip parsing and validation.
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
        ],
        execution_context_class=PlannedExecutionContext,
        **kwargs,
    )
