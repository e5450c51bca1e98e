"""Well-being screening over GraphQL: Query.screeningScales, myScreeningResults,
screeningResults and screeningOverview, and Mutation.submitScreening.

A result is personal: a member submits and reads its own (its answers included); holders of a
CARE role read the results of the members in their subtree (SCREENING read_sensitive), never
the answers; admins have SCREENING read only: the overview's counts, without names, small
counts withheld. Every read that returns results is audited ("screening.read"), and every
submission ("screening.submit", the scale only). Scoring, lights and suppression:
server/screening/service.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import strawberry
from strawberry.permission import BasePermission
from strawberry.types import Info

from policies.rbac import Action, Resource
from schema.context import Context
from schema.ids import cursor, global_id
from schema.pagination import PageArgs
from schema.permissions import Can, SignedIn, allow
from schema.types import Counter, MemberNode, PageInfo, member_node
from server.audit import service as audit
from server.errors import BadUserInput
from server.feed.models import Light
from server.screening import service
from server.screening.scales import Scale
from server.sql import AnyRow
from tenants.scope import Scope


@strawberry.type(name="ScreeningOption", description="One answer an item allows.")
class ScreeningOptionNode:
    label: str
    value: int


@strawberry.type(name="ScreeningBand", description="A published cut-off range of the score.")
class ScreeningBandNode:
    band: str = strawberry.field(
        description="MINIMAL, MILD, MODERATE, MODERATELY_SEVERE (PHQ-9) or SEVERE."
    )
    name: str
    min: int
    max: int
    light: Light


@strawberry.type(name="ScreeningScale", description="A public screening scale (PHQ-9, GAD-7).")
class ScreeningScaleNode:
    code: str
    name: str
    items: list[str] = strawberry.field(description="The items, in order: answer each once.")
    options: list[ScreeningOptionNode] = strawberry.field(
        description="The answers every item allows."
    )
    bands: list[ScreeningBandNode]
    max_score: int


@strawberry.type(name="ScreeningResult", description="A member's filling-in of a scale.")
class ScreeningResultNode:
    id: strawberry.ID
    scale: ScreeningScaleNode
    score: int
    band: str = strawberry.field(description="The score's band (see ScreeningScale.bands).")
    light: Light = strawberry.field(
        description="The band's light; RED whatever the score when PHQ-9 item 9 is not 0."
    )
    taken_at: datetime
    member: MemberNode
    answers: list[int] | None = strawberry.field(
        description="The item values: for the member itself only, null for anyone else."
    )


@strawberry.type
class ScreeningResultEdge:
    cursor: str
    node: ScreeningResultNode


@strawberry.type
class ScreeningResultConnection:
    edges: list[ScreeningResultEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type(description="A count; null and `suppressed` when withheld.")
class ScreeningCount:
    count: int | None
    suppressed: bool


@strawberry.type
class ScreeningLightCount:
    light: Light
    count: int | None
    suppressed: bool


@strawberry.type
class ScreeningBandCount:
    band: str
    name: str
    count: int | None
    suppressed: bool


@strawberry.type(
    description="Each member's latest result of one scale in a subtree, counted without names. "
    "A non-zero count below `suppressBelow` is withheld (null, suppressed), and so is one more "
    "count in any sum it would otherwise be recoverable from."
)
class ScreeningOverview:
    scale: ScreeningScaleNode
    respondents: ScreeningCount = strawberry.field(description="Members with a result.")
    lights: list[ScreeningLightCount] = strawberry.field(description="GREEN, YELLOW, RED.")
    bands: list[ScreeningBandCount] = strawberry.field(description="The scale's bands, in order.")
    suppress_below: int


class CanScreen(BasePermission):
    """Any right on screening: the scales are what the member's form and the overview show."""

    message = "you may not read screening"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        ctx = info.context
        ctx.require_principal()
        if (
            ctx.scope(Resource.SCREENING, Action.READ).is_empty
            and ctx.scope(Resource.SCREENING, Action.READ_SENSITIVE).is_empty
        ):
            raise ctx.denied("read screening")
        return True


def scale_node(scale: Scale) -> ScreeningScaleNode:
    return ScreeningScaleNode(
        code=scale.code,
        name=scale.name,
        items=list(scale.items),
        options=[ScreeningOptionNode(label=o.label, value=o.value) for o in scale.options],
        bands=[
            ScreeningBandNode(band=b.code, name=b.name, min=b.min, max=b.max, light=b.light)
            for b in scale.bands
        ],
        max_score=scale.max_score,
    )


def result_node(
    row: AnyRow, ctx: Context, scales: dict[int, ScreeningScaleNode]
) -> ScreeningResultNode:
    viewer = ctx.principal.member_id if ctx.principal is not None else None
    return ScreeningResultNode(
        id=global_id("ScreeningResult", row.r_id),
        scale=scales[row.r_scale_id],
        score=row.r_score,
        band=row.r_band,
        light=Light(row.r_light),
        taken_at=row.r_taken_at,
        # The row's plain columns are the member's, with its branch and tenant JOINed: a CARE
        # holder, who may not read members, still sees whose result it is (personal data
        # masked, as its role has no member read_sensitive).
        member=member_node(row, ctx.loaders, with_branch=True, with_tenant=True),
        # Only the member itself ever gets its answers back.
        answers=json.loads(row.r_answers) if viewer is not None and viewer == row.id else None,
    )


async def _scale_nodes(ctx: Context) -> dict[int, ScreeningScaleNode]:
    return {s.id: scale_node(s) for s in await service.scales(ctx.db)}


