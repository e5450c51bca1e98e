"""The command center's tiles for a subtree: Query.overview and Subscription.overview."""

from __future__ import annotations

import asyncio
import contextlib
import time as clock
from collections.abc import AsyncGenerator
from datetime import datetime, time, timedelta

import strawberry
from strawberry.types import Info

from policies.rbac import Resource
from schema.context import Context
from schema.permissions import Can, allow
from schema.types import TenantNode, tenant_node
from server.errors import BadUserInput
from server.feed.hub import Subscriber
from server.overview import service
from tenants import service as tenants
from tenants.scope import Scope

PUSH_INTERVAL = 1.0  # seconds: at most one push a second per subscriber
RECOUNT_AFTER = 60.0  # seconds without events after which the tiles are counted again


@strawberry.type(description="Open alerts by light.")
class LightCounts:
    green: int
    yellow: int
    red: int


@strawberry.type
class Overview:
    tenant: TenantNode
    branches: int
    members: int
    activities_today: int = strawberry.field(
        description="Activities that took place today, in the district's time zone."
    )
    open_alerts: int = strawberry.field(description="Alerts not resolved yet.")
    lights: LightCounts = strawberry.field(description="Open alerts by light.")


async def overview_of(ctx: Context, scope: Scope) -> Overview:
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
        open_alerts=counts.open_alerts,
        lights=LightCounts(green=counts.green, yellow=counts.yellow, red=counts.red),
    )


def _tiles(overview: Overview) -> tuple[object, ...]:
    return (
        overview.tenant.pk,
        overview.branches,
        overview.members,
        overview.activities_today,
        overview.open_alerts,
        overview.lights.green,
        overview.lights.yellow,
        overview.lights.red,
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
        return await overview_of(ctx, await ctx.scope_under(under, Resource.OVERVIEW))


@strawberry.type
class OverviewSubscription:
    @strawberry.subscription(
        description="The tiles now, then again whenever they change (at most once a second).",
        extensions=[allow(Can(Resource.OVERVIEW))],
    )
    async def overview(
        self, info: Info[Context, None], under: strawberry.ID | None = None
    ) -> AsyncGenerator[Overview, None]:
        ctx = info.context
        scope = await ctx.scope_under(under, Resource.OVERVIEW)
        hub = ctx.runtime.hub
        # Anything that happens in the subtree may change the tiles; a few pending events are
        # enough to know that, so a small queue (overflow just means "changed").
        changes = Subscriber(scope, None, capacity=16)
        hub.register(changes)
        try:
            current = await overview_of(ctx, scope)
            await ctx.db.release()
            yield current
            pushed_at = clock.monotonic()
            while True:
                if not changes.overflowed:
                    # A change in the subtree, or a minute gone by ("today" ends at midnight
                    # without any event saying so).
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changes.queue.get(), RECOUNT_AFTER)
                await asyncio.sleep(max(0.0, pushed_at + PUSH_INTERVAL - clock.monotonic()))
                while not changes.queue.empty():  # everything up to now is in one recount
                    changes.queue.get_nowait()
                changes.overflowed = False
                fresh = await overview_of(ctx, scope)
                await ctx.db.release()
                if _tiles(fresh) != _tiles(current):
                    current = fresh
                    pushed_at = clock.monotonic()
                    yield current
        finally:
            hub.unregister(changes)
