"""Member reminders over GraphQL: Query.myReminders, reminders, duesLedger and
travelDeclarations; Mutation.declareTravel, decideTravelDeclaration, recordTravel and
recordDuesPayment.

Reminders are made by the scheduler (server/reminders/service.py). A member reads its own
(`myReminders`); admins read those of the members in their subtree under REMINDER read. The
dues ledger and travel belong to the member's record: read under MEMBER read (admins in
their subtree, a member its own), written under MEMBER write over the member's tenant (admins),
except a declaration, which a member makes for itself. Every write is audited in its own
transaction; an id that does not exist and one outside the caller's reach get the same
FORBIDDEN refusal.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from policies.rbac import Action, Resource
from schema.context import Context
from schema.ids import cursor, global_id, id_of, parse_cursor
from schema.lazy import Lazy
from schema.pagination import PageArgs
from schema.permissions import Can, SignedIn, allow
from schema.types import EDGES, Counter, MemberNode, PageInfo, connection
from server.feed.models import Light
from server.reminders import service
from server.reminders.models import DeclarationStatus
from server.reminders.service import Cause, Place
from server.sql import AnyRow

strawberry.enum(
    Cause,
    name="ReminderCause",
    description="Why a member is reminded: dues overdue, travel abroad without an approved "
    "declaration, the anniversary of joining, assessment submissions due, a venue booking "
    "starting within a day.",
)
strawberry.enum(
    DeclarationStatus,
    name="TravelDeclarationStatus",
    description="PENDING until an admin approves or rejects it.",
)


# -- types -------------------------------------------------------------------------------------


@strawberry.type(name="Reminder")
class ReminderNode:
    id: strawberry.ID
    cause: Cause
    light: Light
    title: str
    created_at: datetime
    username: str | None = strawberry.field(description="The account it is for, if any.")
    member: MemberNode | None = strawberry.field(
        description="The member it is about (null for an evaluator who is not a member)."
    )


@strawberry.type(name="DuesEntry")
class DuesEntryNode:
    id: strawberry.ID
    month: str = strawberry.field(description='"2026-10".')
    amount: float = strawberry.field(description="Yuan.")
    paid_on: date | None
    overdue: bool = strawberry.field(
        description="Unpaid 15 days after the month's end (today in the district's time zone)."
    )


@strawberry.type(name="TravelDeclaration")
class TravelDeclarationNode:
    id: strawberry.ID
    destination: str
    departs_on: date
    returns_on: date
    status: DeclarationStatus
    decided_by: str | None
    created_at: datetime
    member: MemberNode | None


@strawberry.type(name="TravelRecord")
class TravelRecordNode:
    id: strawberry.ID
    destination: str
    departed_on: date
    returned_on: date | None = strawberry.field(description="Null while the trip is under way.")
    recorded_at: datetime
    member: MemberNode | None


@strawberry.type
class ReminderEdge:
    cursor: str
    node: ReminderNode


@strawberry.type
class ReminderConnection:
    edges: list[ReminderEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type
class DuesEntryEdge:
    cursor: str
    node: DuesEntryNode


@strawberry.type
class DuesEntryConnection:
    edges: list[DuesEntryEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type
class TravelDeclarationEdge:
    cursor: str
    node: TravelDeclarationNode


@strawberry.type
class TravelDeclarationConnection:
    edges: list[TravelDeclarationEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


EDGES[ReminderConnection] = ReminderEdge
EDGES[TravelDeclarationConnection] = TravelDeclarationEdge


@strawberry.input
class DeclareTravelInput:
    destination: str
    departs_on: date
    returns_on: date


@strawberry.input
class RecordTravelInput:
    member_id: strawberry.ID
    destination: str
    departed_on: date
    returned_on: date | None = strawberry.field(
        default=None, description="Null while the trip is under way."
    )


# -- rows to nodes ---------------------------------------------------------------------------


def _member(ctx: Context, member_id: int | None) -> MemberNode | None:
    return None if member_id is None else Lazy(ctx.loaders.member, member_id)  # type: ignore[return-value]


def reminder_node(row: AnyRow, ctx: Context) -> ReminderNode:
    return ReminderNode(
        id=global_id("Reminder", row.id),
        cause=Cause(row.cause),
        light=Light(row.light),
        title=row.title,
        created_at=row.created_at,
        username=row.username,
        member=_member(ctx, row.member_id),
    )


def dues_node(row: AnyRow, today: date) -> DuesEntryNode:
    return DuesEntryNode(
        id=global_id("DuesEntry", row.id),
        month=row.month,
        amount=row.amount,
        paid_on=row.paid_on,
        overdue=service.is_overdue(row.month, row.paid_on, today),
    )


def declaration_node(row: AnyRow, ctx: Context) -> TravelDeclarationNode:
    return TravelDeclarationNode(
        id=global_id("TravelDeclaration", row.id),
        destination=row.destination,
        departs_on=row.departs_on,
        returns_on=row.returns_on,
        status=row.status,
        decided_by=row.decided_by,
        created_at=row.created_at,
        member=_member(ctx, row.member_id),
    )


def record_node(row: AnyRow, ctx: Context) -> TravelRecordNode:
    return TravelRecordNode(
        id=global_id("TravelRecord", row.id),
        destination=row.destination,
        departed_on=row.departed_on,
        returned_on=row.returned_on,
        recorded_at=row.recorded_at,
        member=_member(ctx, row.member_id),
    )


def _today(ctx: Context) -> date:
    return datetime.now(UTC).astimezone(ctx.timezone).date()


def _month_cursor(month: str) -> str:
    return cursor(int(month[:4]) * 100 + int(month[5:7]))


def _month_after(after: str | None) -> str | None:
    if after is None:
        return None
    value = parse_cursor(after)
    return f"{value // 100:04d}-{value % 100:02d}"


async def _writable(ctx: Context, member_pk: int, conn: AsyncConnection, what: str) -> Place:
    """The member's place, when the caller may write there; the same refusal otherwise."""
    place = await service.member_place(conn, member_pk)
    if place is None or not ctx.scope(Resource.MEMBER, Action.WRITE).contains(place.path):
        raise ctx.denied(what, path=None if place is None else place.path)
    return place


