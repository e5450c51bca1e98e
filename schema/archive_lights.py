"""The cadre archive's scores and lights over GraphQL: Query.radar, cadreLights, lightHistory,
lightRules, remediationPlans; Mutation.createLightRule, setLightRuleActive,
createRemediationPlan, closeRemediationPlan.

Everything here is about a cadre's file: read under ARCHIVE (admins over their subtree, a member
its own file), changed under ARCHIVE write (plans) or ARCHIVE_RULE write (the rules: the super
admin only). Names are unmasked where the viewer may read the file's sensitive parts
(ARCHIVE read_sensitive), otherwise shown as 王某. Every read that returns a file's data and
every change is audited.
"""

from __future__ import annotations

import datetime as dt
import json
from datetime import UTC, datetime

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info
from strawberry.types.enum import has_enum_definition

# The catalogue's module may register the archive's enums first (build.py imports this module
# before it): import it so that each enum gets one definition, whoever makes it.
import schema.archives  # noqa: F401
from policies.rbac import Action, Resource
from schema.context import Context
from schema.ids import global_id, id_of
from schema.lazy import Lazy
from schema.pagination import PageArgs
from schema.permissions import Can, allow
from schema.types import EDGES, Counter, PageInfo, TenantNode, connection
from server.archives import lights as service
from server.archives import rules, scoring
from server.archives.models import Dimension, LightRuleKind, PlanStatus
from server.audit import service as audit
from server.feed.events import Event
from server.feed.models import Light
from server.members.privacy import masked_name
from server.sql import AnyRow
from tenants.models import Tenant, TenantLevel

if not has_enum_definition(Dimension):
    strawberry.enum(
        Dimension,
        description="The five political dimensions a cadre is scored on: loyalty, "
        "determination, responsibility, ability, self-discipline.",
    )
strawberry.enum(
    LightRuleKind,
    description="SERIOUS_NEGATIVE: a verified serious negative record in the window; "
    "DIMENSION_BELOW: a dimension's score under the threshold; NEGATIVE_COUNT: at least "
    "`count` verified negative records in the window.",
)
strawberry.enum(PlanStatus, name="RemediationPlanStatus", description="OPEN, then CLOSED.")


# -- types ----------------------------------------------------------------------------------------


@strawberry.type
class RadarDimension:
    dimension: Dimension
    value: float = strawberry.field(description="0-100; see the README for the formula.")
    district_average: float | None = strawberry.field(
        description="The mean over every scored cadre of the district; null when none is."
    )


@strawberry.type
class CadreRadar:
    cadre_id: strawberry.ID
    dimensions: list[RadarDimension] = strawberry.field(description="The five, in a fixed order.")
    records: int = strawberry.field(description="Verified records in the 365-day window.")
    computed_at: dt.datetime | None = strawberry.field(
        description="When the scores were computed; null for a cadre not scored yet (its "
        "values computed for this read)."
    )


@strawberry.type
class LightReason:
    rule_id: strawberry.ID
    kind: LightRuleKind
    light: Light
    why: str


@strawberry.type(name="CadreLight", description="A cadre's current light and why.")
class CadreLightNode:
    cadre_id: strawberry.ID
    name: str = strawberry.field(description="Masked (王某) unless you may read the file.")
    position: str
    tenant: TenantNode
    light: Light
    since: dt.datetime | None = strawberry.field(description="Null: GREEN from the start.")
    reasons: list[LightReason]
    needs_plan: bool = strawberry.field(description="YELLOW or RED without an open plan.")


@strawberry.type
class CadreLightEdge:
    cursor: str
    node: CadreLightNode


