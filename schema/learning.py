"""e-Learning over GraphQL: Query.learningItems, learningItem, myLearning, recommendedLearning,
learningEnrolments, learningHoursByMember and learningHoursByBranch; Mutation.createLearningItem,
publishLearningItem, withdrawLearningItem, enrolLearning, recordLearningProgress and
completeLearning.

Admins publish under LEARNING write, at a tenant of their subtree, and follow the enrolments
and hours of the members of their subtree under the same right (a member's progress is not for
its neighbours). Members read the catalogue under LEARNING read (its own branch's subtree, and
what is published above it) and act for themselves: enrolling, progress and completion need a
member record and an item it sees, never a write right. An item that does not exist, or that
the viewer does not see, gets the same refusal. Rules: server/learning/service.py; the ranking
of recommendations: server/learning/recommend.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from policies.rbac import Action, Resource
from schema.context import Context
from schema.ids import cursor, global_id, id_of
from schema.lazy import Lazy
from schema.pagination import PageArgs
from schema.permissions import Can, SignedIn, allow
from schema.types import (
    EDGES,
    BranchNode,
    Counter,
    MemberNode,
    Node,
    PageInfo,
    TenantNode,
    _tenant,
    connection,
)
from server.assessments import ratings
from server.branches.models import BranchCategory
from server.errors import BadUserInput
from server.learning import recommend, service
from server.learning.models import ItemState, Section
from server.sql import AnyRow

strawberry.enum(
    Section,
    name="LearningSection",
    description="The five sections: COURSE 课程, MICRO_CLASS 微课, TOPIC 专题, BOOK 书籍, "
    "CLASS 班级 (a cohort with dates, a capacity and items).",
)
strawberry.enum(
    ItemState,
    name="LearningItemState",
    description="DRAFT (admins only), PUBLISHED, WITHDRAWN (no new enrolments).",
)


# -- types -------------------------------------------------------------------------------------


@strawberry.type(name="LearningItem", description="A course, micro-class, topic, book or class.")
class LearningItemNode(Node):
    id: strawberry.ID
    section: Section
    title: str
    summary: str
    credit_hours: float = strawberry.field(description="学时 awarded once on completion.")
    categories: list[BranchCategory] = strawberry.field(
        description="The branch categories it suits; empty: all."
    )
    tags: list[str]
    state: ItemState
    published_to: TenantNode = strawberry.field(
        description="The tenant it is published to: visible to its whole subtree."
    )
    starts_on: date | None = strawberry.field(description="A CLASS's first day.")
    ends_on: date | None = strawberry.field(description="A CLASS's last day.")
    capacity: int | None = strawberry.field(description="A CLASS's places.")
    enrolled: int = strawberry.field(description="A CLASS's places taken (0 for other items).")
    items: list[LearningItemNode] = strawberry.field(
        description="A CLASS's items, in order (empty for other items)."
    )
    created_at: datetime
    published_at: datetime | None


@strawberry.type(name="LearningEnrolment", description="A member's enrolment in an item.")
class LearningEnrolmentNode:
    id: strawberry.ID
    item: LearningItemNode
    member: MemberNode | None
    progress: int = strawberry.field(description="Percent, 0-100; never goes back.")
    completed: bool
    enrolled_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    credit_hours: float | None = strawberry.field(
        description="The hours awarded at completion (null until completed)."
    )


@strawberry.type
class LearningItemEdge:
    cursor: str
    node: LearningItemNode


@strawberry.type
class LearningItemConnection:
    edges: list[LearningItemEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type
class LearningEnrolmentEdge:
    cursor: str
    node: LearningEnrolmentNode


@strawberry.type
class LearningEnrolmentConnection:
    edges: list[LearningEnrolmentEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type(description="A member's learning hours in the last 365 days.")
class MemberLearningHours:
    member: MemberNode | None
    hours: float
    completions: int = strawberry.field(description="Items completed in the last 365 days.")
    meets_norm: bool = strawberry.field(description="At least 32 学时.")


@strawberry.type
class MemberLearningHoursEdge:
    cursor: str
    node: MemberLearningHours


@strawberry.type
class MemberLearningHoursConnection:
    edges: list[MemberLearningHoursEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type(description="A branch's members' learning hours in the last 365 days.")
class BranchLearningHours:
    branch: BranchNode | None
    members: int
    hours: float = strawberry.field(description="The members' hours, summed.")
    average_hours: float = strawberry.field(description="Hours per member.")
    meeting_norm: int = strawberry.field(description="Members with at least 32 学时.")


@strawberry.type
class BranchLearningHoursEdge:
    cursor: str
    node: BranchLearningHours


@strawberry.type
class BranchLearningHoursConnection:
    edges: list[BranchLearningHoursEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type(description="The viewer's own learning.")
class MyLearning:
    hours: float = strawberry.field(description="学时 of the completions of the last 365 days.")
    norm_hours: float = strawberry.field(description="The yearly norm: 32 学时.")
    learning_score: float = strawberry.field(
        description="L of the Vanguard Index: min(100, 100 x hours / 32)."
    )
    member_id: strawberry.Private[int]

    @strawberry.field(
        description="Your enrolments, newest first; `completed` narrows to done or open ones."
    )
    async def enrolments(
        self,
        info: Info[Context, None],
        completed: bool | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> LearningEnrolmentConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        member = self.member_id
        rows = await service.own_enrolments(
            ctx.db, member_id=member, completed=completed, after_id=page.after_id, limit=page.fetch
        )
        return await _enrolment_page(
            ctx,
            rows,
            page,
            lambda: service.count_own_enrolments(ctx.db, member_id=member, completed=completed),
        )


@strawberry.type(name="LearningRecommendation")
class LearningRecommendationNode:
    item: LearningItemNode
    score: float
    reasons: list[str] = strawberry.field(description="Why, one per term of the rule that scored.")


EDGES[LearningItemConnection] = LearningItemEdge


@strawberry.input
class CreateLearningItemInput:
    tenant_id: strawberry.ID = strawberry.field(
        description="The tenant to publish to: one where you have LEARNING write."
    )
    section: Section
    title: str
    credit_hours: float
    summary: str = ""
    categories: list[BranchCategory] = strawberry.field(default_factory=list)
    tags: list[str] = strawberry.field(default_factory=list)
    starts_on: date | None = strawberry.field(default=None, description="CLASS only.")
    ends_on: date | None = strawberry.field(default=None, description="CLASS only.")
    capacity: int | None = strawberry.field(default=None, description="CLASS only.")
    item_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list,
        description="CLASS only: its items, published at its tenant or above.",
    )
    publish: bool = strawberry.field(default=False, description="Publish at once (else DRAFT).")


# -- rows to nodes ---------------------------------------------------------------------------


def item_node(
    row: Any, ctx: Context, members: dict[int, list[AnyRow]] | None = None
) -> LearningItemNode:
    inside = [] if members is None else [item_node(r, ctx) for r in members.get(row.id, [])]
    return LearningItemNode(
        id=global_id("LearningItem", row.id),
        section=Section(row.section),
        title=row.title,
        summary=row.summary,
        credit_hours=row.credit_hours,
        categories=[BranchCategory(c) for c in json.loads(row.categories)],
        tags=json.loads(row.tags),
        state=ItemState(row.state),
        # JOINed by path: a member sees the district a course is published to even where its
        # tenant scope stops at its own village.
        published_to=_tenant(
            row.t_id, row.t_parent_id, row.t_level, row.t_code, row.t_name, row.t_path, ctx.loaders
        ),
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        capacity=row.capacity,
        enrolled=row.enrolled,
        items=inside,
        created_at=row.created_at,
        published_at=row.published_at,
    )


async def _items_of_classes(ctx: Context, rows: Sequence[AnyRow]) -> dict[int, list[AnyRow]]:
    """The items of the cohorts among `rows`, in one query."""
    ids = [r.id for r in rows if r.section == Section.CLASS.value]
    return await service.class_items(ctx.db, ids) if ids else {}


def enrolment_node(
    row: AnyRow, ctx: Context, members: dict[int, list[AnyRow]] | None = None
) -> LearningEnrolmentNode:
    return LearningEnrolmentNode(
        id=global_id("LearningEnrolment", row.e_id),
        item=item_node(row, ctx, members),
        member=Lazy(ctx.loaders.member, row.e_member_id),  # type: ignore[arg-type]
        progress=row.e_progress,
        completed=row.e_completed_at is not None,
        enrolled_at=row.e_enrolled_at,
        updated_at=row.e_updated_at,
        completed_at=row.e_completed_at,
        credit_hours=row.e_credit_hours,
    )


async def _enrolment_page(
    ctx: Context, rows: Sequence[AnyRow], page: PageArgs, counter: Counter
) -> LearningEnrolmentConnection:
    more = len(rows) > page.first
    rows = rows[: page.first]
    members = await _items_of_classes(ctx, rows)
    edges = [
        LearningEnrolmentEdge(cursor=cursor(r.e_id), node=enrolment_node(r, ctx, members))
        for r in rows
    ]
    info = PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None)
    return LearningEnrolmentConnection(edges=edges, page_info=info, counter=counter)


def _today(ctx: Context) -> date:
    return datetime.now(UTC).astimezone(ctx.timezone).date()


async def _writable_item(ctx: Context, conn: AsyncConnection, pk: int, what: str) -> AnyRow:
    """The item, when the caller may write where it is published; the same refusal otherwise."""
    found = await service.item(conn, pk)
    if found is None or not ctx.scope(Resource.LEARNING, Action.WRITE).contains(found.tenant_path):
        raise ctx.denied(what, path=None if found is None else found.tenant_path)
    return found


async def _seen_item(
    ctx: Context, conn: AsyncConnection, pk: int, what: str, *, published: bool
) -> AnyRow:
    """An item the member sees (PUBLISHED, when `published`); the same refusal otherwise."""
    found = await service.item(conn, pk)
    scope = ctx.scope(Resource.LEARNING, Action.READ)
    if (
        found is None
        or found.state == ItemState.DRAFT.value
        or (published and found.state != ItemState.PUBLISHED.value)
        or not service.sees(scope, found.tenant_path)
    ):
        raise ctx.denied(what, path=None if found is None else found.tenant_path)
    return found


async def _member_place(ctx: Context, conn: AsyncConnection, what: str) -> AnyRow:
    member = ctx.own_member(what)
    place = await service.member_place(conn, member)
    if place is None:
        raise ctx.denied(what)
    return place


async def _my_enrolment(ctx: Context, item_pk: int, member_pk: int) -> LearningEnrolmentNode:
    row = await service.enrolment(ctx.db, item_id=item_pk, member_id=member_pk)
    assert row is not None
    return enrolment_node(row, ctx, await _items_of_classes(ctx, [row]))


async def load_learning_item(ctx: Context, pk: int) -> LearningItemNode | None:
    """The item, when the viewer sees it (PUBLISHED and visible to it, or any state where it
    may write); None otherwise, as for one that does not exist. Query.learningItem and
    Query.node both answer with it."""
    row = await service.item(ctx.db, pk)
    if row is None:
        return None
    read = ctx.scope(Resource.LEARNING)
    write = ctx.scope(Resource.LEARNING, Action.WRITE)
    shown = (
        service.sees(read, row.tenant_path)
        if row.state == ItemState.PUBLISHED.value
        else write.contains(row.tenant_path)
    )
    if not shown:
        return None
    return item_node(row, ctx, await _items_of_classes(ctx, [row]))


# -- queries ---------------------------------------------------------------------------------


@strawberry.type
class LearningQuery:
    @strawberry.field(
        description="The learning catalogue you see, newest first: items published within "
        "your subtree or above it; admins also see the drafts and withdrawn items where they "
        "may write. `under` narrows to one tenant's subtree (and what is published above it).",
        extensions=[allow(Can(Resource.LEARNING))],
    )
    async def learning_items(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        section: Section | None = None,
        state: ItemState | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> LearningItemConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        read = await ctx.scope_under(under, Resource.LEARNING, Action.READ)
        write = await ctx.scope_under(under, Resource.LEARNING, Action.WRITE)
        rows = await service.items(
            ctx.db,
            read=read,
            write=write,
            section=section,
            state=state,
            after_id=page.after_id,
            limit=page.fetch,
        )
        members = await _items_of_classes(ctx, rows[: page.first])
        return connection(
            LearningItemConnection,
            rows,
            page,
            lambda r: item_node(r, ctx, members),
            lambda: service.count_items(
                ctx.db, read=read, write=write, section=section, state=state
            ),
        )

    @strawberry.field(
        description="One item you see; null for one you do not (or that does not exist).",
        extensions=[allow(Can(Resource.LEARNING))],
    )
    async def learning_item(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> LearningItemNode | None:
        return await load_learning_item(info.context, id_of(id, "LearningItem", "id"))

    @strawberry.field(
        description="Your own learning (a member): hours of the last 365 days, the learning "
        "share of your Vanguard Index, and your enrolments.",
        extensions=[allow(SignedIn())],
    )
    async def my_learning(self, info: Info[Context, None]) -> MyLearning:
        ctx = info.context
        member = ctx.own_member("read learning without a member record")
        hours = await service.hours_of(ctx.db, member_id=member, now=datetime.now(UTC))
        return MyLearning(
            hours=hours,
            norm_hours=service.NORM_HOURS,
            learning_score=ratings.learning_score_of(hours),
            member_id=member,
        )

    @strawberry.field(
        description="Items you (a member) could learn next, best first, with the reasons; "
        "the rule is in docs/learning.md. At most 50.",
        extensions=[allow(Can(Resource.LEARNING))],
    )
    async def recommended_learning(
        self, info: Info[Context, None], first: int | None = None
    ) -> list[LearningRecommendationNode]:
        ctx = info.context
        limit = 10 if first is None else first
        if not 0 <= limit <= 50:
            raise BadUserInput(f"first must be between 0 and 50, got {limit}", argument="first")
        member = ctx.own_member("get recommendations without a member record")
        place = await service.member_place(ctx.db, member)
        if place is None:
            raise ctx.denied("get recommendations without a member record")
        found = await recommend.recommend(
            ctx.db,
            scope=ctx.scope(Resource.LEARNING),
            member_id=member,
            category=str(place.category),
            today=_today(ctx),
            now=datetime.now(UTC),
            limit=limit,
        )
        members = await _items_of_classes(ctx, [r.item for r in found])
        return [
            LearningRecommendationNode(
                item=item_node(r.item, ctx, members), score=r.score, reasons=r.reasons
            )
            for r in found
        ]

    @strawberry.field(
        description="Enrolments of the members of your subtree (`under` narrows it), newest "
        "first; `itemId` narrows to one item, `completed` to done or open ones.",
        extensions=[allow(Can(Resource.LEARNING, Action.WRITE))],
    )
    async def learning_enrolments(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        item_id: strawberry.ID | None = None,
        completed: bool | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> LearningEnrolmentConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        item = None if item_id is None else id_of(item_id, "LearningItem", "itemId")
        scope = await ctx.scope_under(under, Resource.LEARNING, Action.WRITE)
        rows = await service.enrolments(
            ctx.db,
            scope=scope,
            item_id=item,
            completed=completed,
            after_id=page.after_id,
            limit=page.fetch,
        )
        return await _enrolment_page(
            ctx,
            rows,
            page,
            lambda: service.count_enrolments(
                ctx.db, scope=scope, item_id=item, completed=completed
            ),
        )

    @strawberry.field(
        description="Each member of your subtree (`under` narrows it) with its learning hours "
        "of the last 365 days, in member order.",
        extensions=[allow(Can(Resource.LEARNING, Action.WRITE))],
    )
    async def learning_hours_by_member(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> MemberLearningHoursConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = await ctx.scope_under(under, Resource.LEARNING, Action.WRITE)
        rows = await service.member_hours(
            ctx.db, scope=scope, now=datetime.now(UTC), after_id=page.after_id, limit=page.fetch
        )
        more = len(rows) > page.first
        edges = [
            MemberLearningHoursEdge(
                cursor=cursor(r.id),
                node=MemberLearningHours(
                    member=Lazy(ctx.loaders.member, r.id),  # type: ignore[arg-type]
                    hours=round(float(r.hours), 2),
                    completions=r.completions,
                    meets_norm=float(r.hours) >= service.NORM_HOURS,
                ),
            )
            for r in rows[: page.first]
        ]
        return MemberLearningHoursConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None),
            counter=lambda: service.count_member_hours(ctx.db, scope=scope),
        )

    @strawberry.field(
        description="Each branch of your subtree (`under` narrows it) with its members' "
        "learning hours of the last 365 days, in branch order.",
        extensions=[allow(Can(Resource.LEARNING, Action.WRITE))],
    )
    async def learning_hours_by_branch(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> BranchLearningHoursConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = await ctx.scope_under(under, Resource.LEARNING, Action.WRITE)
        rows = await service.branch_hours(
            ctx.db, scope=scope, now=datetime.now(UTC), after_id=page.after_id, limit=page.fetch
        )
        more = len(rows) > page.first
        edges = [
            BranchLearningHoursEdge(
                cursor=cursor(r.id),
                node=BranchLearningHours(
                    branch=Lazy(ctx.loaders.branch, r.id),  # type: ignore[arg-type]
                    members=r.members,
                    hours=round(float(r.hours), 2),
                    average_hours=round(float(r.hours) / r.members, 2) if r.members else 0.0,
                    meeting_norm=int(r.meeting_norm),
                ),
            )
            for r in rows[: page.first]
        ]
        return BranchLearningHoursConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None),
            counter=lambda: service.count_branch_hours(ctx.db, scope=scope),
        )


# -- mutations -------------------------------------------------------------------------------


@strawberry.type
class LearningMutation:
    @strawberry.mutation(
        description="Create a learning item at a tenant of your subtree: DRAFT, or PUBLISHED "
        "at once with `publish` (a BRANCH_ACTIVITY feed event at that tenant). A CLASS needs "
        "dates and a capacity, and may hold PUBLISHED items published at its tenant or above.",
        extensions=[allow(Can(Resource.LEARNING, Action.WRITE))],
    )
    async def create_learning_item(
        self, info: Info[Context, None], input: CreateLearningItemInput
    ) -> LearningItemNode:
        ctx = info.context
        tenant_pk = id_of(input.tenant_id, "Tenant", "tenantId")
        item_pks = [id_of(i, "LearningItem", "itemIds") for i in input.item_ids]
        tenant = await ctx.loaders.tenant.load(tenant_pk)
        path = None if tenant is None else tenant.path
        if path is None or not ctx.scope(Resource.LEARNING, Action.WRITE).contains(path):
            raise ctx.denied("publish learning there", path=path)
        async with ctx.runtime.write() as (conn, outbox):
            pk = await service.create_item(
                conn,
                tenant_path=path,
                section=input.section,
                title=input.title,
                summary=input.summary,
                credit_hours=input.credit_hours,
                categories=input.categories,
                tags=input.tags,
                starts_on=input.starts_on,
                ends_on=input.ends_on,
                capacity=input.capacity,
                item_ids=item_pks,
                publish=input.publish,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
                outbox=outbox,
            )
        row = await service.item(ctx.db, pk)
        assert row is not None
        return item_node(row, ctx, await _items_of_classes(ctx, [row]))

    @strawberry.mutation(
        description="Publish a DRAFT (or republish a WITHDRAWN) item of your subtree: a "
        "BRANCH_ACTIVITY feed event at its tenant.",
        extensions=[allow(Can(Resource.LEARNING, Action.WRITE))],
    )
    async def publish_learning_item(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> LearningItemNode:
        return await _move(info.context, id, ItemState.PUBLISHED)

    @strawberry.mutation(
        description="Withdraw a PUBLISHED item of your subtree: no new enrolments; enrolled "
        "members may finish, completions keep their hours.",
        extensions=[allow(Can(Resource.LEARNING, Action.WRITE))],
    )
    async def withdraw_learning_item(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> LearningItemNode:
        return await _move(info.context, id, ItemState.WITHDRAWN)

    @strawberry.mutation(
        description="Enrol yourself (a member) in a published item you see. Enrolling again "
        "returns the same enrolment; a CLASS refuses when full or ended (BAD_USER_INPUT, "
        "argument itemId, reason CLASS_FULL / CLASS_ENDED).",
        extensions=[allow(Can(Resource.LEARNING))],
    )
    async def enrol_learning(
        self, info: Info[Context, None], item_id: strawberry.ID
    ) -> LearningEnrolmentNode:
        ctx = info.context
        pk = id_of(item_id, "LearningItem", "itemId")
        async with ctx.runtime.write() as (conn, _outbox):
            place = await _member_place(ctx, conn, "enrol without a member record")
            item = await _seen_item(ctx, conn, pk, "enrol in that item", published=True)
            await service.enrol(
                conn,
                item=item,
                member_id=place.id,
                member_path=place.path,
                today=_today(ctx),
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
            )
        return await _my_enrolment(ctx, pk, place.id)

    @strawberry.mutation(
        description="Record your progress (percent, 0-100) on an item you are enrolled in. It "
        "never goes back; 100 completes the item and awards its credit hours, once. A CLASS "
        "takes progress from its first day (before: BAD_USER_INPUT, reason CLASS_NOT_STARTED).",
        extensions=[allow(Can(Resource.LEARNING))],
    )
    async def record_learning_progress(
        self, info: Info[Context, None], item_id: strawberry.ID, percent: int
    ) -> LearningEnrolmentNode:
        return await _progress(info.context, item_id, percent)

    @strawberry.mutation(
        description="Complete an item you are enrolled in (progress 100): its credit hours "
        "count towards your learning hours and Vanguard Index. Completing again changes nothing.",
        extensions=[allow(Can(Resource.LEARNING))],
    )
    async def complete_learning(
        self, info: Info[Context, None], item_id: strawberry.ID
    ) -> LearningEnrolmentNode:
        return await _progress(info.context, item_id, 100)


async def _move(ctx: Context, id: strawberry.ID, state: ItemState) -> LearningItemNode:
    pk = id_of(id, "LearningItem", "id")
    async with ctx.runtime.write() as (conn, outbox):
        item = await _writable_item(ctx, conn, pk, "change learning items there")
        await service.set_state(
            conn,
            item=item,
            state=state,
            actor=ctx.actor(),
            client=ctx.client_address,
            now=datetime.now(UTC),
            outbox=outbox,
        )
    row = await service.item(ctx.db, pk)
    assert row is not None
    return item_node(row, ctx, await _items_of_classes(ctx, [row]))


async def _progress(ctx: Context, item_id: strawberry.ID, percent: int) -> LearningEnrolmentNode:
    pk = id_of(item_id, "LearningItem", "itemId")
    service.checked_percent(percent)
    async with ctx.runtime.write() as (conn, _outbox):
        place = await _member_place(ctx, conn, "record learning without a member record")
        item = await _seen_item(ctx, conn, pk, "learn that item", published=False)
        if item.state != ItemState.PUBLISHED.value and (
            await service.enrolment(conn, item_id=pk, member_id=place.id) is None
        ):
            # A withdrawn item is gone from the catalogue: only those enrolled in it may still
            # finish it; to anyone else it is refused like an absent one.
            raise ctx.denied("learn that item", path=item.tenant_path)
        await service.record_progress(
            conn,
            item=item,
            member_id=place.id,
            member_path=place.path,
            percent=percent,
            today=_today(ctx),
            actor=ctx.actor(),
            client=ctx.client_address,
            now=datetime.now(UTC),
        )
    return await _my_enrolment(ctx, pk, place.id)
