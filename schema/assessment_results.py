"""Assessment results over GraphQL: a campaign's ranking, a target's trend over campaigns,
and the ratings results feed (Fortress Stars per branch, Vanguard Index per member).

Results are personal evaluations: they are read under ASSESSMENT read_sensitive (admins in
their subtree; a member its own results and its branch's), and every read that returns any is
audited (the Fortress Stars list is about branches, not persons, and is not).
"""

from __future__ import annotations

import json
from datetime import datetime

import strawberry
from strawberry.types import Info

from policies.rbac import Action, Resource
from schema.assessment_campaigns import parse_campaign_id
from schema.context import Context
from schema.ids import cursor, global_id, parse_global_id
from schema.lazy import Lazy
from schema.pagination import PageArgs
from schema.permissions import Can, allow
from schema.types import EDGES, BranchNode, Counter, MemberNode, PageInfo, connection
from server.assessments import results as service
from server.assessments import standings
from server.assessments.models import Method, TargetKind
from server.audit import service as audit
from server.errors import BadUserInput
from server.sql import AnyRow

GLOBAL_KIND = {
    TargetKind.BRANCH: "Branch",
    TargetKind.MEMBER: "Member",
    TargetKind.PERSON: "Person",
}
TARGET_OF_KIND = {v: k for k, v in GLOBAL_KIND.items()}


@strawberry.type
class MethodScore:
    method: Method
    score: float = strawberry.field(description="0-100: the mean of the method's submissions.")


@strawberry.type
class IndicatorScore:
    code: str
    score: float = strawberry.field(description="0-100, methods weighted.")


@strawberry.type(name="AssessmentResult")
class AssessmentResultNode:
    id: strawberry.ID
    campaign_id: strawberry.ID
    target_kind: TargetKind
    target_id: strawberry.ID
    score: float | None = strawberry.field(
        description="0-100; null when nobody submitted for the target."
    )
    rank: int | None = strawberry.field(
        description="Rank in the whole campaign (equal scores share a rank); null unscored."
    )
    rank_in_scope: int | None = strawberry.field(
        description="Rank among the results this listing shows (your scope, `under`)."
    )
    submissions: int
    method_scores: list[MethodScore]
    breakdown: list[IndicatorScore] = strawberry.field(
        description="Every indicator of the template version, groups included."
    )
    branch: BranchNode | None = strawberry.field(description="The target, for branch results.")
    member: MemberNode | None = strawberry.field(description="The target, for member results.")


@strawberry.type
class AssessmentResultEdge:
    cursor: str
    node: AssessmentResultNode


