"""Alerts: Query.alerts, Mutation.acknowledgeAlert / resolveAlert."""

from __future__ import annotations

import datetime as dt
import json
from datetime import UTC, datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from policies.rbac import Action, Resource
from schema.context import Context
from schema.ids import global_id, parse_global_id
from schema.loaders import Loaders
from schema.pagination import PageArgs
from schema.permissions import Can, allow
from schema.types import EDGES, Node, PageInfo, TenantNode, connection
from server.errors import BadUserInput
from server.feed import service
from server.feed.models import AlertStatus, Light
from tenants.scope import Scope

NOTE_MAX = 2000


@strawberry.type(name="Alert", description="A security alert or warning that needs follow-up.")
class AlertNode(Node):
    kind: str
    light: Light
    title: str
    status: AlertStatus
    occurred_at: dt.datetime
    tenant: TenantNode | None
    subject: str | None
    detail: JSON
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    resolved_at: dt.datetime | None
    resolved_by: str | None
    note: str | None
    pk: strawberry.Private[int]


@strawberry.type
class AlertEdge:
    cursor: str
    node: AlertNode


@strawberry.type
class AlertConnection:
    edges: list[AlertEdge]
    page_info: PageInfo
    counter: strawberry.Private[Any]

    @strawberry.field(description="How many alerts match, over all pages.")
    async def total_count(self) -> int:
        return int(await self.counter())


EDGES[AlertConnection] = AlertEdge


def alert_node(row: Any, loaders: Loaders) -> AlertNode:
    return AlertNode(
        id=global_id("Alert", row.id),
        pk=row.id,
        kind=row.kind,
        light=Light(row.light),
        title=row.title,
        status=AlertStatus(row.status),
        occurred_at=row.occurred_at,
        tenant=None if row.tenant_path is None else loaders.own_tenant.load(row.tenant_path),  # type: ignore[arg-type]
        subject=row.subject,
        detail=json.loads(row.detail),
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        note=row.note,
    )


@strawberry.type
class AlertQuery:
    @strawberry.field(
        description="Alerts in scope (narrowed by `under`), newest first, filtered by light "
        "and status.",
        extensions=[allow(Can(Resource.ALERT))],
    )
    async def alerts(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        lights: list[Light] | None = None,
        status: list[AlertStatus] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> AlertConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = await ctx.scope_under(under, Resource.ALERT)
        wanted_lights = None if lights is None else sorted({x.value for x in lights})
        statuses = None if status is None else sorted({x.value for x in status})
        rows = await service.alerts(
            ctx.db,
            scope=scope,
            lights=wanted_lights,
            statuses=statuses,
            after_id=page.after_id,
            limit=page.fetch,
        )
        return connection(
            AlertConnection,
            rows,
            page,
            lambda r: alert_node(r, ctx.loaders),
            lambda: service.count_alerts(
                ctx.db, scope=scope, lights=wanted_lights, statuses=statuses
            ),
        )


async def _move(ctx: Context, alert_id: str, to: AlertStatus, note: str | None) -> AlertNode:
    kind, pk = parse_global_id(alert_id)
    if kind != "Alert":
        raise BadUserInput("id must be the id of an Alert", argument="id")
    if note is not None and len(note) > NOTE_MAX:
        raise BadUserInput(f"note is longer than {NOTE_MAX} characters", argument="note")
    scope: Scope = ctx.scope(Resource.ALERT, Action.WRITE)
    async with ctx.runtime.write() as (conn, outbox):
        found = await service.alerts_by_ids(ctx.db, scope=scope, ids=[pk])
        if not found:
            raise ctx.denied(f"{to.value.lower()} that alert")  # absent and out of reach alike
        event = await service.move(
            conn,
            alert=found[0],
            to=to,
            actor=ctx.actor(),
            client=ctx.client_address,
            note=note,
            now=datetime.now(UTC),
        )
        if event is not None:
            outbox.append(event)
    [row] = await service.alerts_by_ids(ctx.db, scope=scope, ids=[pk])
    return alert_node(row, ctx.loaders)


@strawberry.type
class AlertMutation:
    @strawberry.mutation(
        description="Take an open alert in hand.",
        extensions=[allow(Can(Resource.ALERT, Action.WRITE))],
    )
    async def acknowledge_alert(self, info: Info[Context, None], id: strawberry.ID) -> AlertNode:
        return await _move(info.context, id, AlertStatus.ACKNOWLEDGED, None)

    @strawberry.mutation(
        description="Close an alert with a note on what was done.",
        extensions=[allow(Can(Resource.ALERT, Action.WRITE))],
    )
    async def resolve_alert(
        self, info: Info[Context, None], id: strawberry.ID, note: str
    ) -> AlertNode:
        if not note.strip():
            raise BadUserInput("say in the note what was done", argument="note")
        return await _move(info.context, id, AlertStatus.RESOLVED, note.strip())
