"""Query.overview: the command center's tiles for a subtree."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import strawberry
from strawberry.types import Info

from policies.rbac import Resource
from schema.context import Context
from schema.permissions import Can, allow
from schema.types import TenantNode, tenant_node
from server.errors import BadUserInput
from server.overview import service
from tenants import service as tenants


@strawberry.type
class Overview:
    tenant: TenantNode
    branches: int
    members: int
    activities_today: int = strawberry.field(
        description="Activities that took place today, in the district's time zone."
    )


@strawberry.type
class OverviewQuery:
    @strawberry.field(
        description="Counts for the viewer's scope, or for the subtree `under`.",
        extensions=[allow(Can(Resource.OVERVIEW))],
    )
    async def overview(
        self, info: Info[Context, None], under: strawberry.ID | None = None
    ) -> Overview:
        ctx = info.context
        scope = await ctx.scope_under(under, Resource.OVERVIEW)
        tops = await tenants.tops(ctx.db, scope=scope)
        if len(tops) != 1:
            raise BadUserInput(
                "overview needs `under` to name one tenant in your scope"
                if tops
                else "no tenant in your scope matches `under`",
                argument="under",
            )
        now = datetime.now(ctx.timezone)
        start = datetime.combine(now.date(), time(0), tzinfo=ctx.timezone)
        counts = await service.counts(
            ctx.db, scope=scope, day_start=start, day_end=start + timedelta(days=1)
        )
        return Overview(
            tenant=tenant_node(tops[0], ctx.loaders),
            branches=counts.branches,
            members=counts.members,
            activities_today=counts.activities_today,
        )
