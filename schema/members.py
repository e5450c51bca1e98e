"""Query.members."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from policies.rbac import Resource
from schema.context import Context
from schema.lookahead import Lookahead
from schema.pagination import PageArgs
from schema.permissions import Can, allow
from schema.types import MemberConnection, connection, member_node
from server.members import service


@strawberry.type
class MemberQuery:
    @strawberry.field(
        description="Members in scope (narrowed by `under`), in id order; "
        "`search` matches part of a name.",
        extensions=[allow(Can(Resource.MEMBER))],
    )
    async def members(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        search: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> MemberConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = await ctx.scope_under(under, Resource.MEMBER)
        # JOIN the branch and its tenant into the page's query when the query reads them.
        node = Lookahead.of(info)["edges"]["node"]
        with_branch = node.has("branch")
        with_tenant = with_branch and node["branch"].has("tenant")
        rows = await service.list_members(
            ctx.db,
            scope=scope,
            search=search,
            after_id=page.after_id,
            limit=page.fetch,
            with_branch=with_branch,
            with_tenant=with_tenant,
        )
        return connection(
            MemberConnection,
            rows,
            page,
            lambda r: member_node(r, ctx.loaders, with_branch=with_branch, with_tenant=with_tenant),
            lambda: service.count_members(ctx.db, scope=scope, search=search),
        )