def _common_path(paths: Sequence[str]) -> str:
    """The deepest tenant every path lies in: where the audit entry belongs."""
    split = [p.strip("/").split("/") for p in paths]
    common: list[str] = []
    for parts in zip(*split, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return "/" + "".join(f"{s}/" for s in common)


def _audit_read(ctx: Context, rows: Sequence[AnyRow], what: str) -> None:
    if rows:
        ctx.audit(
            audit.Entry(
                principal=ctx.actor(),
                action="screening.read",
                tenant_path=_common_path([r.m_path for r in rows]),
                subject=what,
                client_address=ctx.client_address,
                detail={
                    "results": sorted(r.r_id for r in rows),
                    "members": len({r.id for r in rows}),
                },
            )
        )


async def _page(
    ctx: Context,
    rows: Sequence[AnyRow],
    page: PageArgs,
    counter: Counter,
    what: str,
) -> ScreeningResultConnection:
    more = len(rows) > page.first
    rows = rows[: page.first]
    _audit_read(ctx, rows, what)
    scales = await _scale_nodes(ctx) if rows else {}
    edges = [
        ScreeningResultEdge(cursor=cursor(r.r_id), node=result_node(r, ctx, scales)) for r in rows
    ]
    info = PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None)
    return ScreeningResultConnection(edges=edges, page_info=info, counter=counter)


async def _scale_id(ctx: Context, code: str | None) -> int | None:
    if code is None:
        return None
    scale = await service.scale_by_code(ctx.db, code)
    if scale is None:
        raise BadUserInput(f"there is no screening scale {code!r}", argument="scaleCode")
    return scale.id


def _own(member_id: int) -> Scope:
    return Scope((), member_ids=frozenset({member_id}))


@strawberry.type
class ScreeningQuery:
    @strawberry.field(
        description="The screening scales, their items, answers and bands (the form).",
        extensions=[allow(CanScreen())],
    )
    async def screening_scales(self, info: Info[Context, None]) -> list[ScreeningScaleNode]:
        return list((await _scale_nodes(info.context)).values())

    @strawberry.field(
        description="Your own screening results, newest first, with your answers.",
        extensions=[allow(SignedIn())],
    )
    async def my_screening_results(
        self,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
    ) -> ScreeningResultConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = _own(ctx.own_member("read screening results without a member record"))
        rows = await service.list_results(
            ctx.db, scope=scope, after_id=page.after_id, limit=page.fetch
        )
        return await _page(
            ctx, rows, page, lambda: service.count_results(ctx.db, scope=scope), "own"
        )

    @strawberry.field(
        description="Screening results of the members in your CARE subtree (a member: its "
        "own), newest first; `under` narrows to one tenant's subtree, `scaleCode` to one "
        "scale, `lights` to those lights. Every read is audited.",
        extensions=[allow(Can(Resource.SCREENING, Action.READ_SENSITIVE))],
    )
    async def screening_results(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        scale_code: str | None = None,
        lights: list[Light] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> ScreeningResultConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = await ctx.scope_under(under, Resource.SCREENING, Action.READ_SENSITIVE)
        scale_id = await _scale_id(ctx, scale_code)
        rows = await service.list_results(
            ctx.db,
            scope=scope,
            scale_id=scale_id,
            lights=lights,
            after_id=page.after_id,
            limit=page.fetch,
        )
        return await _page(
            ctx,
            rows,
            page,
            lambda: service.count_results(ctx.db, scope=scope, scale_id=scale_id, lights=lights),
            "subtree",
        )

    @strawberry.field(
        description="Counts of each member's latest result of a scale in your subtree (`under` "
        "narrows it), by light and band, without names; small counts withheld.",
        extensions=[allow(Can(Resource.SCREENING, Action.READ))],
    )
    async def screening_overview(
        self,
        info: Info[Context, None],
        scale_code: str,
        under: strawberry.ID | None = None,
    ) -> ScreeningOverview:
        ctx = info.context
        scope = await ctx.scope_under(under, Resource.SCREENING, Action.READ)
        scale = await service.scale_by_code(ctx.db, scale_code)
        if scale is None:
            raise BadUserInput(f"there is no screening scale {scale_code!r}", argument="scaleCode")
        counts = await service.overview(ctx.db, scope=scope, scale=scale)
        return ScreeningOverview(
            scale=scale_node(scale),
            respondents=ScreeningCount(
                count=counts.respondents.count, suppressed=counts.respondents.suppressed
            ),
            lights=[
                ScreeningLightCount(light=light, count=c.count, suppressed=c.suppressed)
                for light, c in counts.lights
            ],
            bands=[
                ScreeningBandCount(band=b.code, name=b.name, count=c.count, suppressed=c.suppressed)
                for b, c in counts.bands
            ],
            suppress_below=service.SUPPRESS_BELOW,
        )


@strawberry.type
class ScreeningMutation:
    @strawberry.mutation(
        description="Fill in a scale for yourself (a member): one answer per item, each one of "
        "the scale's option values. Returns your result, with its band and light.",
        extensions=[allow(SignedIn())],
    )
    async def submit_screening(
        self, info: Info[Context, None], scale_code: str, answers: list[int]
    ) -> ScreeningResultNode:
        ctx = info.context
        member_id = ctx.own_member("submit screenings without a member record")
        async with ctx.runtime.write() as (conn, _outbox):
            result_id = await service.submit(
                conn,
                member_id=member_id,
                scale_code=scale_code,
                answers=answers,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
            )
        rows = await service.results_by_ids(ctx.db, scope=_own(member_id), ids=[result_id])
        return result_node(rows[0], ctx, await _scale_nodes(ctx))