# -- queries ---------------------------------------------------------------------------------


@strawberry.type
class ReminderQuery:
    @strawberry.field(
        description="The viewer's own reminders (as a member, or by its username), newest first.",
        extensions=[allow(SignedIn())],
    )
    async def my_reminders(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> ReminderConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        principal = ctx.require_principal()
        if principal.kind != "user":
            rows: list[AnyRow] = []
            return connection(ReminderConnection, rows, page, lambda r: r, _zero)
        username, member_pk = principal.name, principal.member_id
        found = await service.own_reminders(
            ctx.db,
            username=username,
            member_id=member_pk,
            after_id=page.after_id,
            limit=page.fetch,
        )
        return connection(
            ReminderConnection,
            found,
            page,
            lambda r: reminder_node(r, ctx),
            lambda: service.count_own_reminders(ctx.db, username=username, member_id=member_pk),
        )

    @strawberry.field(
        description="Reminders of the members you may read reminders of, newest first; "
        "`under` narrows to one tenant's subtree, `cause` to one cause.",
        extensions=[allow(Can(Resource.REMINDER))],
    )
    async def reminders(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        cause: Cause | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> ReminderConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = await ctx.scope_under(under, Resource.REMINDER)
        rows = await service.reminders(
            ctx.db, scope=scope, cause=cause, after_id=page.after_id, limit=page.fetch
        )
        return connection(
            ReminderConnection,
            rows,
            page,
            lambda r: reminder_node(r, ctx),
            lambda: service.count_reminders(ctx.db, scope=scope, cause=cause),
        )

    @strawberry.field(
        description="One member's dues ledger, newest month first: admins for the members "
        "of their subtree, a member its own; empty for any other member.",
        # Personal records: REMINDER read (admins, the member), never a partner's read:members.
        extensions=[allow(Can(Resource.REMINDER))],
    )
    async def dues_ledger(
        self,
        info: Info[Context, None],
        member_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
    ) -> DuesEntryConnection:
        ctx = info.context
        member = id_of(member_id, "Member", "memberId")
        page = PageArgs.parse(first, None)
        scope = ctx.scope(Resource.MEMBER)
        rows = await service.dues(
            ctx.db, scope=scope, member_id=member, after_month=_month_after(after), limit=page.fetch
        )
        today = _today(ctx)
        shown = rows[: page.first]
        edges = [
            DuesEntryEdge(cursor=_month_cursor(r.month), node=dues_node(r, today)) for r in shown
        ]
        return DuesEntryConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(rows) > page.first,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            counter=lambda: service.count_dues(ctx.db, scope=scope, member_id=member),
        )

    @strawberry.field(
        description="Travel declarations of the members you may read, newest first; `under` "
        "narrows to one tenant's subtree, `status` to one status (e.g. PENDING, to decide).",
        extensions=[allow(Can(Resource.REMINDER))],
    )
    async def travel_declarations(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        status: DeclarationStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> TravelDeclarationConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = await ctx.scope_under(under, Resource.MEMBER)
        rows = await service.declarations(
            ctx.db, scope=scope, status=status, after_id=page.after_id, limit=page.fetch
        )
        return connection(
            TravelDeclarationConnection,
            rows,
            page,
            lambda r: declaration_node(r, ctx),
            lambda: service.count_declarations(ctx.db, scope=scope, status=status),
        )


async def _zero() -> int:
    return 0


# -- mutations -------------------------------------------------------------------------------


@strawberry.type
class ReminderMutation:
    @strawberry.mutation(
        description="Declare a trip abroad, before it: by a member, for itself. PENDING until "
        "an admin decides; a recorded trip no APPROVED declaration covers is a RED warning.",
        extensions=[allow(SignedIn())],
    )
    async def declare_travel(
        self, info: Info[Context, None], input: DeclareTravelInput
    ) -> TravelDeclarationNode:
        ctx = info.context
        principal = ctx.require_principal()
        async with ctx.runtime.write() as (conn, _outbox):
            place = (
                None
                if principal.member_id is None
                else await service.member_place(conn, principal.member_id)
            )
            if place is None:
                raise ctx.denied("declare travel (members only, for themselves)")
            row = await service.declare_travel(
                conn,
                place=place,
                destination=input.destination,
                departs_on=input.departs_on,
                returns_on=input.returns_on,
                today=_today(ctx),
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
            )
        return declaration_node(row, ctx)

    @strawberry.mutation(
        description="Approve or reject a PENDING travel declaration of a member in your subtree.",
        extensions=[allow(Can(Resource.MEMBER, Action.WRITE))],
    )
    async def decide_travel_declaration(
        self, info: Info[Context, None], id: strawberry.ID, approve: bool
    ) -> TravelDeclarationNode:
        ctx = info.context
        pk = id_of(id, "TravelDeclaration", "id")
        async with ctx.runtime.write() as (conn, _outbox):
            found = await service.declaration(conn, pk)
            if found is None or not ctx.scope(Resource.MEMBER, Action.WRITE).contains(found.path):
                raise ctx.denied(
                    "decide travel declarations there", path=None if found is None else found.path
                )
            row = await service.decide_travel(
                conn,
                found=found,
                approve=approve,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
            )
        return declaration_node(row, ctx)

    @strawberry.mutation(
        description="Record a member's trip abroad (e.g. from exit and entry records). A trip "
        "no APPROVED declaration covers gets its RED reminder and alert at once.",
        extensions=[allow(Can(Resource.MEMBER, Action.WRITE))],
    )
    async def record_travel(
        self, info: Info[Context, None], input: RecordTravelInput
    ) -> TravelRecordNode:
        ctx = info.context
        member = id_of(input.member_id, "Member", "memberId")
        async with ctx.runtime.write() as (conn, outbox):
            place = await _writable(ctx, member, conn, "record travel of members there")
            row, outcome = await service.record_travel(
                conn,
                place=place,
                destination=input.destination,
                departed_on=input.departed_on,
                returned_on=input.returned_on,
                today=_today(ctx),
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
            )
            outbox.extend(outcome.events)
        return record_node(row, ctx)

    @strawberry.mutation(
        description='Record a member\'s dues for a month ("2026-10") as paid. A month the '
        "ledger does not hold yet needs the amount.",
        extensions=[allow(Can(Resource.MEMBER, Action.WRITE))],
    )
    async def record_dues_payment(
        self,
        info: Info[Context, None],
        member_id: strawberry.ID,
        month: str,
        paid_on: date,
        amount: float | None = None,
    ) -> DuesEntryNode:
        ctx = info.context
        member = id_of(member_id, "Member", "memberId")
        today = _today(ctx)
        async with ctx.runtime.write() as (conn, _outbox):
            place = await _writable(ctx, member, conn, "record dues of members there")
            row = await service.record_payment(
                conn,
                place=place,
                month=month,
                paid_on=paid_on,
                amount=amount,
                today=today,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
            )
        return dues_node(row, today)
