"""The command center's feed: Query.feedEvents (history) and Subscription.feed (live)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from policies.rbac import Resource
from schema.context import Context
from schema.ids import cursor, global_id, parse_cursor
from schema.loaders import Loaders
from schema.pagination import PageArgs
from schema.permissions import Can, allow
from schema.types import (
    BranchNode,
    Node,
    PageInfo,
    TenantNode,
    branch_from_facts,
    tenant_from_facts,
)
from server.errors import AppError
from server.feed import service
from server.feed.events import Event
from server.feed.hub import Subscriber
from server.feed.models import FeedKind, Light


class FeedOverflow(AppError):
    """The subscriber fell behind by more than its queue holds: resume with `after`."""

    code = "SUBSCRIBER_TOO_SLOW"


@strawberry.type(name="FeedEvent", description="Something that happened, as the feed shows it.")
class FeedEventNode(Node):
    cursor: str = strawberry.field(description="Resume the feed after this event with it.")
    kind: FeedKind
    light: Light | None
    title: str
    tenant: TenantNode
    branch: BranchNode | None
    occurred_at: dt.datetime
    recorded_at: dt.datetime = strawberry.field(
        description="When the platform recorded it: the time of the change that caused it."
    )
    payload: JSON | None


@strawberry.type
class FeedEventEdge:
    cursor: str
    node: FeedEventNode


@strawberry.type
class FeedEventConnection:
    edges: list[FeedEventEdge]
    page_info: PageInfo


def feed_event_node(event: Event, loaders: Loaders) -> FeedEventNode:
    """Built from the event alone: what it carries of its tenant and branch is what the feed
    shows (their state when it happened); only a tenant's parent would need the database."""
    tenant = tenant_from_facts(event.tenant, loaders)
    branch = None if event.branch is None else branch_from_facts(event.branch, tenant)
    return FeedEventNode(
        id=global_id("FeedEvent", event.id),
        cursor=cursor(event.id),
        kind=FeedKind(event.kind),
        light=Light(event.light) if event.light else None,
        title=event.title,
        tenant=tenant,
        branch=branch,
        occurred_at=event.occurred_at,
        recorded_at=event.recorded_at,
        payload=event.data or None,  # type: ignore[arg-type]
    )


def _kinds(kinds: list[FeedKind] | None) -> list[str] | None:
    return None if kinds is None else sorted({k.value for k in kinds})


@strawberry.type
class FeedQuery:
    @strawberry.field(
        description="The feed's history in scope (narrowed by `under`, filtered by `kinds`), "
        "newest first; `after` continues with older events.",
        extensions=[allow(Can(Resource.FEED))],
    )
    async def feed_events(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        kinds: list[FeedKind] | None = None,
        after: str | None = None,
        first: int | None = None,
    ) -> FeedEventConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = await ctx.scope_under(under, Resource.FEED)
        events = await service.history(
            ctx.db, scope=scope, kinds=_kinds(kinds), after_id=page.after_id, limit=page.fetch
        )
        edges = [
            FeedEventEdge(cursor=cursor(e.id), node=feed_event_node(e, ctx.loaders))
            for e in events[: page.first]
        ]
        info_ = PageInfo(
            has_next_page=len(events) > page.first,
            end_cursor=edges[-1].cursor if edges else None,
        )
        return FeedEventConnection(edges=edges, page_info=info_)


@strawberry.type
class FeedSubscription:
    @strawberry.subscription(
        description="Events in scope as they happen, in id order. With `after`, the stored "
        "events after that cursor come first: nothing missed, nothing twice.",
        extensions=[allow(Can(Resource.FEED))],
    )
    async def feed(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        kinds: list[FeedKind] | None = None,
        after: str | None = None,
    ) -> AsyncGenerator[FeedEventNode, None]:
        ctx = info.context
        runtime = ctx.runtime
        after_id = None if after is None else parse_cursor(after)
        scope = await ctx.scope_under(under, Resource.FEED)
        await ctx.db.release()  # no connection held while the subscription lives
        wanted = _kinds(kinds)
        subscriber = Subscriber(
            scope, None if wanted is None else frozenset(wanted), runtime.settings.feed_queue
        )
        # Registered first, so nothing committed from now on is missed; what came before is
        # replayed from the database up to where live delivery starts.
        live_from = runtime.hub.register(subscriber)
        last = live_from if after_id is None else after_id
        try:
            if after_id is not None and after_id < live_from:
                async for event in service.replay(
                    runtime.engine, scope=scope, kinds=wanted, after_id=after_id, upto=live_from
                ):
                    yield feed_event_node(event, ctx.loaders)
                    last = event.id
                last = max(last, live_from)
            while True:
                if subscriber.overflowed and subscriber.queue.empty():
                    raise FeedOverflow(
                        "this subscriber fell behind; subscribe again with `after`",
                        lastCursor=cursor(last),
                    )
                event = await subscriber.queue.get()
                if event.id <= last:
                    continue  # replayed already
                yield feed_event_node(event, ctx.loaders)
                last = event.id
                await ctx.db.release()
        finally:
            runtime.hub.unregister(subscriber)
