"""The appraisal closed loop: Mutation.createAppraisal, addAppraisalRecord, submitAppraisal,
reviewAppraisal and giveAppraisalFeedback; Query.appraisals and myAppraisals.

Who may make a move is the appraisal's business, not a role's: the person enters records and
submits, the supervisor reviews and gives feedback. Anyone else, and an id that does not exist,
get the same FORBIDDEN refusal. Admins (the ASSESSMENT write scope) create and list.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from policies.rbac import Action, Resource
from schema.assessment_campaigns import MethodWeightInput
from schema.context import Context
from schema.ids import global_id, id_of
from schema.lookahead import Lookahead
from schema.pagination import PageArgs
from schema.permissions import Can, SignedIn, allow
from schema.types import EDGES, Counter, PageInfo, connection
from server.appraisals import service, states
from server.appraisals.models import AppraisalState
from server.appraisals.service import Reader
from server.errors import BadUserInput
from server.sql import AnyRow
from tenants.models import Tenant
from tenants.scope import Scope

strawberry.enum(
    AppraisalState,
    description="PLANNED -> UNDER_REVIEW -> EVALUATING -> EVALUATED -> COMPLETED; a returned "
    "appraisal goes back to PLANNED.",
)


# -- types -----------------------------------------------------------------------------------


@strawberry.type(name="AppraisalRecord")
class AppraisalRecordNode:
    id: strawberry.ID
    text: str
    entered_at: datetime


@strawberry.type(name="AppraisalTask")
class AppraisalTaskNode:
    id: strawberry.ID
    title: str
    records: list[AppraisalRecordNode]


@strawberry.type(name="AppraisalStep")
class AppraisalStepNode:
    from_: AppraisalState | None = strawberry.field(name="from")
    to: AppraisalState
    actor: str
    note: str | None
    at: datetime


@strawberry.type(name="Appraisal")
class AppraisalNode:
    id: strawberry.ID
    person: str = strawberry.field(description="The appraised person's username.")
    supervisor: str = strawberry.field(description="The supervisor's username.")
    period: str
    tenant_path: str
    state: AppraisalState
    tasks: list[AppraisalTaskNode]
    campaign_id: strawberry.ID | None = strawberry.field(
        description="The evaluation campaign (an AssessmentCampaign), once approved."
    )
    score: float | None = strawberry.field(
        description="0-100, once evaluated; the person sees it from COMPLETED on."
    )
    feedback: str | None = strawberry.field(
        description="The supervisor's; the person sees it from COMPLETED on."
    )
    history: list[AppraisalStepNode]


@strawberry.type
class AppraisalEdge:
    cursor: str
    node: AppraisalNode


@strawberry.type
class AppraisalConnection:
    edges: list[AppraisalEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


EDGES[AppraisalConnection] = AppraisalEdge


async def appraisal_nodes(
    db: Reader, rows: Sequence[AnyRow], look: Lookahead, viewer: int | None
) -> list[AppraisalNode]:
    """Nodes for `rows`, their tasks, records and history fetched only when selected, with
    one query each for all the rows."""
    ids = [row.id for row in rows]
    tasks = await service.tasks_of(db, ids) if ids and look.has("tasks") else {}
    records = await service.records_of(db, ids) if tasks and look["tasks"].has("records") else {}
    steps = await service.steps_of(db, ids) if ids and look.has("history") else {}

    def node(row: AnyRow) -> AppraisalNode:
        # The person reads its score together with the feedback, not before.
        hidden = row.person_id == viewer and row.state is not AppraisalState.COMPLETED
        return AppraisalNode(
            id=global_id("Appraisal", row.id),
            person=row.person,
            supervisor=row.supervisor,
            period=row.period,
            tenant_path=row.tenant_path,
            state=row.state,
            tasks=[
                AppraisalTaskNode(
                    id=global_id("AppraisalTask", t.id),
                    title=t.title,
                    records=[
                        AppraisalRecordNode(
                            id=global_id("AppraisalRecord", r.id),
                            text=r.text,
                            entered_at=r.entered_at,
                        )
                        for r in records.get(t.id, ())
                    ],
                )
                for t in tasks.get(row.id, ())
            ],
            campaign_id=None
            if row.campaign_id is None
            else global_id("AssessmentCampaign", row.campaign_id),
            score=None if hidden else row.score,
            feedback=None if hidden else row.feedback,
            history=[
                AppraisalStepNode(
                    from_=s.from_state, to=s.to_state, actor=s.actor, note=s.note, at=s.at
                )
                for s in steps.get(row.id, ())
            ],
        )

    return [node(row) for row in rows]


# -- inputs ----------------------------------------------------------------------------------


@strawberry.input
class CreateAppraisalInput:
    person: str = strawberry.field(description="The appraised person's username.")
    supervisor: str = strawberry.field(description="The supervisor's username.")
    period: str = strawberry.field(description='1 to 20 characters, e.g. "2026".')
    under: strawberry.ID = strawberry.field(description="The tenant the person works in.")
    tasks: list[str] = strawberry.field(description="1 to 50 task titles of 1 to 200 characters.")


@strawberry.input
class AppraisalEvaluationInput:
    closes_at: datetime = strawberry.field(description="In the future, with a time zone.")
    peers: list[str] = strawberry.field(
        default_factory=list, description="Usernames of PEER evaluators."
    )
    democratic: list[str] = strawberry.field(
        default_factory=list, description="Usernames of DEMOCRATIC (anonymous) voters."
    )
    weights: list[MethodWeightInput] | None = strawberry.field(
        default=None,
        description="Default: SELF 0.1, PEER 0.2, DEMOCRATIC 0.3, ORGANIZATIONAL 0.4.",
    )


# -- helpers ---------------------------------------------------------------------------------


def _viewer(ctx: Context) -> int | None:
    principal = ctx.require_principal()
    return principal.user_id if principal.kind == "user" else None


async def _as(
    ctx: Context, conn: AsyncConnection, appraisal_id: strawberry.ID, action: str, what: str
) -> AnyRow:
    """The appraisal, if the viewer is who makes `action` on it (states.BY); else the refusal
    that tells nothing."""
    row = await service.appraisal(conn, id_of(appraisal_id, "Appraisal", "appraisalId"))
    viewer = _viewer(ctx)
    who = states.BY[action]
    if row is None or viewer is None or getattr(row, f"{who}_id") != viewer:
        raise ctx.denied(what, path=None if row is None else row.tenant_path)
    return row


async def _answer(
    ctx: Context, info: Info[Context, None], conn: AsyncConnection, appraisal_id: int
) -> AppraisalNode:
    row = await service.appraisal(conn, appraisal_id)
    assert row is not None
    (node,) = await appraisal_nodes(conn, [row], Lookahead.of(info), _viewer(ctx))
    return node


def _now() -> datetime:
    return datetime.now(UTC)


# -- roots -----------------------------------------------------------------------------------


@strawberry.type
class AppraisalMutation:
    @strawberry.mutation(
        description="Set a person's tasks for a period under a tenant: a PLANNED appraisal.",
        extensions=[allow(Can(Resource.ASSESSMENT, Action.WRITE))],
    )
    async def create_appraisal(
        self, info: Info[Context, None], input: CreateAppraisalInput
    ) -> AppraisalNode:
        ctx = info.context
        tenant_pk = id_of(input.under, "Tenant", "under")
        async with ctx.runtime.write() as (conn, _outbox):
            path = await conn.scalar(select(Tenant.path).where(Tenant.id == tenant_pk))
            # Out of reach and absent are the same refusal: existence does not leak.
            if path is None or not ctx.scope(Resource.ASSESSMENT, Action.WRITE).contains(path):
                raise ctx.denied("create appraisals there", path=path)
            appraisal_id = await service.create(
                conn,
                person=input.person,
                supervisor=input.supervisor,
                period=input.period,
                tenant_path=path,
                tasks=input.tasks,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=_now(),
            )
            return await _answer(ctx, info, conn, appraisal_id)

    @strawberry.mutation(
        description="The person enters what it did against one task (PLANNED only).",
        extensions=[allow(SignedIn())],
    )
    async def add_appraisal_record(
        self,
        info: Info[Context, None],
        appraisal_id: strawberry.ID,
        task_id: strawberry.ID,
        text: str,
    ) -> AppraisalRecordNode:
        ctx = info.context
        task_pk = id_of(task_id, "AppraisalTask", "taskId")
        async with ctx.runtime.write() as (conn, _outbox):
            row = await _as(ctx, conn, appraisal_id, "record", "add records to that appraisal")
            now = _now()
            record_id = await service.add_record(
                conn,
                appraisal=row,
                task_id=task_pk,
                text=text,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=now,
            )
        return AppraisalRecordNode(
            id=global_id("AppraisalRecord", record_id), text=text.strip(), entered_at=now
        )

    @strawberry.mutation(
        description="The person hands its records in for review: PLANNED -> UNDER_REVIEW. "
        "Every task needs a record.",
        extensions=[allow(SignedIn())],
    )
    async def submit_appraisal(
        self, info: Info[Context, None], appraisal_id: strawberry.ID
    ) -> AppraisalNode:
        ctx = info.context
        async with ctx.runtime.write() as (conn, _outbox):
            row = await _as(ctx, conn, appraisal_id, "submit", "submit that appraisal")
            await service.submit(
                conn, appraisal=row, actor=ctx.actor(), client=ctx.client_address, now=_now()
            )
            return await _answer(ctx, info, conn, row.id)

    @strawberry.mutation(
        description="The supervisor approves (UNDER_REVIEW -> EVALUATING, launching the "
        "evaluation campaign) or returns it with a note (back to PLANNED).",
        extensions=[allow(SignedIn())],
    )
    async def review_appraisal(
        self,
        info: Info[Context, None],
        appraisal_id: strawberry.ID,
        approve: bool,
        note: str | None = None,
        evaluation: AppraisalEvaluationInput | None = None,
    ) -> AppraisalNode:
        ctx = info.context
        async with ctx.runtime.write() as (conn, outbox):
            row = await _as(
                ctx, conn, appraisal_id, "approve" if approve else "return", "review that appraisal"
            )
            actor, client, now = ctx.actor(), ctx.client_address, _now()
            if not approve:
                if evaluation is not None:
                    raise BadUserInput(
                        "an evaluation goes with an approval only", argument="evaluation"
                    )
                await service.send_back(
                    conn, appraisal=row, note=note, actor=actor, client=client, now=now
                )
            else:
                if evaluation is None:
                    raise BadUserInput("an approval needs the evaluation", argument="evaluation")
                event = await service.approve(
                    conn,
                    appraisal=row,
                    closes_at=evaluation.closes_at,
                    peers=evaluation.peers,
                    democratic=evaluation.democratic,
                    weights=None
                    if evaluation.weights is None
                    else [(w.method, w.weight) for w in evaluation.weights],
                    note=note,
                    actor=actor,
                    client=client,
                    now=now,
                )
                outbox.append(event)
            return await _answer(ctx, info, conn, row.id)

    @strawberry.mutation(
        description="The supervisor's feedback on an evaluated appraisal: EVALUATED -> "
        "COMPLETED; the person then reads its score and the feedback.",
        extensions=[allow(SignedIn())],
    )
    async def give_appraisal_feedback(
        self, info: Info[Context, None], appraisal_id: strawberry.ID, feedback: str
    ) -> AppraisalNode:
        ctx = info.context
        async with ctx.runtime.write() as (conn, _outbox):
            row = await _as(ctx, conn, appraisal_id, "feedback", "give feedback on that appraisal")
            await service.give_feedback(
                conn,
                appraisal=row,
                feedback=feedback,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=_now(),
            )
            return await _answer(ctx, info, conn, row.id)


@strawberry.type
class AppraisalQuery:
    @strawberry.field(
        description="Appraisals in the subtrees the viewer administers (the ASSESSMENT write "
        "scope), in id order; `under` narrows to one tenant's subtree.",
        extensions=[allow(Can(Resource.ASSESSMENT, Action.WRITE))],
    )
    async def appraisals(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        state: AppraisalState | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> AppraisalConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        # Not scope_under: that narrows the read scope, and a member reads assessments at its
        # village without seeing others' appraisals there.
        scope = ctx.scope(Resource.ASSESSMENT, Action.WRITE)
        if under is not None:
            tenant = await ctx.loaders.tenant.load(id_of(under, "Tenant", "under"))
            scope = Scope.nothing() if tenant is None else scope.narrow(tenant.path)
        rows = await service.list_appraisals(
            ctx.db, scope=scope, state=state, after_id=page.after_id, limit=page.fetch
        )
        shown = rows[: page.first]
        look = Lookahead.of(info)["edges"]["node"]
        nodes = await appraisal_nodes(ctx.db, shown, look, _viewer(ctx))
        node_of = {row.id: node for row, node in zip(shown, nodes, strict=True)}
        return connection(
            AppraisalConnection,
            rows,
            page,
            lambda row: node_of[row.id],
            lambda: service.count_appraisals(ctx.db, scope=scope, state=state),
        )

    @strawberry.field(
        description="The viewer's own appraisals, as the person or as the supervisor, in id order.",
        extensions=[allow(SignedIn())],
    )
    async def my_appraisals(self, info: Info[Context, None]) -> list[AppraisalNode]:
        ctx = info.context
        viewer = _viewer(ctx)
        if viewer is None:
            return []
        rows = await service.appraisals_of(ctx.db, user_id=viewer)
        return await appraisal_nodes(ctx.db, rows, Lookahead.of(info), viewer)
