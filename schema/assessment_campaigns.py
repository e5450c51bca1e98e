"""Assessment campaigns: Mutation.launchAssessmentCampaign and submitAssessment, and
Query.assessmentCampaigns."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.scalars import JSON
from strawberry.types import Info

from policies.rbac import Action, Resource
from schema.context import Context
from schema.ids import global_id, parse_global_id
from schema.pagination import PageArgs
from schema.permissions import Can, allow
from schema.types import EDGES, Counter, PageInfo, connection
from server.assessments import campaigns as service
from server.assessments import results
from server.assessments.models import CampaignStatus, Method, TargetKind
from server.errors import BadUserInput
from server.feed.events import TENANT_FACTS, tenant_info
from server.feed.events import tenant_facts as event_tenant
from server.sql import AnyRow
from tenants.models import Tenant

strawberry.enum(
    Method,
    name="AssessmentMethod",
    description="Who scores: the target itself, its peers, an anonymous vote, or the "
    "higher organisation.",
)
strawberry.enum(CampaignStatus, name="AssessmentCampaignStatus")


@strawberry.input
class MethodWeightInput:
    method: Method
    weight: float


@strawberry.input
class EvaluatorInput:
    method: Method
    username: str
    target_id: strawberry.ID | None = strawberry.field(
        default=None, description="One target only; without it, every target of the campaign."
    )


@strawberry.input
class LaunchAssessmentCampaignInput:
    template_code: str
    name: str
    under: strawberry.ID = strawberry.field(description="The tenant whose subtree it covers.")
    opens_at: datetime
    closes_at: datetime
    methods: list[MethodWeightInput] = strawberry.field(
        description="Weights need not sum to 1: scoring normalises them."
    )
    target_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description="Branches or members (by the template's kind) in the subtree; "
        "default: all of them.",
    )
    evaluators: list[EvaluatorInput] = strawberry.field(default_factory=list)


@strawberry.type(name="MethodWeight")
class MethodWeightNode:
    method: Method
    weight: float


@strawberry.type(name="AssessmentCampaign")
class AssessmentCampaignNode:
    id: strawberry.ID
    name: str
    template_code: str
    template_version: int
    tenant_path: str
    opens_at: datetime
    closes_at: datetime
    methods: list[MethodWeightNode]
    status: CampaignStatus
    created_by: str
    closed_at: datetime | None


@strawberry.type
class AssessmentCampaignEdge:
    cursor: str
    node: AssessmentCampaignNode


@strawberry.type
class AssessmentCampaignConnection:
    edges: list[AssessmentCampaignEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


EDGES[AssessmentCampaignConnection] = AssessmentCampaignEdge


def campaign_node(row: AnyRow) -> AssessmentCampaignNode:
    return AssessmentCampaignNode(
        id=global_id("AssessmentCampaign", row.id),
        name=row.name,
        template_code=row.template_code,
        template_version=row.template_version,
        tenant_path=row.tenant_path,
        opens_at=row.opens_at,
        closes_at=row.closes_at,
        methods=[
            MethodWeightNode(method=Method(m), weight=w) for m, w in json.loads(row.methods).items()
        ],
        status=row.status,
        created_by=row.created_by,
        closed_at=row.closed_at,
    )


KIND_OF_ID = {"Branch": TargetKind.BRANCH, "Member": TargetKind.MEMBER, "Person": TargetKind.PERSON}


def _target(value: strawberry.ID, argument: str) -> tuple[TargetKind, int]:
    kind, pk = parse_global_id(value, argument=argument)
    if kind not in KIND_OF_ID:
        raise BadUserInput(
            f"{argument} must be the id of a Branch, a Member or a Person", argument=argument
        )
    return KIND_OF_ID[kind], pk


def _target_pk(value: strawberry.ID, argument: str) -> int:
    return _target(value, argument)[1]


def _one_kind(targets: list[tuple[TargetKind, int]], argument: str) -> TargetKind | None:
    """The kind every given id is of (a campaign assesses one kind), None when none given."""
    kinds = {kind for kind, _ in targets}
    if len(kinds) > 1:
        raise BadUserInput(f"{argument}: ids of one kind only", argument=argument)
    return next(iter(kinds), None)


def parse_campaign_id(value: strawberry.ID) -> int:
    kind, pk = parse_global_id(value, argument="campaignId")
    if kind != "AssessmentCampaign":
        raise BadUserInput(
            "campaignId must be the id of an AssessmentCampaign", argument="campaignId"
        )
    return pk


def _checked(data: LaunchAssessmentCampaignInput) -> dict[str, Any]:
    """The input's values, or BAD_USER_INPUT naming the field that is wrong."""
    name = data.name.strip()
    if not 1 <= len(name) <= 120:
        raise BadUserInput("name must have 1 to 120 characters", argument="name")
    if data.opens_at.tzinfo is None or data.closes_at.tzinfo is None:
        raise BadUserInput("opensAt and closesAt need a time zone offset", argument="closesAt")
    if data.closes_at <= data.opens_at:
        raise BadUserInput("the campaign must close after it opens", argument="closesAt")
    methods: dict[Method, float] = {}
    for entry in data.methods:
        if entry.method in methods:
            raise BadUserInput(f"method {entry.method} given twice", argument="methods")
        if not 0 < entry.weight < float("inf"):
            raise BadUserInput(f"method {entry.method} needs a positive weight", argument="methods")
        methods[entry.method] = entry.weight
    if not methods:
        raise BadUserInput("a campaign needs at least one method", argument="methods")
    targets = (
        None if data.target_ids is None else [_target(t, "targetIds") for t in data.target_ids]
    )
    assigned = [
        (e, None if e.target_id is None else _target(e.target_id, "evaluators"))
        for e in data.evaluators
    ]
    return {
        "name": name,
        "opens_at": data.opens_at,
        "closes_at": data.closes_at,
        "methods": methods,
        "target_ids": None if targets is None else [pk for _, pk in targets],
        "target_kind": _one_kind([*(targets or []), *(t for _, t in assigned if t)], "targetIds"),
        "evaluators": [
            service.EvaluatorSpec(e.method, e.username, None if t is None else t[1])
            for e, t in assigned
        ],
    }


