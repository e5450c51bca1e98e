"""Query.tenants."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from policies.rbac import Resource
from schema.context import Context
from schema.pagination import PageArgs
from schema.permissions import Can, allow
from schema.types import TenantConnection, connection, tenant_node
from tenants import service
from tenants.models import TenantLevel


@strawberry.type
class TenantQuery:
    @strawberry.field(
        description="Tenants in scope (narrowed by `under`), in id order.",
        extensions=[allow(Can(Resource.TENANT))],
    )
    async def tenants(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        level: TenantLevel | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> TenantConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = await ctx.scope_under(under, Resource.TENANT)
        rows = await service.list_tenants(
            ctx.db, scope=scope, level=level, after_id=page.after_id, limit=page.fetch
        )
        return connection(
            TenantConnection,
            rows,
            page,
            lambda r: tenant_node(r, ctx.loaders),
            lambda: service.count_tenants(ctx.db, scope=scope, level=level),
        )
