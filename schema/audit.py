"""Query.auditLog: the audit trail of a subtree, for auditors and super admins."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from policies.rbac import Resource
from schema.context import Context
from schema.ids import global_id
from schema.lazy import Lazy
from schema.pagination import PageArgs
from schema.permissions import Can, allow
from schema.types import EDGES, Node, PageInfo, TenantNode, connection
from server.audit import service

if TYPE_CHECKING:
    from schema.loaders import Loaders


@strawberry.type(name="AuditEntry", description="One entry of the hash-chained audit log.")
class AuditEntryNode(Node):
    seq: int = strawberry.field(description="The entry's place in the chain, from 1.")
    occurred_at: dt.datetime
    principal: str = strawberry.field(description="Who: `user:<name>`, `partner:<name>`, ...")
    action: str
    tenant: TenantNode | None
    subject: str | None
    client_address: str | None
    detail: JSON
    prev_hash: str
    hash: str
    pk: strawberry.Private[int]


@strawberry.type
class AuditEntryEdge:
    cursor: str
    node: AuditEntryNode


@strawberry.type
class AuditEntryConnection:
    edges: list[AuditEntryEdge]
    page_info: PageInfo
    counter: strawberry.Private[Any]

    @strawberry.field(description="How many entries, over all pages.")
    async def total_count(self) -> int:
        return int(await self.counter())


EDGES[AuditEntryConnection] = AuditEntryEdge


def audit_entry_node(row: Any, loaders: Loaders) -> AuditEntryNode:
    return AuditEntryNode(
        id=global_id("AuditEntry", row.id),
        pk=row.id,
        seq=row.id,
        occurred_at=row.occurred_at,
        principal=row.principal,
        action=row.action,
        tenant=None if row.tenant_id is None else Lazy(loaders.tenant, row.tenant_id),  # type: ignore[arg-type]
        subject=row.subject,
        client_address=row.client_address,
        detail=json.loads(row.detail),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


@strawberry.type
class AuditQuery:
    @strawberry.field(
        description="Audit entries about tenants in scope (narrowed by `under`), newest first.",
        extensions=[allow(Can(Resource.AUDIT))],
    )
    async def audit_log(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> AuditEntryConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = await ctx.scope_under(under, Resource.AUDIT)
        rows = await service.list_entries(
            ctx.db, scope=scope, after_id=page.after_id, limit=page.fetch
        )
        return connection(
            AuditEntryConnection,
            rows,
            page,
            lambda r: audit_entry_node(r, ctx.loaders),
            lambda: service.count_entries(ctx.db, scope=scope),
        )
