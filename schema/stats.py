"""The command center's charts: Query.stats (activities per day, branches by category)."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from policies.rbac import Resource
from schema.context import Context
from schema.permissions import Can, allow
from schema.types import BranchCategory
from server.errors import BadUserInput
from server.stats import service

DAYS_MAX = 366  # a year of days is still one small chart


@strawberry.type(description="Activities that took place on one day.")
class DayCount:
    date: dt.date = strawberry.field(description="The day, in the district's time zone.")
    count: int


@strawberry.type(description="Branches of one category.")
class CategoryCount:
    category: BranchCategory
    count: int


@strawberry.type(description="Chart data for a subtree.")
class Stats:
    activities_per_day: list[DayCount] = strawberry.field(
        description="Every day of the window, oldest first, today last, zeros included."
    )
    branches_by_category: list[CategoryCount] = strawberry.field(
        description="Every category, zeros included."
    )


@strawberry.type
class StatsQuery:
    @strawberry.field(
        description="Chart data for the viewer's scope, or for the subtree `under`: "
        "activities per day over the last `days` days (in the district's time zone) and "
        "branches by category.",
        extensions=[allow(Can(Resource.OVERVIEW))],
    )
    async def stats(
        self, info: Info[Context, None], under: strawberry.ID | None = None, days: int = 30
    ) -> Stats:
        if not 1 <= days <= DAYS_MAX:
            raise BadUserInput(f"`days` must be between 1 and {DAYS_MAX}", argument="days")
        ctx = info.context
        scope = await ctx.scope_under(under, Resource.OVERVIEW)
        today = dt.datetime.now(ctx.timezone).date()
        per_day = await service.activities_per_day(
            ctx.db, scope=scope, today=today, days=days, zone=ctx.timezone
        )
        per_category = await service.branches_by_category(ctx.db, scope=scope)
        return Stats(
            activities_per_day=[DayCount(date=day, count=n) for day, n in per_day],
            branches_by_category=[CategoryCount(category=c, count=n) for c, n in per_category],
        )
