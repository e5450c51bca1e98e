"""Red lecturers over GraphQL: Query.lecturers, lecturer, lecturerBookings and
myLecturerBookings; Mutation.registerLecturer, updateLecturer, bookLecturer,
acceptLecturerBooking, declineLecturerBooking and cancelLecturerBooking.

Admins (LECTURER write) register and edit the lecturers of their subtree and book lecturers
for a tenant or branch of it; readers (LECTURER read, members included) list the lecturers of
their subtree and of the tenants above it. Only the lecturer itself (the account linked to it)
accepts or declines a booking; an admin over the booking's tenant cancels it. A slot is held by
one booking at most, decided by the database (server/lecturers/models.py). Rules in
docs/lecturers.md; SQL in server/lecturers/service.py.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.types import Info

from policies.rbac import Action, Resource
from schema.context import Context
from schema.ids import global_id, id_of
from schema.pagination import PageArgs
from schema.permissions import Can, SignedIn, allow
from schema.types import (
    EDGES,
    Counter,
    Node,
    PageInfo,
    TenantNode,
    connection,
    tenant_from_facts,
)
from server.errors import BadUserInput
from server.feed.events import tenant_facts
from server.lecturers import service
from server.lecturers.models import BookingStatus, Slot
from server.sql import AnyRow

strawberry.enum(
    Slot,
    name="LecturerSlot",
    description="The slots of a day: 上午 MORNING, 下午 AFTERNOON, 晚上 EVENING.",
)
strawberry.enum(
    BookingStatus,
    name="LecturerBookingStatus",
    description="REQUESTED until the lecturer ACCEPTs or DECLINEs; the booker may CANCEL a "
    "REQUESTED or ACCEPTED one. DECLINED and CANCELLED free the slot.",
)


# -- types -------------------------------------------------------------------------------------


@strawberry.type(name="Lecturer", description="A red lecturer (红色讲师) of the register.")
class LecturerNode(Node):
    id: strawberry.ID
    name: str
    title: str = strawberry.field(description="职称/职务.")
    affiliation: str = strawberry.field(description="单位.")
    topics: list[str]
    bio: str
    active: bool = strawberry.field(description="Inactive lecturers cannot be booked.")
    tenant: TenantNode = strawberry.field(description="Where the lecturer is registered.")
    account: str | None = strawberry.field(
        description="The username the lecturer signs in with: shown to admins who may edit "
        "the lecturer, null for everyone else."
    )
    created_at: datetime
    updated_at: datetime


@strawberry.type(name="LecturerBooking", description="A lecturer booked for a slot.")
class LecturerBookingNode:
    id: strawberry.ID
    lecturer: LecturerNode
    tenant: TenantNode = strawberry.field(description="Where the lecture is for.")
    branch_id: strawberry.ID | None
    branch_name: str | None
    topic: str
    date: date
    slot: Slot
    status: BookingStatus
    booked_by: str
    created_at: datetime
    note: str | None = strawberry.field(
        description="The lecturer's note on accepting or declining, or the reason of a "
        "cancellation."
    )
    decided_by: str | None
    decided_at: datetime | None


@strawberry.type
class LecturerEdge:
    cursor: str
    node: LecturerNode


@strawberry.type
class LecturerConnection:
    edges: list[LecturerEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type
class LecturerBookingEdge:
    cursor: str
    node: LecturerBookingNode


@strawberry.type
class LecturerBookingConnection:
    edges: list[LecturerBookingEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


EDGES[LecturerConnection] = LecturerEdge
EDGES[LecturerBookingConnection] = LecturerBookingEdge


@strawberry.input
class RegisterLecturerInput:
    tenant_id: strawberry.ID = strawberry.field(description="A tenant of your subtree.")
    name: str
    title: str
    affiliation: str
    topics: list[str] = strawberry.field(description="1 to 10 topics.")
    bio: str = ""
    account: str | None = strawberry.field(
        default=None, description="The username of an existing account, to sign in as them."
    )
    active: bool = True


@strawberry.input
class UpdateLecturerInput:
    name: str | None = None
    title: str | None = None
    affiliation: str | None = None
    topics: list[str] | None = None
    bio: str | None = None
    account: str | None = strawberry.field(
        default=None, description='A username; "" unlinks the account; null keeps it.'
    )
    active: bool | None = None


@strawberry.input
class BookLecturerInput:
    lecturer_id: strawberry.ID
    tenant_id: strawberry.ID | None = strawberry.field(
        default=None, description="The tenant the lecture is for (or give branchId)."
    )
    branch_id: strawberry.ID | None = strawberry.field(
        default=None, description="The branch the lecture is for (its tenant is the place)."
    )
    topic: str
    date: date
    slot: Slot


# -- rows to nodes -------------------------------------------------------------------------------


def lecturer_node(row: AnyRow, ctx: Context) -> LecturerNode:
    editable = ctx.scope(Resource.LECTURER, Action.WRITE).contains(row.t_path)
    return LecturerNode(
        id=global_id("Lecturer", row.id),
        name=row.name,
        title=row.title,
        affiliation=row.affiliation,
        topics=json.loads(row.topics),
        bio=row.bio,
        active=row.active,
        tenant=tenant_from_facts(tenant_facts(row), ctx.loaders),
        account=row.account if editable else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def booking_node(row: AnyRow, lecturer: LecturerNode, ctx: Context) -> LecturerBookingNode:
    return LecturerBookingNode(
        id=global_id("LecturerBooking", row.id),
        lecturer=lecturer,
        tenant=tenant_from_facts(tenant_facts(row), ctx.loaders),
        branch_id=None if row.branch_id is None else global_id("Branch", row.branch_id),
        branch_name=row.branch_name,
        topic=row.topic,
        date=row.day,
        slot=Slot(row.slot),
        status=BookingStatus(row.status),
        booked_by=row.booked_by,
        created_at=row.created_at,
        note=row.note,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
    )


async def lecturer_nodes(ctx: Context, ids: list[int]) -> dict[int, LecturerNode]:
    """The lecturers of a page of bookings or classes, in one query: whoever sees what refers
    to a lecturer sees the lecturer."""
    rows = await service.lecturers_by_ids(ctx.db, scope=None, ids=ids)
    return {r.id: lecturer_node(r, ctx) for r in rows}


async def load_lecturer(ctx: Context, pk: int) -> LecturerNode | None:
    """The lecturer, when registered in the viewer's subtree or above it; None otherwise, as
    for one that does not exist. Query.lecturer and Query.node both answer with it."""
    rows = await service.lecturers_by_ids(ctx.db, scope=ctx.scope(Resource.LECTURER), ids=[pk])
    return lecturer_node(rows[0], ctx) if rows else None


async def _booking_page(
    ctx: Context, rows: list[AnyRow], page: PageArgs, counter: Counter
) -> LecturerBookingConnection:
    lecturers = await lecturer_nodes(ctx, [r.lecturer_id for r in rows[: page.first]])
    return connection(
        LecturerBookingConnection,
        rows,
        page,
        lambda r: booking_node(r, lecturers[r.lecturer_id], ctx),
        counter,
    )


def _today(ctx: Context) -> date:
    return datetime.now(UTC).astimezone(ctx.timezone).date()


async def _writable_lecturer(ctx: Context, conn: AsyncConnection, lecturer_pk: int) -> AnyRow:
    """The lecturer, when the caller may edit it; the same refusal when it does not exist."""
    rows = await service.lecturers_by_ids(conn, scope=None, ids=[lecturer_pk])
    path = rows[0].t_path if rows else None
    if path is None or not ctx.scope(Resource.LECTURER, Action.WRITE).contains(path):
        raise ctx.denied("edit this lecturer", path=path)
    return rows[0]


async def _booking(ctx: Context, conn: AsyncConnection, booking_id: strawberry.ID) -> AnyRow:
    rows = await service.bookings_by_ids(conn, ids=[id_of(booking_id, "LecturerBooking", "id")])
    if not rows:
        raise ctx.denied("act on this lecturer booking")
    return rows[0]


async def _booking_result(ctx: Context, booking_pk: int) -> LecturerBookingNode:
    [row] = await service.bookings_by_ids(ctx.db, ids=[booking_pk])
    lecturers = await lecturer_nodes(ctx, [row.lecturer_id])
    return booking_node(row, lecturers[row.lecturer_id], ctx)


def _statuses(statuses: list[BookingStatus] | None) -> tuple[BookingStatus, ...] | None:
    return None if statuses is None else tuple(sorted(set(statuses)))


def _account(ctx: Context) -> str | None:
    principal = ctx.require_principal()
    return principal.name if principal.kind == "user" else None


def _note(note: str | None, *, required: bool) -> str | None:
    note = None if note is None else note.strip() or None
    if note is None:
        if required:
            raise BadUserInput("note must say why", argument="note")
        return None
    if len(note) > service.NOTE_MAX:
        raise BadUserInput(f"note must have at most {service.NOTE_MAX} characters", argument="note")
    return note


# -- queries ------------------------------------------------------------------------------------


@strawberry.type
class LecturerQuery:
    @strawberry.field(
        description="Lecturers registered in your subtree and in the tenants above it, by id; "
        "`under` narrows to a tenant's subtree (and those above it), `search` matches name, "
        "title, affiliation and topics, `active` filters.",
        extensions=[allow(Can(Resource.LECTURER))],
    )
    async def lecturers(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        search: str | None = None,
        active: bool | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> LecturerConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        if search is not None and len(search) > 50:
            raise BadUserInput("search must have at most 50 characters", argument="search")
        search = (search or "").strip() or None
        scope = await ctx.scope_under(under, Resource.LECTURER)
        rows = await service.list_lecturers(
            ctx.db,
            scope=scope,
            search=search,
            active=active,
            after_id=page.after_id,
            limit=page.fetch,
        )
        return connection(
            LecturerConnection,
            rows,
            page,
            lambda r: lecturer_node(r, ctx),
            lambda: service.count_lecturers(ctx.db, scope=scope, search=search, active=active),
        )

    @strawberry.field(
        description="One lecturer, or null when it does not exist or lies outside what you see.",
        extensions=[allow(Can(Resource.LECTURER))],
    )
    async def lecturer(self, info: Info[Context, None], id: strawberry.ID) -> LecturerNode | None:
        return await load_lecturer(info.context, id_of(id, "Lecturer", "id"))

    @strawberry.field(
        description="Bookings for the tenants of your subtree (`under` narrows it), newest "
        "first; filter by lecturer and status.",
        extensions=[allow(Can(Resource.LECTURER))],
    )
    async def lecturer_bookings(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        lecturer_id: strawberry.ID | None = None,
        statuses: list[BookingStatus] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> LecturerBookingConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        where = service.BookingFilter(
            scope=await ctx.scope_under(under, Resource.LECTURER),
            lecturer_id=None
            if lecturer_id is None
            else id_of(lecturer_id, "Lecturer", "lecturerId"),
            statuses=_statuses(statuses),
        )
        rows = await service.list_bookings(
            ctx.db, where=where, after_id=page.after_id, limit=page.fetch
        )
        return await _booking_page(
            ctx, list(rows), page, lambda: service.count_bookings(ctx.db, where=where)
        )

    @strawberry.field(
        description="The bookings addressed to you as a lecturer (your account is linked to a "
        "lecturer), newest first: what you accept or decline. Empty for anyone else.",
        extensions=[allow(SignedIn())],
    )
    async def my_lecturer_bookings(
        self,
        info: Info[Context, None],
        statuses: list[BookingStatus] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> LecturerBookingConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        account = _account(ctx)
        where = service.BookingFilter(
            scope=None, account=account or "", statuses=_statuses(statuses)
        )
        rows = await service.list_bookings(
            ctx.db, where=where, after_id=page.after_id, limit=page.fetch
        )
        return await _booking_page(
            ctx, list(rows), page, lambda: service.count_bookings(ctx.db, where=where)
        )


# -- mutations ----------------------------------------------------------------------------------


@strawberry.type
class LecturerMutation:
    @strawberry.mutation(
        description="Register a lecturer at a tenant of your subtree.",
        extensions=[allow(Can(Resource.LECTURER, Action.WRITE))],
    )
    async def register_lecturer(
        self, info: Info[Context, None], input: RegisterLecturerInput
    ) -> LecturerNode:
        ctx = info.context
        tenant_pk = id_of(input.tenant_id, "Tenant", "tenantId")
        fields = service.checked_lecturer(
            name=input.name,
            title=input.title,
            affiliation=input.affiliation,
            topics=input.topics,
            bio=input.bio,
            account=input.account,
            active=input.active,
        )
        async with ctx.runtime.write() as (conn, _outbox):
            path = await service.tenant_path(conn, tenant_pk)
            if path is None or not ctx.scope(Resource.LECTURER, Action.WRITE).contains(path):
                raise ctx.denied("register lecturers there", path=path)
            lecturer_pk = await service.register_lecturer(
                conn,
                tenant_id=tenant_pk,
                path=path,
                fields=fields,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
            )
        return (await lecturer_nodes(ctx, [lecturer_pk]))[lecturer_pk]

    @strawberry.mutation(
        description="Change a lecturer of your subtree: the fields given replace the stored "
        "ones (`active: false` keeps it from being booked).",
        extensions=[allow(Can(Resource.LECTURER, Action.WRITE))],
    )
    async def update_lecturer(
        self, info: Info[Context, None], id: strawberry.ID, input: UpdateLecturerInput
    ) -> LecturerNode:
        ctx = info.context
        lecturer_pk = id_of(id, "Lecturer", "id")
        async with ctx.runtime.write() as (conn, _outbox):
            row = await _writable_lecturer(ctx, conn, lecturer_pk)
            fields = service.checked_lecturer(
                name=row.name if input.name is None else input.name,
                title=row.title if input.title is None else input.title,
                affiliation=row.affiliation if input.affiliation is None else input.affiliation,
                topics=json.loads(row.topics) if input.topics is None else input.topics,
                bio=row.bio if input.bio is None else input.bio,
                account=row.account if input.account is None else input.account,
                active=row.active if input.active is None else input.active,
            )
            await service.update_lecturer(
                conn,
                lecturer_id=lecturer_pk,
                path=row.t_path,
                fields=fields,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
                given=frozenset(k for k, v in vars(input).items() if v is not None),
            )
        return (await lecturer_nodes(ctx, [lecturer_pk]))[lecturer_pk]

    @strawberry.mutation(
        description="Book a lecturer you can see for a tenant or branch of your subtree, on a "
        "date and slot. A slot another booking holds is refused (BAD_USER_INPUT on `slot`), "
        "also when two requests race for it.",
        extensions=[allow(Can(Resource.LECTURER, Action.WRITE))],
    )
    async def book_lecturer(
        self, info: Info[Context, None], input: BookLecturerInput
    ) -> LecturerBookingNode:
        ctx = info.context
        lecturer_pk = id_of(input.lecturer_id, "Lecturer", "lecturerId")
        if (input.tenant_id is None) == (input.branch_id is None):
            raise BadUserInput("give either tenantId or branchId", argument="tenantId")
        topic = service.checked_text(input.topic, "topic", service.TOPIC_MAX)
        day = service.checked_day(input.date, _today(ctx))
        # Read before the write transaction: the insert is its first statement, so SQLite
        # writers queue on its lock instead of failing on a stale snapshot.
        branch_pk: int | None = None
        if input.branch_id is not None:
            branch_pk = id_of(input.branch_id, "Branch", "branchId")
            place = await service.branch_place(ctx.db, branch_pk)
            tenant_pk, path = (None, None) if place is None else (place.tenant_id, place.path)
        else:
            assert input.tenant_id is not None
            tenant_pk = id_of(input.tenant_id, "Tenant", "tenantId")
            path = await service.tenant_path(ctx.db, tenant_pk)
        if path is None or not ctx.scope(Resource.LECTURER, Action.WRITE).contains(path):
            raise ctx.denied("book lecturers for that place", path=path)
        assert tenant_pk is not None
        rows = await service.lecturers_by_ids(
            ctx.db, scope=ctx.scope(Resource.LECTURER), ids=[lecturer_pk]
        )
        if not rows:
            raise ctx.denied("book this lecturer")
        if not rows[0].active:
            raise BadUserInput(f"{rows[0].name} is not active", argument="lecturerId")
        await ctx.db.release()
        async with ctx.runtime.write() as (conn, _outbox):
            booking_pk = await service.book(
                conn,
                lecturer=rows[0],
                tenant_id=tenant_pk,
                path=path,
                branch_id=branch_pk,
                topic=topic,
                day=day,
                slot=input.slot,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
            )
        return await _booking_result(ctx, booking_pk)

    @strawberry.mutation(
        description="Accept a REQUESTED booking addressed to you as its lecturer; the feed "
        "gets a BRANCH_ACTIVITY event where the lecture is for (红色讲师预约).",
        extensions=[allow(SignedIn())],
    )
    async def accept_lecturer_booking(
        self, info: Info[Context, None], id: strawberry.ID, note: str | None = None
    ) -> LecturerBookingNode:
        return await _decide(info.context, id, "accept", _note(note, required=False))

    @strawberry.mutation(
        description="Decline a REQUESTED booking addressed to you as its lecturer, saying why "
        "(`note`); the slot is free again.",
        extensions=[allow(SignedIn())],
    )
    async def decline_lecturer_booking(
        self, info: Info[Context, None], id: strawberry.ID, note: str
    ) -> LecturerBookingNode:
        return await _decide(info.context, id, "decline", _note(note, required=True))

    @strawberry.mutation(
        description="Cancel a REQUESTED or ACCEPTED booking for a tenant of your subtree; the "
        "slot is free again.",
        extensions=[allow(Can(Resource.LECTURER, Action.WRITE))],
    )
    async def cancel_lecturer_booking(
        self, info: Info[Context, None], id: strawberry.ID, reason: str | None = None
    ) -> LecturerBookingNode:
        ctx = info.context
        note = _note(reason, required=False)
        async with ctx.runtime.write() as (conn, _outbox):
            booking = await _booking(ctx, conn, id)
            if not ctx.scope(Resource.LECTURER, Action.WRITE).contains(booking.t_path):
                raise ctx.denied("act on this lecturer booking", path=booking.t_path)
            await service.move_booking(
                conn,
                booking=booking,
                move="cancel",
                note=note,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
            )
        return await _booking_result(ctx, booking.id)


async def _decide(
    ctx: Context, id: strawberry.ID, move: str, note: str | None
) -> LecturerBookingNode:
    """Only the account linked to the booking's lecturer decides; anyone else gets the
    refusal an absent booking gets."""
    account = _account(ctx)
    async with ctx.runtime.write() as (conn, outbox):
        booking = await _booking(ctx, conn, id)
        lecturers = await service.lecturers_by_ids(conn, scope=None, ids=[booking.lecturer_id])
        if account is None or lecturers[0].account != account:
            raise ctx.denied("act on this lecturer booking", path=booking.t_path)
        outbox += await service.move_booking(
            conn,
            booking=booking,
            move=move,
            note=note,
            actor=ctx.actor(),
            client=ctx.client_address,
            now=datetime.now(UTC),
        )
    return await _booking_result(ctx, booking.id)
