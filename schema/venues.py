"""Venue booking over GraphQL: Query.venues, venue, venueAvailability, venueBookings and
myVenueBookings; Mutation.createVenue, updateVenue, bookVenue and cancelVenueBooking.

Who may do what (VENUE in policies/policy.csv; rules in server/venues/service.py):

- Reading venues (VENUE read): those of the caller's subtree (a member: its branch's tenant's
  subtree) and those of every tenant above it. A venue outside reads as absent: `venue` is
  null, booking it or asking its availability is FORBIDDEN exactly as for an id that does
  not exist.
- Managing venues (VENUE write: the admins): create them at a tenant of their subtree,
  change, close (active: false) the venues of their subtree.
- Booking: a member for its own branch, an admin for a branch of its VENUE write subtree; a
  venue the caller may read. Cancelling: the booker, or an admin with VENUE write over the
  venue's tenant.
- Bookings listed: `myVenueBookings`, what the caller booked; `venueBookings` (VENUE write),
  the bookings of the venues of the admin's subtree and those made for its branches.

Every write is audited in its own transaction; a booking reaches the feed as BRANCH_ACTIVITY.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import strawberry
from strawberry.types import Info

from policies.rbac import Action, Resource
from schema.context import Context
from schema.ids import cursor, global_id, id_of
from schema.lazy import Lazy
from schema.pagination import PageArgs
from schema.permissions import Can, SignedIn, allow
from schema.types import EDGES, BranchNode, Counter, Node, PageInfo, TenantNode, connection
from schema.types import tenant_from_facts as _tenant_from_facts
from server.activities.service import branch_facts
from server.errors import BadUserInput
from server.sql import AnyRow
from server.venues import service
from server.venues.models import BookingStatus, VenueKind
from tenants.models import TenantLevel

strawberry.enum(
    VenueKind,
    name="VenueKind",
    description="PARTY_HISTORY_SITE (党史教育基地) or MEETING_ROOM (会议室).",
)
strawberry.enum(
    BookingStatus,
    name="VenueBookingStatus",
    description="CONFIRMED until cancelled (CANCELLED); a confirmed booking whose end has "
    "passed reads as COMPLETED.",
)

KIND_LABELS = {VenueKind.PARTY_HISTORY_SITE: "党史教育基地", VenueKind.MEETING_ROOM: "会议室"}


# -- types ----------------------------------------------------------------------------------------


@strawberry.type(description="A weekday's opening hours, local time (Asia/Shanghai).")
class OpeningHours:
    weekday: int = strawberry.field(description="ISO weekday: 1 Monday ... 7 Sunday.")
    opens: str = strawberry.field(description='"09:00".')
    closes: str = strawberry.field(
        description='"17:00": the last granule ends then; "24:00" at the day\'s end.'
    )


@strawberry.input(
    description="A weekday's opening hours, local time, on the half hour, within the day: "
    'closes after opens, "24:00" at the latest.'
)
class OpeningHoursInput:
    weekday: int = strawberry.field(description="ISO weekday: 1 Monday ... 7 Sunday.")
    opens: str
    closes: str


@strawberry.type(name="Venue", description="A party-history education site or meeting room.")
class VenueNode(Node):
    id: strawberry.ID
    kind: VenueKind
    kind_label: str = strawberry.field(description="党史教育基地 or 会议室.")
    name: str
    address: str
    capacity: int
    active: bool = strawberry.field(description="False: closed for new bookings.")
    opening_hours: list[OpeningHours] = strawberry.field(
        description="By weekday; a weekday not listed is closed."
    )
    closed_dates: list[date] = strawberry.field(description="Closed all day, whatever weekday.")
    tenant: TenantNode = strawberry.field(description="Where it belongs (who manages it).")
    created_at: datetime
    updated_at: datetime


@strawberry.type
class VenueEdge:
    cursor: str
    node: VenueNode


@strawberry.type
class VenueConnection:
    edges: list[VenueEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type(name="VenueBooking", description="A booking of a venue for a time range.")
class VenueBookingNode:
    id: strawberry.ID
    venue: VenueNode
    branch: BranchNode | None = strawberry.field(
        description="The branch it is for (null if you may not read that branch)."
    )
    booked_by: str = strawberry.field(description="The account that booked it.")
    purpose: str
    head_count: int
    starts_at: datetime
    ends_at: datetime
    status: BookingStatus
    created_at: datetime
    cancelled_at: datetime | None
    cancelled_by: str | None
    cancel_reason: str | None


@strawberry.type
class VenueBookingEdge:
    cursor: str
    node: VenueBookingNode


@strawberry.type
class VenueBookingConnection:
    edges: list[VenueBookingEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


EDGES[VenueConnection] = VenueEdge
EDGES[VenueBookingConnection] = VenueBookingEdge


@strawberry.type(description="A time range [startsAt, endsAt).")
class TimeRange:
    starts_at: datetime
    ends_at: datetime


@strawberry.type(
    description="A venue's day: its opening hours, the free ranges still bookable and the "
    "busy ones (who booked them is not shown)."
)
class VenueDay:
    venue: VenueNode
    date: date
    open: bool
    closed_reason: str | None
    opens_at: datetime | None
    closes_at: datetime | None
    granule_minutes: int = strawberry.field(
        description="Bookings start and end on these boundaries (30: the hour and half hour)."
    )
    free: list[TimeRange] = strawberry.field(
        description="Bookable: not held, not yet begun, within the 180-day horizon; none at "
        "an inactive venue."
    )
    busy: list[TimeRange]


@strawberry.input
class VenueInput:
    tenant_id: strawberry.ID = strawberry.field(description="Where it belongs: in your subtree.")
    kind: VenueKind
    name: str
    address: str
    capacity: int
    opening_hours: list[OpeningHoursInput]
    closed_dates: list[date] | None = None


@strawberry.input(description="The fields to change; those left null stay as they are.")
class VenueChangeInput:
    name: str | None = None
    address: str | None = None
    capacity: int | None = None
    opening_hours: list[OpeningHoursInput] | None = None
    closed_dates: list[date] | None = None
    active: bool | None = None


@strawberry.input
class BookVenueInput:
    venue_id: strawberry.ID
    starts_at: datetime = strawberry.field(description="On the hour or half hour, future.")
    ends_at: datetime = strawberry.field(description="Same day, within the opening hours.")
    purpose: str
    head_count: int = strawberry.field(description="1 to the venue's capacity.")
    branch_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The branch it is for: a member's own (the default), or, for an admin, "
        "a branch of its subtree (required).",
    )


# -- rows -> nodes --------------------------------------------------------------------------------


def _venue(row: AnyRow, ctx: Context, prefix: str = "") -> VenueNode:
    get = row._mapping
    hours = service.parse_hours(get[prefix + "opening_hours"])
    kind = VenueKind(get[prefix + "kind"])
    tenant = _tenant_from_facts(
        {
            "id": get[prefix + "tenant_id"],
            "parent_id": row.t_parent_id,
            "level": TenantLevel(row.t_level),
            "code": row.t_code,
            "name": row.t_name,
            "path": row.t_path,
        },
        ctx.loaders,
    )
    return VenueNode(
        id=global_id("Venue", get[prefix + "id"]),
        kind=kind,
        kind_label=KIND_LABELS[kind],
        name=get[prefix + "name"],
        address=get[prefix + "address"],
        capacity=get[prefix + "capacity"],
        active=bool(get[prefix + "active"]),
        opening_hours=[
            OpeningHours(
                weekday=d, opens=service.clock_text(o), closes=service.clock_text(c, closing=True)
            )
            for d, (o, c) in sorted(hours.items())
        ],
        closed_dates=sorted(service.parse_dates(get[prefix + "closed_dates"])),
        tenant=tenant,
        created_at=get[prefix + "created_at"],
        updated_at=get[prefix + "updated_at"],
    )


def venue_node(row: AnyRow, ctx: Context) -> VenueNode:
    return _venue(row, ctx)


def booking_node(row: AnyRow, ctx: Context, now: datetime) -> VenueBookingNode:
    return VenueBookingNode(
        id=global_id("VenueBooking", row.id),
        venue=_venue(row, ctx, "v_"),
        branch=Lazy(ctx.loaders.branch, row.branch_id),  # type: ignore[arg-type]
        booked_by=row.booked_by,
        purpose=row.purpose,
        head_count=row.head_count,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        status=service.status_of(row, now),
        created_at=row.created_at,
        cancelled_at=row.cancelled_at,
        cancelled_by=row.cancelled_by,
        cancel_reason=row.cancel_reason,
    )


def _hours(given: list[OpeningHoursInput]) -> service.Hours:
    return service.checked_hours([(h.weekday, h.opens, h.closes) for h in given])


async def _under_path(ctx: Context, under: strawberry.ID | None) -> tuple[str | None, bool]:
    """The path of the tenant `under`, and whether it is known (not: an empty answer)."""
    if under is None:
        return None, True
    tenant_pk = id_of(under, "Tenant", "under")
    tenant = await ctx.loaders.tenant.load(tenant_pk)
    return (None, False) if tenant is None else (tenant.path, True)


def _username(ctx: Context) -> str:
    principal = ctx.require_principal()
    if principal.kind != "user":
        raise ctx.denied("book venues (people only)")
    return principal.name


async def _empty() -> int:
    return 0


async def load_venue(ctx: Context, pk: int) -> VenueNode | None:
    """The venue, when the viewer may see it (its subtree or above it); None otherwise, as for
    one that does not exist. Query.venue and Query.node both answer with it."""
    row = await service.venue(ctx.db, scope=ctx.scope(Resource.VENUE), venue_id=pk)
    return None if row is None else venue_node(row, ctx)


# -- queries --------------------------------------------------------------------------------------


@strawberry.type
class VenueQuery:
    @strawberry.field(
        description="Venues you may book: those of your subtree and of the tenants above it, "
        "in id order; `under` narrows to one tenant's subtree, `kind` to one kind, `active` "
        "to open (true) or closed (false) ones.",
        extensions=[allow(Can(Resource.VENUE))],
    )
    async def venues(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        kind: VenueKind | None = None,
        active: bool | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> VenueConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = ctx.scope(Resource.VENUE)
        under_path, known = await _under_path(ctx, under)
        if not known:
            return connection(VenueConnection, [], page, lambda r: r, _empty)
        rows = await service.venues(
            ctx.db,
            scope=scope,
            under_path=under_path,
            kind=kind,
            active=active,
            after_id=page.after_id,
            limit=page.fetch,
        )
        return connection(
            VenueConnection,
            rows,
            page,
            lambda r: venue_node(r, ctx),
            lambda: service.count_venues(
                ctx.db, scope=scope, under_path=under_path, kind=kind, active=active
            ),
        )

    @strawberry.field(
        description="One venue; null when it does not exist or lies outside what you may see.",
        extensions=[allow(Can(Resource.VENUE))],
    )
    async def venue(self, info: Info[Context, None], id: strawberry.ID) -> VenueNode | None:
        return await load_venue(info.context, id_of(id, "Venue", "id"))

    @strawberry.field(
        description="A venue's opening hours on a date (local), its free ranges still "
        "bookable and its busy ones.",
        extensions=[allow(Can(Resource.VENUE))],
    )
    async def venue_availability(
        self, info: Info[Context, None], venue_id: strawberry.ID, date: date
    ) -> VenueDay:
        ctx = info.context
        pk = id_of(venue_id, "Venue", "venueId")
        row = await service.venue(ctx.db, scope=ctx.scope(Resource.VENUE), venue_id=pk)
        if row is None:
            raise ctx.denied("read that venue")
        now = datetime.now(UTC)
        found = await service.availability(ctx.db, venue=row, day=date, tz=ctx.timezone, now=now)
        return VenueDay(
            venue=venue_node(row, ctx),
            date=date,
            open=found.day.opens is not None,
            closed_reason=found.day.reason,
            opens_at=found.day.opens,
            closes_at=found.day.closes,
            granule_minutes=service.GRANULE.seconds // 60,
            free=[TimeRange(starts_at=a, ends_at=b) for a, b in found.free],
            busy=[TimeRange(starts_at=a, ends_at=b) for a, b in found.busy],
        )

    @strawberry.field(
        description="Bookings of the venues of your subtree and those made for its branches, "
        "newest first; `venueId` narrows to one venue, `status` to one status.",
        extensions=[allow(Can(Resource.VENUE, Action.WRITE))],
    )
    async def venue_bookings(
        self,
        info: Info[Context, None],
        venue_id: strawberry.ID | None = None,
        status: BookingStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> VenueBookingConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        venue_pk = None if venue_id is None else id_of(venue_id, "Venue", "venueId")
        scope = ctx.scope(Resource.VENUE, Action.WRITE)
        now = datetime.now(UTC)
        rows = await service.bookings(
            ctx.db,
            scope=scope,
            venue_id=venue_pk,
            status=status,
            now=now,
            after_id=page.after_id,
            limit=page.fetch,
        )
        return _bookings_page(
            ctx,
            rows,
            page,
            now,
            lambda: service.count_bookings(
                ctx.db, scope=scope, venue_id=venue_pk, status=status, now=now
            ),
        )

    @strawberry.field(
        description="The bookings you made, newest first; `status` narrows to one status.",
        extensions=[allow(SignedIn())],
    )
    async def my_venue_bookings(
        self,
        info: Info[Context, None],
        status: BookingStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> VenueBookingConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        username = ctx.require_principal().name
        now = datetime.now(UTC)
        rows = await service.bookings(
            ctx.db,
            scope=None,
            username=username,
            venue_id=None,
            status=status,
            now=now,
            after_id=page.after_id,
            limit=page.fetch,
        )
        return _bookings_page(
            ctx,
            rows,
            page,
            now,
            lambda: service.count_bookings(
                ctx.db, scope=None, username=username, venue_id=None, status=status, now=now
            ),
        )


def _bookings_page(
    ctx: Context, rows: Any, page: PageArgs, now: datetime, counter: Counter
) -> VenueBookingConnection:
    more = len(rows) > page.first
    edges = [
        VenueBookingEdge(cursor=cursor(r.id), node=booking_node(r, ctx, now))
        for r in rows[: page.first]
    ]
    info = PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None)
    return VenueBookingConnection(edges=edges, page_info=info, counter=counter)


# -- mutations ------------------------------------------------------------------------------------


@strawberry.type
class VenueMutation:
    @strawberry.mutation(
        description="Create a venue at a tenant of your subtree.",
        extensions=[allow(Can(Resource.VENUE, Action.WRITE))],
    )
    async def create_venue(self, info: Info[Context, None], input: VenueInput) -> VenueNode:
        ctx = info.context
        tenant_pk = id_of(input.tenant_id, "Tenant", "tenantId")
        name = service.checked_text(input.name, "name", service.NAME_MAX)
        address = service.checked_text(input.address, "address", service.ADDRESS_MAX)
        capacity = service.checked_capacity(input.capacity)
        hours = _hours(input.opening_hours)
        closed = service.checked_closed_dates(input.closed_dates or [])
        tenant = await ctx.loaders.tenant.load(tenant_pk)
        if tenant is None or not ctx.scope(Resource.VENUE, Action.WRITE).contains(tenant.path):
            raise ctx.denied("create venues there", path=None if tenant is None else tenant.path)
        async with ctx.runtime.write() as (conn, _outbox):
            venue_id = await service.create_venue(
                conn,
                tenant_id=tenant_pk,
                tenant_path=tenant.path,
                kind=input.kind,
                name=name,
                address=address,
                capacity=capacity,
                hours=hours,
                closed=closed,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
            )
            row = await service.venue_any(conn, venue_id)
        assert row is not None
        return venue_node(row, ctx)

    @strawberry.mutation(
        description="Change a venue of your subtree (active: false closes it for new "
        "bookings; bookings made stand).",
        extensions=[allow(Can(Resource.VENUE, Action.WRITE))],
    )
    async def update_venue(
        self, info: Info[Context, None], id: strawberry.ID, input: VenueChangeInput
    ) -> VenueNode:
        ctx = info.context
        pk = id_of(id, "Venue", "id")
        changes: dict[str, Any] = {}
        if input.name is not None:
            changes["name"] = service.checked_text(input.name, "name", service.NAME_MAX)
        if input.address is not None:
            changes["address"] = service.checked_text(input.address, "address", service.ADDRESS_MAX)
        if input.capacity is not None:
            changes["capacity"] = service.checked_capacity(input.capacity)
        if input.opening_hours is not None:
            changes["opening_hours"] = service.hours_json(_hours(input.opening_hours))
        if input.closed_dates is not None:
            changes["closed_dates"] = service.dates_json(
                service.checked_closed_dates(input.closed_dates)
            )
        if input.active is not None:
            changes["active"] = input.active
        async with ctx.runtime.write() as (conn, _outbox):
            found = await service.venue_any(conn, pk)
            if found is None or not ctx.scope(Resource.VENUE, Action.WRITE).contains(found.path):
                raise ctx.denied("change that venue", path=None if found is None else found.path)
            await service.update_venue(
                conn,
                found=found,
                changes=changes,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
            )
            row = await service.venue_any(conn, pk)
        assert row is not None
        return venue_node(row, ctx)

    @strawberry.mutation(
        description="Book a venue you may see, for a time within its opening hours, on the "
        "half hour. Two bookings of a venue never overlap: a taken time is refused "
        "(BAD_USER_INPUT on startsAt, naming the taken range).",
        extensions=[allow(Can(Resource.VENUE))],
    )
    async def book_venue(
        self, info: Info[Context, None], input: BookVenueInput
    ) -> VenueBookingNode:
        ctx = info.context
        principal = ctx.require_principal()
        username = _username(ctx)
        venue_pk = id_of(input.venue_id, "Venue", "venueId")
        branch_pk = (
            None if input.branch_id is None else id_of(input.branch_id, "Branch", "branchId")
        )
        writes = ctx.scope(Resource.VENUE, Action.WRITE)
        if principal.member_id is not None and writes.is_empty:
            # A member books for its own branch.
            if branch_pk is not None and branch_pk != principal.branch_id:
                raise BadUserInput("a member books for its own branch", argument="branchId")
            branch_pk = principal.branch_id
        elif branch_pk is None:
            raise BadUserInput("branchId is required: the branch it is for", argument="branchId")
        assert branch_pk is not None
        now = datetime.now(UTC)
        async with ctx.runtime.write() as (conn, outbox):
            venue = await service.venue(conn, scope=ctx.scope(Resource.VENUE), venue_id=venue_pk)
            if venue is None:
                raise ctx.denied("book that venue")
            facts = await branch_facts(conn, branch_pk)
            path = None if facts is None else facts.tenant["path"]
            own = branch_pk == principal.branch_id and principal.member_id is not None
            if facts is None or not (own or writes.contains(facts.tenant["path"])):
                raise ctx.denied("book for that branch", path=path)
            booker = service.Booker(
                username=username,
                member_id=principal.member_id,
                actor=ctx.actor(),
                client=ctx.client_address,
                manages_venue=writes.contains(venue.path),
            )
            booking_id, event = await service.book(
                conn,
                venue=venue,
                facts=facts,
                booker=booker,
                purpose=input.purpose,
                head_count=input.head_count,
                starts_at=input.starts_at,
                ends_at=input.ends_at,
                tz=ctx.timezone,
                now=now,
            )
            outbox.append(event)
        # Read after the commit: the writers' turn is not held for it.
        row = await service.booking_row(ctx.db, booking_id)
        return booking_node(row, ctx, now)

    @strawberry.mutation(
        description="Cancel a booking that has not ended: your own, or any at a venue of your "
        "subtree (admins). Its time is free again at once.",
        extensions=[allow(SignedIn())],
    )
    async def cancel_venue_booking(
        self, info: Info[Context, None], id: strawberry.ID, reason: str | None = None
    ) -> VenueBookingNode:
        ctx = info.context
        pk = id_of(id, "VenueBooking", "id")
        username = _username(ctx)
        now = datetime.now(UTC)
        async with ctx.runtime.write() as (conn, _outbox):
            found = await service.booking(conn, pk)
            if found is None or not (
                found.booked_by == username
                or ctx.scope(Resource.VENUE, Action.WRITE).contains(found.path)
            ):
                raise ctx.denied("cancel that booking", path=None if found is None else found.path)
            await service.cancel(
                conn,
                found=found,
                reason=reason,
                actor=ctx.actor(),
                username=username,
                client=ctx.client_address,
                tz=ctx.timezone,
                now=now,
            )
        row = await service.booking_row(ctx.db, pk)
        return booking_node(row, ctx, now)