@strawberry.type
class CadreLightConnection:
    edges: list[CadreLightEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type(name="LightChange", description="One change of a cadre's light, kept.")
class LightChangeNode:
    id: strawberry.ID
    cadre_id: strawberry.ID
    from_light: Light | None = strawberry.field(description="Null: the first change.")
    to_light: Light
    reasons: list[LightReason]
    at: dt.datetime
    alert_id: strawberry.ID | None = strawberry.field(
        description="The alert the change opened (YELLOW and RED)."
    )


@strawberry.type(name="LightRule", description="A rule of the traffic lights for a subtree.")
class LightRuleNode:
    id: strawberry.ID
    tenant_path: str = strawberry.field(description="The subtree it applies to.")
    kind: LightRuleKind
    light: Light
    dimension: Dimension | None = strawberry.field(
        description="DIMENSION_BELOW: the dimension; null for any of the five."
    )
    threshold: float | None
    count: int | None
    window_days: int
    active: bool
    created_by: str
    created_at: dt.datetime


@strawberry.type(name="RemediationPlan", description="What a yellow or red light needs.")
class RemediationPlanNode:
    id: strawberry.ID
    cadre_id: strawberry.ID
    cadre_name: str = strawberry.field(description="Masked (王某) unless you may read the file.")
    light: Light = strawberry.field(description="The light the plan was made for.")
    alert_id: strawberry.ID | None
    owner: str
    due_on: dt.date
    actions: str
    status: PlanStatus
    closing_note: str | None
    created_by: str
    created_at: dt.datetime
    closed_at: dt.datetime | None


@strawberry.type
class RemediationPlanEdge:
    cursor: str
    node: RemediationPlanNode


@strawberry.type
class RemediationPlanConnection:
    edges: list[RemediationPlanEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


EDGES[CadreLightConnection] = CadreLightEdge
EDGES[RemediationPlanConnection] = RemediationPlanEdge


@strawberry.input
class CreateLightRuleInput:
    under: strawberry.ID = strawberry.field(description="The tenant whose subtree it covers.")
    kind: LightRuleKind
    light: Light = strawberry.field(description="YELLOW or RED.")
    dimension: Dimension | None = strawberry.field(
        default=None, description="DIMENSION_BELOW only; null: any of the five."
    )
    threshold: float | None = strawberry.field(
        default=None, description="DIMENSION_BELOW: a score under it fires (0-100)."
    )
    count: int | None = strawberry.field(
        default=None, description="NEGATIVE_COUNT: this many negative records fire."
    )
    window_days: int = strawberry.field(
        default=365, description="1-3650: records dated within these days count."
    )


@strawberry.input
class CreateRemediationPlanInput:
    cadre_id: strawberry.ID
    owner: str = strawberry.field(description="The username of who carries the plan out.")
    due_on: dt.date
    actions: str


# -- rows -> nodes --------------------------------------------------------------------------------


def _name(ctx: Context, name: str, path: str, member_id: int) -> str:
    sensitive = ctx.scope(Resource.ARCHIVE, Action.READ_SENSITIVE)
    return name if sensitive.admits(path, member=member_id) else masked_name(name)


def _reasons(text: str | None) -> list[LightReason]:
    return [
        LightReason(
            rule_id=global_id("LightRule", r["rule"]),
            kind=LightRuleKind(r["kind"]),
            light=Light(r["light"]),
            why=r["why"],
        )
        for r in json.loads(text or "[]")
    ]


def _tenant_node(row: AnyRow, ctx: Context) -> TenantNode:
    return TenantNode(
        id=global_id("Tenant", row.t_id),
        pk=row.t_id,
        code=row.code,
        name=row.t_name,
        level=TenantLevel(row.level),
        path=row.path,
        parent=None if row.parent_id is None else Lazy(ctx.loaders.tenant, row.parent_id),  # type: ignore[arg-type]
    )


def light_node(row: AnyRow, ctx: Context) -> CadreLightNode:
    return CadreLightNode(
        cadre_id=global_id("Cadre", row.id),
        name=_name(ctx, row.name, row.path, row.member_id),
        position=row.position,
        tenant=_tenant_node(row, ctx),
        light=Light(row.light),
        since=row.since,
        reasons=_reasons(row.reasons),
        needs_plan=service.needs_plan(row.light, bool(row.has_plan)),
    )


def change_node(row: AnyRow) -> LightChangeNode:
    return LightChangeNode(
        id=global_id("LightChange", row.id),
        cadre_id=global_id("Cadre", row.cadre_id),
        from_light=None if row.from_light is None else Light(row.from_light),
        to_light=Light(row.to_light),
        reasons=_reasons(row.reasons),
        at=row.at,
        alert_id=None if row.alert_id is None else global_id("Alert", row.alert_id),
    )


def rule_node(row: AnyRow) -> LightRuleNode:
    return LightRuleNode(
        id=global_id("LightRule", row.id),
        tenant_path=row.tenant_path,
        kind=LightRuleKind(row.kind),
        light=Light(row.light),
        dimension=None if row.dimension is None else Dimension(row.dimension),
        threshold=row.threshold,
        count=row._mapping["count"],
        window_days=row.window_days,
        active=bool(row.active),
        created_by=row.created_by,
        created_at=row.created_at,
    )


def plan_node(row: AnyRow, ctx: Context) -> RemediationPlanNode:
    return RemediationPlanNode(
        id=global_id("RemediationPlan", row.id),
        cadre_id=global_id("Cadre", row.cadre_id),
        cadre_name=_name(ctx, row.cadre_name, row.path, row.member_id),
        light=Light(row.light),
        alert_id=None if row.alert_id is None else global_id("Alert", row.alert_id),
        owner=row.owner,
        due_on=row.due_on,
        actions=row.actions,
        status=PlanStatus(row.status),
        closing_note=row.closing_note,
        created_by=row.created_by,
        created_at=row.created_at,
        closed_at=row.closed_at,
    )


def _audit_read(
    ctx: Context, action: str, count: int, *, path: str | None = None, subject: str | None = None
) -> None:
    if count:
        ctx.audit(
            audit.Entry(
                principal=ctx.actor(),
                action=action,
                tenant_path=path,
                subject=subject,
                client_address=ctx.client_address,
                detail={"rows": count},
            )
        )


# -- queries --------------------------------------------------------------------------------------


@strawberry.type
class LightQuery:
    @strawberry.field(
        description="A cadre's five scores and the district average of each; null when the "
        "file is not yours to read (absent and out of reach read the same).",
        extensions=[allow(Can(Resource.ARCHIVE))],
    )
    async def radar(self, info: Info[Context, None], cadre_id: strawberry.ID) -> CadreRadar | None:
        ctx = info.context
        pk = id_of(cadre_id, "Cadre", "cadreId")
        found = await scoring.cadre_in_scope(ctx.db, scope=ctx.scope(Resource.ARCHIVE), cadre_id=pk)
        if found is None:
            return None
        row = await scoring.stored(ctx.db, pk)
        if row is None:
            tally = await scoring.tally_now(ctx.db, pk, datetime.now(ctx.timezone))
            values, records, computed_at = tally.values(), tally.records, None
        else:
            values, records, computed_at = scoring.values_of(row), row.records, row.computed_at
        averages = await scoring.district_averages(ctx.db)
        ctx.audit(
            audit.Entry(
                principal=ctx.actor(),
                action="archive.read_radar",
                tenant_path=found.path,
                subject=str(pk),
                client_address=ctx.client_address,
            )
        )
        return CadreRadar(
            cadre_id=global_id("Cadre", pk),
            dimensions=[
                RadarDimension(dimension=d, value=values[d], district_average=averages[d])
                for d in scoring.DIMENSIONS
            ],
            records=records,
            computed_at=computed_at,
        )

    @strawberry.field(
        description="Cadres' current lights you may see, in cadre id order (a cadre never "
        "lit is GREEN); `lights` keeps those with one of the given lights, `under` narrows "
        "to one tenant's subtree.",
        extensions=[allow(Can(Resource.ARCHIVE))],
    )
    async def cadre_lights(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        lights: list[Light] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> CadreLightConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = await ctx.scope_under(under, Resource.ARCHIVE)
        wanted = None if lights is None else sorted({light.value for light in lights})
        rows = await service.cadre_lights(
            ctx.db, scope=scope, lights=wanted, after_id=page.after_id, limit=page.fetch
        )
        _audit_read(ctx, "archive.read_lights", min(len(rows), page.first))
        return connection(
            CadreLightConnection,
            rows,
            page,
            lambda r: light_node(r, ctx),
            lambda: service.count_cadre_lights(ctx.db, scope=scope, lights=wanted),
        )

    @strawberry.field(
        description="A cadre's light changes, oldest first; empty when the file is not yours "
        "to read.",
        extensions=[allow(Can(Resource.ARCHIVE))],
    )
    async def light_history(
        self, info: Info[Context, None], cadre_id: strawberry.ID
    ) -> list[LightChangeNode]:
        ctx = info.context
        pk = id_of(cadre_id, "Cadre", "cadreId")
        found = await scoring.cadre_in_scope(ctx.db, scope=ctx.scope(Resource.ARCHIVE), cadre_id=pk)
        if found is None:
            return []
        rows = await service.history(ctx.db, cadre_id=pk)
        _audit_read(ctx, "archive.read_light_history", len(rows), path=found.path, subject=str(pk))
        return [change_node(r) for r in rows]

    @strawberry.field(
        description="The light rules that bear on your subtree (those set in it and above "
        "it), in id order, inactive ones included; `under` narrows to one tenant's subtree.",
        extensions=[allow(Can(Resource.ARCHIVE))],
    )
    async def light_rules(
        self, info: Info[Context, None], under: strawberry.ID | None = None
    ) -> list[LightRuleNode]:
        ctx = info.context
        scope = await ctx.scope_under(under, Resource.ARCHIVE)
        return [rule_node(r) for r in await rules.list_rules(ctx.db, scope=scope)]

    @strawberry.field(
        description="Remediation plans on the files you may read, in id order; `status` "
        "keeps OPEN or CLOSED ones, `under` narrows to one tenant's subtree.",
        extensions=[allow(Can(Resource.ARCHIVE))],
    )
    async def remediation_plans(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        status: PlanStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> RemediationPlanConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = await ctx.scope_under(under, Resource.ARCHIVE)
        rows = await service.plans(
            ctx.db, scope=scope, status=status, after_id=page.after_id, limit=page.fetch
        )
        _audit_read(ctx, "archive.read_plans", min(len(rows), page.first))
        return connection(
            RemediationPlanConnection,
            rows,
            page,
            lambda r: plan_node(r, ctx),
            lambda: service.count_plans(ctx.db, scope=scope, status=status),
        )


# -- mutations ------------------------------------------------------------------------------------


async def _reevaluate(conn: AsyncConnection, path: str, now: datetime) -> list[Event]:
    """A rule changed: the lights it bears on, now (not at the next daily pass)."""
    return await service.evaluate(conn, await service.cadres_under(conn, path), now)


@strawberry.type
class LightMutation:
    @strawberry.mutation(
        description="Add a light rule for a subtree (super admin). The lights of the cadres "
        "there are re-evaluated at once; each change reaches the feed as WARNING.",
        extensions=[allow(Can(Resource.ARCHIVE_RULE, Action.WRITE))],
    )
    async def create_light_rule(
        self, info: Info[Context, None], input: CreateLightRuleInput
    ) -> LightRuleNode:
        ctx = info.context
        tenant_pk = id_of(input.under, "Tenant", "under")
        values = rules.checked(
            kind=input.kind,
            light=input.light,
            dimension=input.dimension,
            threshold=input.threshold,
            count=input.count,
            window_days=input.window_days,
        )
        now = datetime.now(UTC)
        async with ctx.runtime.write() as (conn, outbox):
            path = await conn.scalar(select(Tenant.path).where(Tenant.id == tenant_pk))
            # Out of reach and absent are the same refusal: existence does not leak.
            if path is None or not ctx.scope(Resource.ARCHIVE_RULE, Action.WRITE).contains(path):
                raise ctx.denied("set light rules there", path=path)
            rule_id = await rules.create(
                conn,
                tenant_path=path,
                values=values,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=now,
            )
            outbox.extend(await _reevaluate(conn, path, now))
            made = await rules.rule(conn, rule_id)
        assert made is not None
        return rule_node(made)

    @strawberry.mutation(
        description="Switch a light rule on or off (super admin); the lights it bears on are "
        "re-evaluated at once.",
        extensions=[allow(Can(Resource.ARCHIVE_RULE, Action.WRITE))],
    )
    async def set_light_rule_active(
        self, info: Info[Context, None], id: strawberry.ID, active: bool
    ) -> LightRuleNode:
        ctx = info.context
        pk = id_of(id, "LightRule", "id")
        now = datetime.now(UTC)
        async with ctx.runtime.write() as (conn, outbox):
            found = await rules.rule(conn, pk)
            if found is None or not ctx.scope(Resource.ARCHIVE_RULE, Action.WRITE).contains(
                found.tenant_path
            ):
                raise ctx.denied(
                    "change light rules there", path=None if found is None else found.tenant_path
                )
            await rules.set_active(
                conn,
                found=found,
                active=active,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=now,
            )
            outbox.extend(await _reevaluate(conn, found.tenant_path, now))
            made = await rules.rule(conn, pk)
        assert made is not None
        return rule_node(made)

    @strawberry.mutation(
        description="Open a remediation plan for a YELLOW or RED cadre (one open plan per "
        "cadre at a time).",
        extensions=[allow(Can(Resource.ARCHIVE, Action.WRITE))],
    )
    async def create_remediation_plan(
        self, info: Info[Context, None], input: CreateRemediationPlanInput
    ) -> RemediationPlanNode:
        ctx = info.context
        cadre_pk = id_of(input.cadre_id, "Cadre", "cadreId")
        scope = ctx.scope(Resource.ARCHIVE, Action.WRITE)
        now = datetime.now(UTC)
        async with ctx.runtime.write() as (conn, _outbox):
            cadre = await service.cadre_place(conn, scope=scope, cadre_id=cadre_pk)
            if cadre is None:
                raise ctx.denied("make remediation plans for that cadre")
            plan_id = await service.create_plan(
                conn,
                cadre=cadre,
                owner=input.owner.strip(),
                due_on=input.due_on,
                actions=input.actions,
                today=datetime.now(ctx.timezone).date(),
                actor=ctx.actor(),
                client=ctx.client_address,
                now=now,
            )
            made = await service.plan(conn, scope=scope, plan_id=plan_id)
        assert made is not None
        return plan_node(made, ctx)

    @strawberry.mutation(
        description="Close an open remediation plan; the closing note is required.",
        extensions=[allow(Can(Resource.ARCHIVE, Action.WRITE))],
    )
    async def close_remediation_plan(
        self, info: Info[Context, None], id: strawberry.ID, closing_note: str
    ) -> RemediationPlanNode:
        ctx = info.context
        pk = id_of(id, "RemediationPlan", "id")
        scope = ctx.scope(Resource.ARCHIVE, Action.WRITE)
        now = datetime.now(UTC)
        async with ctx.runtime.write() as (conn, _outbox):
            found = await service.plan(conn, scope=scope, plan_id=pk)
            if found is None:
                raise ctx.denied("close that remediation plan")
            await service.close_plan(
                conn,
                found=found,
                closing_note=closing_note,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=now,
            )
            made = await service.plan(conn, scope=scope, plan_id=pk)
        assert made is not None
        return plan_node(made, ctx)
