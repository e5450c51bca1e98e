"""Query.branches."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from policies.rbac import Resource
from schema.context import Context
from schema.lookahead import Lookahead
from schema.pagination import PageArgs
from schema.permissions import Can, allow
from schema.types import BranchConnection, branch_node, connection
from server.branches import service
from server.branches.models import BranchCategory


@strawberry.type
class BranchQuery:
    @strawberry.field(
        description="Branches in scope (narrowed by `under`), in id order.",
        extensions=[allow(Can(Resource.BRANCH))],
    )
    async def branches(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        category: BranchCategory | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> BranchConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = await ctx.scope_under(under, Resource.BRANCH)
        with_tenant = Lookahead.of(info)["edges"]["node"].has("tenant")
        rows = await service.list_branches(
            ctx.db,
            scope=scope,
            category=category,
            after_id=page.after_id,
            limit=page.fetch,
            with_tenant=with_tenant,
        )
        return connection(
            BranchConnection,
            rows,
            page,
            lambda r: branch_node(r, ctx.loaders, with_tenant=with_tenant),
            lambda: service.count_branches(ctx.db, scope=scope, category=category),
        )