async def tenant_facts(conn: AsyncConnection, path: str) -> dict[str, Any]:
    tenant = await tenant_info(conn, path)
    assert tenant is not None  # tenants are never deleted
    return tenant


@strawberry.type
class AssessmentCampaignMutation:
    @strawberry.mutation(
        description="Launch a campaign on the latest version of a template over a subtree; "
        "it reaches the feed as ASSESSMENT.",
        extensions=[allow(Can(Resource.ASSESSMENT, Action.WRITE))],
    )
    async def launch_assessment_campaign(
        self, info: Info[Context, None], input: LaunchAssessmentCampaignInput
    ) -> AssessmentCampaignNode:
        ctx = info.context
        kind, tenant_pk = parse_global_id(input.under, argument="under")
        if kind != "Tenant":
            raise BadUserInput("under must be the id of a Tenant", argument="under")
        values = _checked(input)
        async with ctx.runtime.write() as (conn, outbox):
            row = (await conn.execute(select(*TENANT_FACTS).where(Tenant.id == tenant_pk))).first()
            # Out of reach and absent are the same refusal: existence does not leak.
            if row is None or not ctx.scope(Resource.ASSESSMENT, Action.WRITE).contains(row.t_path):
                raise ctx.denied(
                    "launch assessment campaigns there", path=None if row is None else row.t_path
                )
            tenant = event_tenant(row)
            campaign_id, event = await service.launch(
                conn,
                template_code=input.template_code,
                tenant=tenant,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
                **values,
            )
            outbox.append(event)
            made = await service.campaign(conn, campaign_id)
        assert made is not None
        return campaign_node(made)

    @strawberry.mutation(
        description="Close a campaign now (the scheduler closes it at its closing time): its "
        "results are computed and published, Fortress Stars and Vanguard Index updated, and "
        "it reaches the feed as ASSESSMENT (closed, then results published).",
        extensions=[allow(Can(Resource.ASSESSMENT, Action.WRITE))],
    )
    async def close_assessment_campaign(
        self, info: Info[Context, None], campaign_id: strawberry.ID
    ) -> AssessmentCampaignNode:
        ctx = info.context
        campaign_pk = parse_campaign_id(campaign_id)
        async with ctx.runtime.write() as (conn, outbox):
            facts = await service.campaign(conn, campaign_pk)
            # Out of reach and absent are the same refusal: existence does not leak.
            if facts is None or not ctx.scope(Resource.ASSESSMENT, Action.WRITE).contains(
                facts.tenant_path
            ):
                path = None if facts is None else facts.tenant_path
                raise ctx.denied("close assessment campaigns there", path=path)
            closed = await results.close(
                conn,
                facts,
                tenant=await tenant_facts(conn, facts.tenant_path),
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
            )
            outbox.extend(closed.events)
            made = await service.campaign(conn, campaign_pk)
        assert made is not None
        return campaign_node(made)

    @strawberry.mutation(
        description="Submit one evaluator's scores ({indicator code: value}, every leaf "
        "indicator) for one target. DEMOCRATIC scores are stored without the evaluator.",
        extensions=[allow(Can(Resource.ASSESSMENT))],
    )
    async def submit_assessment(
        self,
        info: Info[Context, None],
        campaign_id: strawberry.ID,
        target_id: strawberry.ID,
        method: Method,
        scores: JSON,
    ) -> bool:
        ctx = info.context
        campaign_pk = parse_campaign_id(campaign_id)
        target_kind, target = _target(target_id, "targetId")
        if not isinstance(scores, dict):
            raise BadUserInput("scores must be an object of indicator codes", argument="scores")
        principal = ctx.require_principal()
        # Evaluators are users by name; a partner key is never one.
        username = principal.name if principal.kind == "user" else ""
        async with ctx.runtime.write() as (conn, _outbox):
            facts = await service.campaign(conn, campaign_pk)
            assignments = (
                []
                if facts is None
                else await service.evaluator_rows(
                    conn, campaign_pk, method=method, username=username, target_id=target
                )
            )
            # Not an evaluator and no such campaign are the same refusal.
            if facts is None or not assignments:
                path = None if facts is None else facts.tenant_path
                raise ctx.denied("submit assessments there", path=path)
            if target_kind is not facts.target_kind:
                raise BadUserInput(
                    f"the campaign assesses {facts.target_kind.value.lower()}s", argument="targetId"
                )
            await service.submit(
                conn,
                facts=facts,
                assignments=assignments,
                target_id=target,
                method=method,
                scores=scores,
                username=username,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
            )
        return True


@strawberry.type
class AssessmentCampaignQuery:
    @strawberry.field(
        description="Campaigns whose subtree lies within what the viewer may read, in id "
        "order; `under` narrows to one tenant's subtree.",
        extensions=[allow(Can(Resource.ASSESSMENT))],
    )
    async def assessment_campaigns(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> AssessmentCampaignConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = await ctx.scope_under(under, Resource.ASSESSMENT)
        rows = await service.list_campaigns(
            ctx.db, scope=scope, after_id=page.after_id, limit=page.fetch
        )
        return connection(
            AssessmentCampaignConnection,
            rows,
            page,
            campaign_node,
            lambda: service.count_campaigns(ctx.db, scope=scope),
        )