@strawberry.type
class AssessmentResultConnection:
    edges: list[AssessmentResultEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type
class AssessmentTrendPoint:
    campaign_id: strawberry.ID
    campaign_name: str
    template_code: str
    closed_at: datetime | None
    score: float | None
    rank: int | None


@strawberry.type(name="FortressStars")
class FortressStarsNode:
    branch: BranchNode
    stars: int = strawberry.field(description="1-5; see the README for the formula.")
    score: float = strawberry.field(description="The 0-100 composite the stars come from.")
    assessment_score: float | None
    activity_score: float
    updated_at: datetime


@strawberry.type
class FortressStarsEdge:
    cursor: str
    node: FortressStarsNode


@strawberry.type
class FortressStarsConnection:
    edges: list[FortressStarsEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type(name="VanguardIndex")
class VanguardIndexNode:
    member: MemberNode
    value: float = strawberry.field(
        description="0-100: 0.6 x assessmentScore + 0.2 x activityScore + 0.2 x learningScore "
        "(docs/learning.md)."
    )
    assessment_score: float | None = strawberry.field(
        description="A: the member's latest vanguard_index campaign score."
    )
    activity_score: float = strawberry.field(
        description="T: min(100, 100 x attendance at its branch's activities in the last 365 "
        "days / (members of the branch x 12))."
    )
    learning_score: float = strawberry.field(
        description="L: min(100, 100 x its learning hours (学时) in the last 365 days / 32), as "
        "of its last refresh (a Vanguard Index campaign's close or its latest completion)."
    )
    updated_at: datetime


@strawberry.type
class VanguardIndexEdge:
    cursor: str
    node: VanguardIndexNode


@strawberry.type
class VanguardIndexConnection:
    edges: list[VanguardIndexEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


EDGES[FortressStarsConnection] = FortressStarsEdge
EDGES[VanguardIndexConnection] = VanguardIndexEdge


def result_node(row: AnyRow, ctx: Context) -> AssessmentResultNode:
    kind = TargetKind(row.target_kind)
    loaders = ctx.loaders
    return AssessmentResultNode(
        id=global_id("AssessmentResult", row.id),
        campaign_id=global_id("AssessmentCampaign", row.campaign_id),
        target_kind=kind,
        target_id=global_id(GLOBAL_KIND[kind], row.target_id),
        score=row.score,
        rank=row.rank,
        rank_in_scope=row.scope_rank,
        submissions=row.submissions,
        method_scores=[
            MethodScore(method=Method(m), score=v) for m, v in json.loads(row.methods).items()
        ],
        breakdown=[IndicatorScore(code=c, score=v) for c, v in json.loads(row.breakdown).items()],
        branch=Lazy(loaders.branch, row.target_id) if kind is TargetKind.BRANCH else None,  # type: ignore[arg-type]
        member=Lazy(loaders.member, row.target_id) if kind is TargetKind.MEMBER else None,  # type: ignore[arg-type]
    )


def _audit_read(ctx: Context, what: str, subject: str, count: int) -> None:
    if count:
        ctx.audit(
            audit.Entry(
                principal=ctx.actor(),
                action="assessment.read_results",
                tenant_path=None,
                subject=subject,
                client_address=ctx.client_address,
                detail={"what": what, "results": count},
            )
        )


def _position_page(rows: list[AnyRow], page: PageArgs) -> tuple[list[AnyRow], PageInfo]:
    more = len(rows) > page.first
    rows = rows[: page.first]
    end = cursor(rows[-1].position) if rows else None
    return rows, PageInfo(has_next_page=more, end_cursor=end)


@strawberry.type
class AssessmentResultQuery:
    @strawberry.field(
        description="A closed campaign's results you may see, best first (unscored last): the "
        "ranking. `under` narrows to one tenant's subtree; rankInScope ranks within it.",
        extensions=[allow(Can(Resource.ASSESSMENT, Action.READ_SENSITIVE))],
    )
    async def assessment_results(
        self,
        info: Info[Context, None],
        campaign_id: strawberry.ID,
        under: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> AssessmentResultConnection:
        ctx = info.context
        campaign = parse_campaign_id(campaign_id)
        page = PageArgs.parse(first, after)
        scope = await ctx.scope_under(under, Resource.ASSESSMENT, Action.READ_SENSITIVE)
        rows = list(
            await service.rankings(
                ctx.db,
                scope=scope,
                campaign_id=campaign,
                after=page.after_id or 0,
                limit=page.fetch,
            )
        )
        rows, page_info = _position_page(rows, page)
        _audit_read(ctx, "ranking", str(campaign), len(rows))
        return AssessmentResultConnection(
            edges=[
                AssessmentResultEdge(cursor=cursor(r.position), node=result_node(r, ctx))
                for r in rows
            ],
            page_info=page_info,
            counter=lambda: service.count_results(ctx.db, scope=scope, campaign_id=campaign),
        )

    @strawberry.field(
        description="One branch's, member's or person's results over the closed campaigns, "
        "oldest first; `templateCode` keeps one template's campaigns.",
        extensions=[allow(Can(Resource.ASSESSMENT, Action.READ_SENSITIVE))],
    )
    async def assessment_trend(
        self,
        info: Info[Context, None],
        target_id: strawberry.ID,
        template_code: str | None = None,
    ) -> list[AssessmentTrendPoint]:
        ctx = info.context
        kind_name, pk = parse_global_id(target_id, argument="targetId")
        kind = TARGET_OF_KIND.get(kind_name)
        if kind is None:
            raise BadUserInput(
                "targetId must be the id of a Branch, a Member or a Person", argument="targetId"
            )
        rows = await service.trend(
            ctx.db,
            scope=ctx.scope(Resource.ASSESSMENT, Action.READ_SENSITIVE),
            kind=kind,
            target_id=pk,
            template_code=template_code,
        )
        _audit_read(ctx, "trend", f"{kind_name}:{pk}", len(rows))
        return [
            AssessmentTrendPoint(
                campaign_id=global_id("AssessmentCampaign", r.campaign_id),
                campaign_name=r.campaign_name,
                template_code=r.template_code,
                closed_at=r.closed_at,
                score=r.score,
                rank=r.rank,
            )
            for r in rows
        ]

    @strawberry.field(
        description="Branches' Fortress Stars you may see (admins: their subtree; a member: "
        "its branch), in branch id order; `stars` keeps those with one of the given ratings "
        "(e.g. [1, 2] for the warned ones).",
        extensions=[allow(Can(Resource.ASSESSMENT, Action.READ_SENSITIVE))],
    )
    async def fortress_stars(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        stars: list[int] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> FortressStarsConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        if stars is not None and not all(1 <= s <= 5 for s in stars):
            raise BadUserInput("stars are 1 to 5", argument="stars")
        scope = await ctx.scope_under(under, Resource.ASSESSMENT, Action.READ_SENSITIVE)
        wanted = None if stars is None else sorted(set(stars))
        rows = await standings.branch_stars(
            ctx.db, scope=scope, stars=wanted, after_id=page.after_id, limit=page.fetch
        )
        return connection(
            FortressStarsConnection,
            rows,
            page,
            lambda r: _stars_node(r, ctx),
            lambda: standings.count_branch_stars(ctx.db, scope=scope, stars=wanted),
        )

    @strawberry.field(
        description="Members' Vanguard Index you may see (admins: their subtree; a member: "
        "its own), in member id order.",
        extensions=[allow(Can(Resource.ASSESSMENT, Action.READ_SENSITIVE))],
    )
    async def vanguard_indices(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> VanguardIndexConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = await ctx.scope_under(under, Resource.ASSESSMENT, Action.READ_SENSITIVE)
        rows = await standings.member_indices(
            ctx.db, scope=scope, after_id=page.after_id, limit=page.fetch
        )
        _audit_read(ctx, "vanguard_index", "members", min(len(rows), page.first))
        return connection(
            VanguardIndexConnection,
            rows,
            page,
            lambda r: _index_node(r, ctx),
            lambda: standings.count_member_indices(ctx.db, scope=scope),
        )


def _stars_node(row: AnyRow, ctx: Context) -> FortressStarsNode:
    return FortressStarsNode(
        branch=Lazy(ctx.loaders.branch, row.id),  # type: ignore[arg-type]
        stars=row.stars,
        score=row.score,
        assessment_score=row.assessment_score,
        activity_score=row.activity_score,
        updated_at=row.updated_at,
    )


def _index_node(row: AnyRow, ctx: Context) -> VanguardIndexNode:
    return VanguardIndexNode(
        member=Lazy(ctx.loaders.member, row.id),  # type: ignore[arg-type]
        value=row.value,
        assessment_score=row.assessment_score,
        activity_score=row.activity_score,
        learning_score=row.learning_score,
        updated_at=row.updated_at,
    )
