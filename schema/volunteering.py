"""Volunteering over GraphQL (e服务): service centers, micro-wishes (微心愿) and volunteer
services (志愿服务), and their counts.

Who does what (VOLUNTEER rights, policies/policy.csv):
- admins (VOLUNTEER write in their subtree) manage centers, post wishes for people in need,
  rate completed wishes on the requester's behalf, withdraw or cancel wishes, initiate, complete,
  rate and cancel volunteer services;
- members (VOLUNTEER read: their branch's tenant's subtree, and the centers at the tenants
  above it) claim, release and complete wishes, sign up for services and withdraw sign-ups.
Anything out of the viewer's sight reads as absent: null for a lookup, FORBIDDEN for a change,
the same whether it exists or not. The state machines: server/volunteering/states.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from policies.rbac import Action, Resource
from schema.context import Context
from schema.ids import cursor, global_id, id_of
from schema.lazy import Lazy
from schema.pagination import PageArgs
from schema.permissions import Can, allow
from schema.types import Counter, Node, PageInfo, TenantNode
from server.audit import service as audit
from server.errors import BadUserInput
from server.members.privacy import mask_phone, masked_name
from server.sql import AnyRow
from server.volunteering import service
from server.volunteering.models import CenterKind
from server.volunteering.service import CATEGORIES, Counts, WishFilter
from server.volunteering.states import ServiceState, WishState
from tenants.models import Tenant
from tenants.paths import ancestors
from tenants.scope import Scope

strawberry.enum(
    CenterKind,
    name="ServiceCenterKind",
    description="PARTY_MASS 党群服务中心, COMMUNITY 社区便民服务中心.",
)
strawberry.enum(
    WishState,
    name="MicroWishState",
    description="OPEN → CLAIMED → COMPLETED → "
    "RATED; WITHDRAWN or CANCELLED by the center; a claimer may release it to OPEN.",
)
strawberry.enum(
    ServiceState,
    name="VolunteerServiceState",
    description="OPEN (sign-ups) → COMPLETED → RATED; or CANCELLED.",
)

CENTER_LABELS = {CenterKind.PARTY_MASS: "党群服务中心", CenterKind.COMMUNITY: "社区便民服务中心"}
STATE_LABELS = {
    "OPEN": "待认领",
    "CLAIMED": "已认领",
    "COMPLETED": "已完成",
    "RATED": "已评价",
    "WITHDRAWN": "已撤回",
    "CANCELLED": "已取消",
}
SERVICE_STATE_LABELS = {
    "OPEN": "报名中",
    "COMPLETED": "已完成",
    "RATED": "已评价",
    "CANCELLED": "已取消",
}
PAST_START = timedelta(days=7)  # a service under way (a long one) may have begun a week ago
FAR_AHEAD = timedelta(days=366)
REASON_MAX = 500


# -- types -------------------------------------------------------------------------------------


@strawberry.type(name="ServiceCenter", description="A party-mass or community service center.")
class ServiceCenterNode(Node):
    id: strawberry.ID
    kind: CenterKind
    kind_label: str = strawberry.field(description="党群服务中心 or 社区便民服务中心.")
    name: str
    address: str
    phone: str = strawberry.field(description="The center's public phone number.")
    tenant_name: str
    tenant: TenantNode | None = strawberry.field(
        description="The town or village it serves (null if you may not read that tenant)."
    )
    created_at: datetime
    pk: strawberry.Private[int]


def center_node(row: AnyRow, ctx: Context) -> ServiceCenterNode:
    kind = CenterKind(row.kind)
    return ServiceCenterNode(
        id=global_id("ServiceCenter", row.id),
        kind=kind,
        kind_label=CENTER_LABELS[kind],
        name=row.name,
        address=row.address,
        phone=row.phone,
        tenant_name=row.t_name,
        tenant=Lazy(ctx.loaders.tenant, row.tenant_id),  # type: ignore[arg-type]
        created_at=row.created_at,
        pk=row.id,
    )


@strawberry.type(name="WishClaimer", description="The member who claimed a wish.")
class WishClaimerNode:
    member_id: strawberry.ID
    name: str = strawberry.field(
        description="Full to the member itself and to admins of the wish's center; 王某 to others."
    )
    branch_name: str


@strawberry.type(name="MicroWish", description="A micro-wish (微心愿) posted through a center.")
class MicroWishNode(Node):
    id: strawberry.ID
    center_id: strawberry.ID
    center_name: str
    title: str
    description: str
    category: str = strawberry.field(description="One of: " + ", ".join(CATEGORIES))
    category_label: str
    deadline: dt.date | None = strawberry.field(
        description="The last day (Asia/Shanghai) it can be claimed on; null: no deadline."
    )
    overdue: bool = strawberry.field(
        description="OPEN or CLAIMED past its deadline (read-time rule, the state does not "
        "change): no longer claimable; the center withdraws or cancels it, or its claimer "
        "still completes it."
    )
    state: WishState
    state_label: str
    posted_at: datetime
    claimer: WishClaimerNode | None
    claimed_by_me: bool
    claimed_at: datetime | None
    completed_at: datetime | None
    completion_note: str | None
    rating: int | None = strawberry.field(description="The requester's rating, 1 to 5.")
    rating_comment: str | None
    rated_at: datetime | None
    closed_at: datetime | None = strawberry.field(description="When it was withdrawn/cancelled.")
    close_reason: str | None
    pk: strawberry.Private[int]
    path: strawberry.Private[str]
    raw_name: strawberry.Private[str]
    raw_phone: strawberry.Private[str]
    claimer_pk: strawberry.Private[int | None]

    def _unmasked(self, ctx: Context) -> bool:
        """Admins who may read personal data at the center's tenant, and the claimer while it
        serves the wish (it has to reach the requester). An unmasked read is audited."""
        principal = ctx.principal
        claimer = (
            principal is not None
            and self.claimer_pk is not None
            and principal.member_id == self.claimer_pk
            and self.state is WishState.CLAIMED
        )
        if not (claimer or ctx.scope(Resource.MEMBER, Action.READ_SENSITIVE).contains(self.path)):
            return False
        ctx.audit(
            audit.Entry(
                principal=ctx.actor(),
                action="micro_wish.read_sensitive",
                tenant_path=self.path,
                subject=str(self.pk),
                client_address=ctx.client_address,
                detail={"wish": self.pk},
            )
        )
        return True

    @strawberry.field(description="The requester's name; 王某 unless you may see it.")
    def requester_name(self, info: Info[Context, None]) -> str:
        return self.raw_name if self._unmasked(info.context) else masked_name(self.raw_name)

    @strawberry.field(description="The requester's phone; 138****5678 unless you may see it.")
    def requester_phone(self, info: Info[Context, None]) -> str:
        return self.raw_phone if self._unmasked(info.context) else mask_phone(self.raw_phone)


def overdue(state: str, deadline: dt.date | None, today: dt.date) -> bool:
    """A wish still waiting (OPEN) or being served (CLAIMED) after its deadline's day, in the
    district's time zone. Read-time only: nothing moves the wish; it is refused to claimers."""
    return (
        deadline is not None and deadline < today and state in (WishState.OPEN, WishState.CLAIMED)
    )


def _today(ctx: Context) -> dt.date:
    return datetime.now(ctx.timezone).date()


def _may_manage(ctx: Context, path: str) -> bool:
    return ctx.scope(Resource.VOLUNTEER, Action.WRITE).contains(path)


def wish_node(row: AnyRow, ctx: Context) -> MicroWishNode:
    me = ctx.principal.member_id if ctx.principal is not None else None
    claimer = None
    if row.claimer_id is not None:
        full = row.claimer_id == me or _may_manage(ctx, row.c_path)
        claimer = WishClaimerNode(
            member_id=global_id("Member", row.claimer_id),
            name=row.claimer_name if full else masked_name(row.claimer_name),
            branch_name=row.claimer_branch_name,
        )
    return MicroWishNode(
        id=global_id("MicroWish", row.id),
        center_id=global_id("ServiceCenter", row.center_id),
        center_name=row.c_name,
        title=row.title,
        description=row.description,
        category=row.category,
        category_label=CATEGORIES.get(row.category, row.category),
        deadline=row.deadline,
        overdue=overdue(row.state, row.deadline, _today(ctx)),
        state=WishState(row.state),
        state_label=STATE_LABELS[row.state],
        posted_at=row.posted_at,
        claimer=claimer,
        claimed_by_me=me is not None and row.claimer_id == me,
        claimed_at=row.claimed_at,
        completed_at=row.completed_at,
        completion_note=row.completion_note,
        rating=row.rating,
        rating_comment=row.rating_comment,
        rated_at=row.rated_at,
        closed_at=row.closed_at,
        close_reason=row.close_reason,
        pk=row.id,
        path=row.c_path,
        raw_name=row.requester_name,
        raw_phone=row.requester_phone,
        claimer_pk=row.claimer_id,
    )


@strawberry.type(name="VolunteerService", description="A volunteer service (志愿服务).")
class VolunteerServiceNode(Node):
    id: strawberry.ID
    center_id: strawberry.ID
    center_name: str
    title: str
    description: str
    category: str = strawberry.field(description="One of: " + ", ".join(CATEGORIES))
    category_label: str
    place: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    signed_up: int = strawberry.field(description="Places taken.")
    places_left: int
    state: ServiceState
    state_label: str
    signed_up_by_me: bool
    initiated_at: datetime
    completed_at: datetime | None
    completion_note: str | None
    rated_at: datetime | None
    closed_at: datetime | None
    close_reason: str | None


def service_node(row: AnyRow, mine: set[int]) -> VolunteerServiceNode:
    return VolunteerServiceNode(
        id=global_id("VolunteerService", row.id),
        center_id=global_id("ServiceCenter", row.center_id),
        center_name=row.c_name,
        title=row.title,
        description=row.description,
        category=row.category,
        category_label=CATEGORIES.get(row.category, row.category),
        place=row.place,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        capacity=row.capacity,
        signed_up=row.signed_up,
        places_left=max(0, row.capacity - row.signed_up),
        state=ServiceState(row.state),
        state_label=SERVICE_STATE_LABELS[row.state],
        signed_up_by_me=row.id in mine,
        initiated_at=row.initiated_at,
        completed_at=row.completed_at,
        completion_note=row.completion_note,
        rated_at=row.rated_at,
        closed_at=row.closed_at,
        close_reason=row.close_reason,
    )


@strawberry.type(name="VolunteerParticipant", description="A member signed up for a service.")
class VolunteerParticipantNode:
    member_id: strawberry.ID
    name: str
    branch_name: str
    signed_up_at: datetime
    attended: bool | None = strawberry.field(description="Null until the service is completed.")
    rating: int | None
    rating_comment: str | None


@strawberry.type
class ServiceCenterEdge:
    cursor: str
    node: ServiceCenterNode


@strawberry.type
class ServiceCenterConnection:
    edges: list[ServiceCenterEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type
class MicroWishEdge:
    cursor: str
    node: MicroWishNode


@strawberry.type
class MicroWishConnection:
    edges: list[MicroWishEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type
class VolunteerServiceEdge:
    cursor: str
    node: VolunteerServiceNode


@strawberry.type
class VolunteerServiceConnection:
    edges: list[VolunteerServiceEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type
class VolunteerParticipantEdge:
    cursor: str
    node: VolunteerParticipantNode


@strawberry.type
class VolunteerParticipantConnection:
    edges: list[VolunteerParticipantEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type
class StateCount:
    state: str
    label: str
    count: int


@strawberry.type(name="VolunteeringCounts", description="Counts of a subtree or a center.")
class VolunteeringCountsNode:
    party_mass_centers: int
    community_centers: int
    wishes: list[StateCount] = strawberry.field(description="Wishes by state, every state.")
    services: list[StateCount] = strawberry.field(description="Services by state, every state.")
    wishes_completed: int = strawberry.field(
        description="Wishes completed in the period (whatever their state since)."
    )
    services_completed: int = strawberry.field(description="Services completed in the period.")
    volunteers_served: int = strawberry.field(
        description="Attendances in the services completed in the period."
    )


def counts_node(c: Counts) -> VolunteeringCountsNode:
    return VolunteeringCountsNode(
        party_mass_centers=c.centers.get(CenterKind.PARTY_MASS.value, 0),
        community_centers=c.centers.get(CenterKind.COMMUNITY.value, 0),
        wishes=[
            StateCount(state=s, label=STATE_LABELS[s], count=c.wishes.get(s, 0)) for s in WishState
        ],
        services=[
            StateCount(state=s, label=SERVICE_STATE_LABELS[s], count=c.services.get(s, 0))
            for s in ServiceState
        ],
        wishes_completed=c.wishes_completed,
        services_completed=c.services_completed,
        volunteers_served=c.volunteers_served,
    )


@strawberry.type
class CenterCounts:
    center: ServiceCenterNode
    counts: VolunteeringCountsNode


@strawberry.type
class CenterCountsEdge:
    cursor: str
    node: CenterCounts


@strawberry.type
class CenterCountsConnection:
    edges: list[CenterCountsEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many centers, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type(
    name="VolunteeringStats",
    description="Counts of the centers, wishes and services in a subtree, and per center.",
)
class VolunteeringStatsNode:
    total: VolunteeringCountsNode
    scope: strawberry.Private[Scope]
    since: strawberry.Private[datetime | None]
    until: strawberry.Private[datetime | None]

    @strawberry.field(description="The same counts per center of the subtree, in id order.")
    async def per_center(
        self,
        info: Info[Context, None],
        kind: CenterKind | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> CenterCountsConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        rows = await service.list_centers(
            ctx.db,
            scope=self.scope,
            upward=False,
            kind=kind,
            after_id=page.after_id,
            limit=page.fetch,
        )
        shown = rows[: page.first]
        counts = await service.stats(
            ctx.db,
            scope=self.scope,
            since=self.since,
            until=self.until,
            center_ids=[r.id for r in shown],
        )
        edges = [
            CenterCountsEdge(
                cursor=cursor(r.id),
                node=CenterCounts(center=center_node(r, ctx), counts=counts_node(counts[r.id])),
            )
            for r in shown
        ]
        info_ = PageInfo(
            has_next_page=len(rows) > page.first, end_cursor=edges[-1].cursor if edges else None
        )
        scope = self.scope
        return CenterCountsConnection(
            edges=edges,
            page_info=info_,
            counter=lambda: service.count_centers(ctx.db, scope=scope, upward=False, kind=kind),
        )


# -- inputs ------------------------------------------------------------------------------------


@strawberry.input
class ServiceCenterInput:
    tenant_id: strawberry.ID
    kind: CenterKind
    name: str
    address: str
    phone: str


@strawberry.input
class ServiceCenterChanges:
    name: str | None = None
    address: str | None = None
    phone: str | None = None


@strawberry.input
class MicroWishInput:
    center_id: strawberry.ID
    requester_name: str
    requester_phone: str
    title: str
    description: str = ""
    category: str = strawberry.field(description="One of: " + ", ".join(CATEGORIES))
    deadline: dt.date | None = None


@strawberry.input
class VolunteerServiceInput:
    center_id: strawberry.ID
    title: str
    description: str = ""
    category: str = strawberry.field(description="One of: " + ", ".join(CATEGORIES))
    place: str
    starts_at: datetime
    ends_at: datetime
    capacity: int


@strawberry.input
class VolunteerEvaluationInput:
    member_id: strawberry.ID
    rating: int = strawberry.field(description="1 to 5.")
    comment: str = ""


# -- helpers -----------------------------------------------------------------------------------


def _category(value: str) -> str:
    if value not in CATEGORIES:
        raise BadUserInput(f"category must be one of {', '.join(CATEGORIES)}", argument="category")
    return value


def _rating(value: int, argument: str) -> int:
    if not 1 <= value <= 5:
        raise BadUserInput(f"{argument} must be 1 to 5, got {value}", argument=argument)
    return value


def _sees(ctx: Context, path: str) -> bool:
    """Whether the viewer sees things offered at `path`: in its VOLUNTEER read scope, or at a
    tenant above one of its scope's roots."""
    scope = ctx.scope(Resource.VOLUNTEER, Action.READ)
    return scope.contains(path) or any(path in ancestors(root) for root in scope.roots)


def _upward(under: str | None) -> bool:
    # `under` asks for a subtree: what is offered above it is not in it.
    return under is None


def _member(ctx: Context, what: str) -> tuple[int, int]:
    """The viewer's member id and branch id; FORBIDDEN for an account without a member."""
    principal = ctx.require_principal()
    if principal.kind != "user" or principal.member_id is None or principal.branch_id is None:
        raise ctx.denied(what)
    return principal.member_id, principal.branch_id


def _now() -> datetime:
    return datetime.now(UTC)


def _reason(value: str) -> str:
    return service.checked_text(value, "reason", REASON_MAX)


async def _wish_for(conn: Any, ctx: Context, wish_id: int, *, manage: bool, what: str) -> AnyRow:
    """The wish if the viewer may act on it (manage: VOLUNTEER write over its center; else:
    sees it); FORBIDDEN alike for absent and out of reach."""
    row = await service.wish(conn, wish_id)
    if row is None or not (_may_manage(ctx, row.c_path) if manage else _sees(ctx, row.c_path)):
        raise ctx.denied(what, path=None if row is None else row.c_path)
    return row


async def _service_for(
    conn: Any, ctx: Context, service_id: int, *, manage: bool, what: str
) -> AnyRow:
    row = await service.service(conn, service_id)
    if row is None or not (_may_manage(ctx, row.c_path) if manage else _sees(ctx, row.c_path)):
        raise ctx.denied(what, path=None if row is None else row.c_path)
    return row


def _page(rows: Sequence[AnyRow], page: PageArgs) -> tuple[Sequence[AnyRow], PageInfo]:
    shown = rows[: page.first]
    end = cursor(shown[-1].id) if shown else None
    return shown, PageInfo(has_next_page=len(rows) > page.first, end_cursor=end)


def _states(values: list[WishState] | list[ServiceState] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(v.value for v in values)


async def _wish_connection(
    ctx: Context, scope: Scope, upward: bool, where: WishFilter, page: PageArgs
) -> MicroWishConnection:
    rows = await service.list_wishes(
        ctx.db, scope=scope, upward=upward, where=where, after_id=page.after_id, limit=page.fetch
    )
    shown, info = _page(rows, page)
    return MicroWishConnection(
        edges=[MicroWishEdge(cursor=cursor(r.id), node=wish_node(r, ctx)) for r in shown],
        page_info=info,
        counter=lambda: service.count_wishes(ctx.db, scope=scope, upward=upward, where=where),
    )


async def _mine(ctx: Context, rows: Sequence[AnyRow]) -> set[int]:
    me = ctx.principal.member_id if ctx.principal is not None else None
    if me is None:
        return set()
    return await service.signed_up_for(ctx.db, member_id=me, service_ids=[r.id for r in rows])


async def _service_connection(
    ctx: Context, scope: Scope, upward: bool, where: WishFilter, page: PageArgs
) -> VolunteerServiceConnection:
    rows = await service.list_services(
        ctx.db, scope=scope, upward=upward, where=where, after_id=page.after_id, limit=page.fetch
    )
    shown, info = _page(rows, page)
    mine = await _mine(ctx, shown)
    return VolunteerServiceConnection(
        edges=[
            VolunteerServiceEdge(cursor=cursor(r.id), node=service_node(r, mine)) for r in shown
        ],
        page_info=info,
        counter=lambda: service.count_services(ctx.db, scope=scope, upward=upward, where=where),
    )


def _center_filter(center_id: strawberry.ID | None) -> int | None:
    return None if center_id is None else id_of(center_id, "ServiceCenter", "centerId")


async def _wish_back(ctx: Context, wish_id: int) -> MicroWishNode:
    row = await service.wish(ctx.db, wish_id)
    assert row is not None
    return wish_node(row, ctx)


async def _service_back(ctx: Context, service_id: int) -> VolunteerServiceNode:
    row = await service.service(ctx.db, service_id)
    assert row is not None
    return service_node(row, await _mine(ctx, [row]))


def _moment(value: datetime, name: str) -> datetime:
    """`value` in UTC; BAD_USER_INPUT naming `name` without an offset, or out of the calendar
    once shifted to UTC (0001-01-01T00:00+08:00, 9999-12-31T23:00-10:00)."""
    if value.tzinfo is None:
        raise BadUserInput(f"{name} needs a time zone offset", argument=name)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise BadUserInput(f"{name} is out of range", argument=name) from None


def _period(
    since: datetime | None, until: datetime | None
) -> tuple[datetime | None, datetime | None]:
    since = None if since is None else _moment(since, "since")
    until = None if until is None else _moment(until, "until")
    if since is not None and until is not None and until <= since:
        raise BadUserInput("until must lie after since", argument="until")
    return since, until


# -- single objects: Query.serviceCenter / microWish / volunteerService, and Query.node -------


async def load_service_center(ctx: Context, pk: int) -> ServiceCenterNode | None:
    """The center, when the viewer sees it; None otherwise, as for one that does not exist."""
    row = await service.center(ctx.db, pk)
    return None if row is None or not _sees(ctx, row.c_path) else center_node(row, ctx)


async def load_micro_wish(ctx: Context, pk: int) -> MicroWishNode | None:
    """The wish, when the viewer sees its center; None otherwise. The requester's data is
    masked (and an unmasked read audited) by the node's own fields, whoever loads it."""
    row = await service.wish(ctx.db, pk)
    return None if row is None or not _sees(ctx, row.c_path) else wish_node(row, ctx)


async def load_volunteer_service(ctx: Context, pk: int) -> VolunteerServiceNode | None:
    """The service, when the viewer sees its center; None otherwise."""
    row = await service.service(ctx.db, pk)
    if row is None or not _sees(ctx, row.c_path):
        return None
    return service_node(row, await _mine(ctx, [row]))


# -- queries -----------------------------------------------------------------------------------

READ = [allow(Can(Resource.VOLUNTEER, Action.READ))]
WRITE = [allow(Can(Resource.VOLUNTEER, Action.WRITE))]


@strawberry.type
class VolunteeringQuery:
    @strawberry.field(
        description="Service centers you may see, in id order: your subtree and, without "
        "`under`, the centers at the tenants above it. `kind` narrows to one kind.",
        extensions=READ,
    )
    async def service_centers(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        kind: CenterKind | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> ServiceCenterConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = await ctx.scope_under(under, Resource.VOLUNTEER, Action.READ)
        upward = _upward(under)
        rows = await service.list_centers(
            ctx.db,
            scope=scope,
            upward=upward,
            kind=kind,
            after_id=page.after_id,
            limit=page.fetch,
        )
        shown, page_info = _page(rows, page)
        return ServiceCenterConnection(
            edges=[ServiceCenterEdge(cursor=cursor(r.id), node=center_node(r, ctx)) for r in shown],
            page_info=page_info,
            counter=lambda: service.count_centers(ctx.db, scope=scope, upward=upward, kind=kind),
        )

    @strawberry.field(
        description="One service center; null if absent or out of your sight.", extensions=READ
    )
    async def service_center(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> ServiceCenterNode | None:
        return await load_service_center(info.context, id_of(id, "ServiceCenter", "id"))

    @strawberry.field(
        description="Micro-wishes you may see, newest first: your subtree and, without `under`, "
        "the wishes of the centers above it. Filters: `centerId`, `states`.",
        extensions=READ,
    )
    async def micro_wishes(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        center_id: strawberry.ID | None = None,
        states: list[WishState] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> MicroWishConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = await ctx.scope_under(under, Resource.VOLUNTEER, Action.READ)
        where = WishFilter(center_id=_center_filter(center_id), states=_states(states))
        return await _wish_connection(ctx, scope, _upward(under), where, page)

    @strawberry.field(
        description="The wishes you (a member) have claimed, newest first; `states` narrows.",
        extensions=READ,
    )
    async def my_micro_wishes(
        self,
        info: Info[Context, None],
        states: list[WishState] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> MicroWishConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        me, _ = _member(ctx, "list claimed wishes without a member record")
        scope = ctx.scope(Resource.VOLUNTEER, Action.READ)
        where = WishFilter(states=_states(states), claimer_id=me)
        return await _wish_connection(ctx, scope, True, where, page)

    @strawberry.field(
        description="One micro-wish; null if absent or out of your sight.", extensions=READ
    )
    async def micro_wish(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> MicroWishNode | None:
        return await load_micro_wish(info.context, id_of(id, "MicroWish", "id"))

    @strawberry.field(
        description="Volunteer services you may see, newest first: your subtree and, without "
        "`under`, the services of the centers above it. Filters: `centerId`, `states`.",
        extensions=READ,
    )
    async def volunteer_services(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        center_id: strawberry.ID | None = None,
        states: list[ServiceState] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> VolunteerServiceConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = await ctx.scope_under(under, Resource.VOLUNTEER, Action.READ)
        where = WishFilter(center_id=_center_filter(center_id), states=_states(states))
        return await _service_connection(ctx, scope, _upward(under), where, page)

    @strawberry.field(
        description="The services you (a member) signed up for, newest first.", extensions=READ
    )
    async def my_volunteer_services(
        self,
        info: Info[Context, None],
        states: list[ServiceState] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> VolunteerServiceConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        me, _ = _member(ctx, "list volunteer sign-ups without a member record")
        scope = ctx.scope(Resource.VOLUNTEER, Action.READ)
        where = WishFilter(states=_states(states), claimer_id=me)
        return await _service_connection(ctx, scope, True, where, page)

    @strawberry.field(
        description="One volunteer service; null if absent or out of your sight.", extensions=READ
    )
    async def volunteer_service(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> VolunteerServiceNode | None:
        return await load_volunteer_service(info.context, id_of(id, "VolunteerService", "id"))

    @strawberry.field(
        description="Who signed up for a service you manage, in sign-up order, with attendance "
        "and ratings. Null if the service is absent or not yours to manage.",
        extensions=WRITE,
    )
    async def volunteer_participants(
        self,
        info: Info[Context, None],
        service_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
    ) -> VolunteerParticipantConnection | None:
        ctx = info.context
        page = PageArgs.parse(first, after)
        pk = id_of(service_id, "VolunteerService", "serviceId")
        row = await service.service(ctx.db, pk)
        if row is None or not _may_manage(ctx, row.c_path):
            return None
        rows = await service.participants(
            ctx.db, service_id=pk, after_id=page.after_id, limit=page.fetch
        )
        shown, page_info = _page(rows, page)
        return VolunteerParticipantConnection(
            edges=[
                VolunteerParticipantEdge(
                    cursor=cursor(r.id),
                    node=VolunteerParticipantNode(
                        member_id=global_id("Member", r.member_id),
                        name=r.name,
                        branch_name=r.branch_name,
                        signed_up_at=r.signed_up_at,
                        attended=r.attended,
                        rating=r.rating,
                        rating_comment=r.rating_comment,
                    ),
                )
                for r in shown
            ],
            page_info=page_info,
            counter=lambda: service.count_participants(ctx.db, service_id=pk),
        )

    @strawberry.field(
        description="Counts in your subtree (`under` narrows it): centers by kind, wishes and "
        "services by state, completions in [since, until); `perCenter` gives them per center.",
        extensions=READ,
    )
    async def volunteering_stats(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> VolunteeringStatsNode:
        ctx = info.context
        since, until = _period(since, until)
        scope = await ctx.scope_under(under, Resource.VOLUNTEER, Action.READ)
        counts = await service.stats(ctx.db, scope=scope, since=since, until=until)
        return VolunteeringStatsNode(
            total=counts_node(counts[None]), scope=scope, since=since, until=until
        )


# -- mutations ---------------------------------------------------------------------------------


def _center_input(data: ServiceCenterInput | ServiceCenterChanges) -> dict[str, str]:
    values: dict[str, str] = {}
    if data.name is not None:
        values["name"] = service.checked_text(data.name, "name", service.NAME_MAX)
    if data.address is not None:
        values["address"] = service.checked_text(data.address, "address", service.ADDRESS_MAX)
    if data.phone is not None:
        values["phone"] = service.checked_phone(data.phone, "phone")
    return values


def _wish_input(data: MicroWishInput, today: dt.date) -> service.WishInput:
    name = service.checked_text(data.requester_name, "requesterName", service.REQUESTER_MAX)
    phone = service.checked_phone(data.requester_phone, "requesterPhone")
    title = service.checked_text(data.title, "title", service.TITLE_MAX)
    description = service.checked_text(
        data.description, "description", service.TEXT_MAX, empty=True
    )
    if data.deadline is not None and data.deadline < today:
        raise BadUserInput("deadline lies in the past", argument="deadline")
    return service.WishInput(
        requester_name=name,
        requester_phone=phone,
        title=title,
        description=description,
        category=_category(data.category),
        deadline=data.deadline,
    )


def _service_input(data: VolunteerServiceInput, now: datetime) -> service.ServiceInput:
    title = service.checked_text(data.title, "title", service.TITLE_MAX)
    description = service.checked_text(
        data.description, "description", service.TEXT_MAX, empty=True
    )
    place = service.checked_text(data.place, "place", service.ADDRESS_MAX)
    starts_at = _moment(data.starts_at, "startsAt")
    ends_at = _moment(data.ends_at, "endsAt")
    if starts_at < now - PAST_START:
        raise BadUserInput("startsAt lies more than 7 days in the past", argument="startsAt")
    if starts_at > now + FAR_AHEAD:
        raise BadUserInput("startsAt lies more than a year ahead", argument="startsAt")
    if ends_at <= starts_at:
        raise BadUserInput("endsAt must lie after startsAt", argument="endsAt")
    if ends_at <= now:
        # Sign-ups close at the end: a service over already could never have volunteers.
        raise BadUserInput("endsAt has passed: sign-ups close when it ends", argument="endsAt")
    if ends_at - starts_at > FAR_AHEAD:
        raise BadUserInput("endsAt lies more than a year after startsAt", argument="endsAt")
    if not 1 <= data.capacity <= service.CAPACITY_MAX:
        raise BadUserInput(
            f"capacity must be 1 to {service.CAPACITY_MAX}, got {data.capacity}",
            argument="capacity",
        )
    return service.ServiceInput(
        title=title,
        description=description,
        category=_category(data.category),
        place=place,
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=data.capacity,
    )


@strawberry.type
class VolunteeringMutation:
    # -- centers

    @strawberry.mutation(
        description="Open a service center at a town or village of your subtree.", extensions=WRITE
    )
    async def create_service_center(
        self, info: Info[Context, None], input: ServiceCenterInput
    ) -> ServiceCenterNode:
        ctx = info.context
        tenant_id = id_of(input.tenant_id, "Tenant", "tenantId")
        values = _center_input(input)
        now = _now()
        async with ctx.runtime.write() as (conn, _outbox):
            tenant = (
                await conn.execute(
                    select(Tenant.id, Tenant.name, Tenant.level, Tenant.path).where(
                        Tenant.id == tenant_id
                    )
                )
            ).first()
            if tenant is None or not _may_manage(ctx, tenant.path):
                raise ctx.denied(
                    "open service centers there", path=None if tenant is None else tenant.path
                )
            center_id = await service.create_center(
                conn,
                tenant=tenant,
                data=service.CenterInput(kind=input.kind, **values),
                actor=ctx.actor(),
                client=ctx.client_address,
                now=now,
            )
        row = await service.center(ctx.db, center_id)
        assert row is not None
        return center_node(row, ctx)

    @strawberry.mutation(
        description="Change a center's name, address or phone (only the fields given).",
        extensions=WRITE,
    )
    async def update_service_center(
        self, info: Info[Context, None], id: strawberry.ID, input: ServiceCenterChanges
    ) -> ServiceCenterNode:
        ctx = info.context
        pk = id_of(id, "ServiceCenter", "id")
        values = _center_input(input)
        now = _now()
        async with ctx.runtime.write() as (conn, _outbox):
            row = await service.center(conn, pk)
            if row is None or not _may_manage(ctx, row.c_path):
                raise ctx.denied(
                    "change this service center", path=None if row is None else row.c_path
                )
            changes = {k: v for k, v in values.items() if getattr(row, k) != v}
            await service.update_center(
                conn,
                row=row,
                changes=changes,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=now,
            )
        back = await service.center(ctx.db, pk)
        assert back is not None
        return center_node(back, ctx)

    # -- micro-wishes

    @strawberry.mutation(
        description="Post a micro-wish through a center of your subtree, for a person in need "
        "(their name and phone are kept as personal data). It starts OPEN; the feed gets a "
        "BRANCH_ACTIVITY event at the center's tenant (微心愿：<title>, nothing of the requester).",
        extensions=WRITE,
    )
    async def post_micro_wish(
        self, info: Info[Context, None], input: MicroWishInput
    ) -> MicroWishNode:
        ctx = info.context
        center_id = id_of(input.center_id, "ServiceCenter", "centerId")
        data = _wish_input(input, _today(ctx))
        now = _now()
        async with ctx.runtime.write() as (conn, outbox):
            center = await service.center(conn, center_id)
            if center is None or not _may_manage(ctx, center.c_path):
                raise ctx.denied(
                    "post wishes there", path=None if center is None else center.c_path
                )
            wish_id = await service.post_wish(
                conn,
                center=center,
                data=data,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=now,
                outbox=outbox,
            )
        return await _wish_back(ctx, wish_id)

    @strawberry.mutation(
        description="Claim an OPEN wish you can see (a member). Exactly one claimer: of "
        "concurrent claims one wins, the others get BAD_USER_INPUT (state CLAIMED).",
        extensions=READ,
    )
    async def claim_micro_wish(self, info: Info[Context, None], id: strawberry.ID) -> MicroWishNode:
        ctx = info.context
        pk = id_of(id, "MicroWish", "id")
        me, _ = _member(ctx, "claim wishes without a member record")
        now = _now()
        async with ctx.runtime.write() as (conn, _outbox):
            row = await _wish_for(conn, ctx, pk, manage=False, what="claim this wish")
            if row.state == WishState.OPEN and overdue(row.state, row.deadline, _today(ctx)):
                raise BadUserInput(
                    f"this wish's deadline ({row.deadline.isoformat()}) has passed",
                    argument="id",
                    overdue=True,
                )
            await service.claim_wish(
                conn, row=row, member_id=me, actor=ctx.actor(), client=ctx.client_address, now=now
            )
        return await _wish_back(ctx, pk)

    @strawberry.mutation(
        description="Give up a wish you claimed: it is OPEN again for others.", extensions=READ
    )
    async def release_micro_wish(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> MicroWishNode:
        ctx = info.context
        pk = id_of(id, "MicroWish", "id")
        me, _ = _member(ctx, "release wishes without a member record")
        now = _now()
        async with ctx.runtime.write() as (conn, _outbox):
            row = await _wish_for(conn, ctx, pk, manage=False, what="release this wish")
            if row.state == WishState.CLAIMED and row.claimer_id != me:
                raise ctx.denied("release a wish someone else claimed", path=row.c_path)
            await service.release_wish(
                conn, row=row, member_id=me, actor=ctx.actor(), client=ctx.client_address, now=now
            )
        return await _wish_back(ctx, pk)

    @strawberry.mutation(
        description="Complete a wish you claimed, with a note. It is recorded as a "
        "VOLUNTEER_SERVICE activity of your branch (a BRANCH_ACTIVITY feed event).",
        extensions=READ,
    )
    async def complete_micro_wish(
        self, info: Info[Context, None], id: strawberry.ID, note: str
    ) -> MicroWishNode:
        ctx = info.context
        pk = id_of(id, "MicroWish", "id")
        me, branch = _member(ctx, "complete wishes without a member record")
        text = service.checked_text(note, "note", service.TEXT_MAX)
        now = _now()
        async with ctx.runtime.write() as (conn, outbox):
            row = await _wish_for(conn, ctx, pk, manage=False, what="complete this wish")
            if row.state == WishState.CLAIMED and row.claimer_id != me:
                raise ctx.denied("complete a wish someone else claimed", path=row.c_path)
            await service.complete_wish(
                conn,
                row=row,
                member_id=me,
                branch_id=branch,
                note=text,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=now,
                outbox=outbox,
            )
        return await _wish_back(ctx, pk)

    @strawberry.mutation(
        description="Record the requester's rating of a COMPLETED wish (1-5 and a comment): "
        "the requester is not a user, so an admin of the center records it for them.",
        extensions=WRITE,
    )
    async def rate_micro_wish(
        self, info: Info[Context, None], id: strawberry.ID, rating: int, comment: str = ""
    ) -> MicroWishNode:
        ctx = info.context
        pk = id_of(id, "MicroWish", "id")
        score = _rating(rating, "rating")
        text = service.checked_text(comment, "comment", service.TEXT_MAX, empty=True)
        now = _now()
        async with ctx.runtime.write() as (conn, _outbox):
            row = await _wish_for(conn, ctx, pk, manage=True, what="rate this wish")
            await service.rate_wish(
                conn,
                row=row,
                rating=score,
                comment=text,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=now,
            )
        return await _wish_back(ctx, pk)

    @strawberry.mutation(
        description="The requester no longer needs an OPEN or CLAIMED wish: WITHDRAWN.",
        extensions=WRITE,
    )
    async def withdraw_micro_wish(
        self, info: Info[Context, None], id: strawberry.ID, reason: str
    ) -> MicroWishNode:
        return await _close_wish(info.context, id, "withdraw", reason)

    @strawberry.mutation(
        description="The center calls off an OPEN or CLAIMED wish: CANCELLED.", extensions=WRITE
    )
    async def cancel_micro_wish(
        self, info: Info[Context, None], id: strawberry.ID, reason: str
    ) -> MicroWishNode:
        return await _close_wish(info.context, id, "cancel", reason)

    # -- volunteer services

    @strawberry.mutation(
        description="Initiate a volunteer service at a center of your subtree: when, where and "
        "how many volunteers. It starts OPEN for sign-ups; the feed gets a BRANCH_ACTIVITY event "
        "at the center's tenant (志愿服务：<title>).",
        extensions=WRITE,
    )
    async def initiate_volunteer_service(
        self, info: Info[Context, None], input: VolunteerServiceInput
    ) -> VolunteerServiceNode:
        ctx = info.context
        center_id = id_of(input.center_id, "ServiceCenter", "centerId")
        now = _now()
        data = _service_input(input, now)
        async with ctx.runtime.write() as (conn, outbox):
            center = await service.center(conn, center_id)
            if center is None or not _may_manage(ctx, center.c_path):
                raise ctx.denied(
                    "initiate services there", path=None if center is None else center.c_path
                )
            service_id = await service.initiate_service(
                conn,
                center=center,
                data=data,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=now,
                outbox=outbox,
            )
        return await _service_back(ctx, service_id)

    @strawberry.mutation(
        description="Sign up (a member) for an OPEN service you can see, while places are left "
        "and until it ends; the capacity holds under concurrent sign-ups.",
        extensions=READ,
    )
    async def sign_up_for_volunteer_service(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> VolunteerServiceNode:
        ctx = info.context
        pk = id_of(id, "VolunteerService", "id")
        me, _ = _member(ctx, "sign up without a member record")
        now = _now()
        async with ctx.runtime.write() as (conn, _outbox):
            row = await _service_for(conn, ctx, pk, manage=False, what="sign up for this service")
            await service.sign_up(
                conn, row=row, member_id=me, actor=ctx.actor(), client=ctx.client_address, now=now
            )
        return await _service_back(ctx, pk)

    @strawberry.mutation(
        description="Withdraw your sign-up while the service is OPEN, until it ends.",
        extensions=READ,
    )
    async def withdraw_volunteer_signup(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> VolunteerServiceNode:
        ctx = info.context
        pk = id_of(id, "VolunteerService", "id")
        me, _ = _member(ctx, "withdraw sign-ups without a member record")
        now = _now()
        async with ctx.runtime.write() as (conn, _outbox):
            row = await _service_for(conn, ctx, pk, manage=False, what="withdraw from this service")
            await service.withdraw_signup(
                conn, row=row, member_id=me, actor=ctx.actor(), client=ctx.client_address, now=now
            )
        return await _service_back(ctx, pk)

    @strawberry.mutation(
        description="Mark a service done once it has started: every participant served but the "
        "`absent` members. Each branch of the volunteers gets a VOLUNTEER_SERVICE activity "
        "(a BRANCH_ACTIVITY feed event) with how many of its members served.",
        extensions=WRITE,
    )
    async def complete_volunteer_service(
        self,
        info: Info[Context, None],
        id: strawberry.ID,
        absent: list[strawberry.ID] | None = None,
        note: str = "",
    ) -> VolunteerServiceNode:
        ctx = info.context
        pk = id_of(id, "VolunteerService", "id")
        missing = [id_of(m, "Member", "absent") for m in absent or []]
        text = service.checked_text(note, "note", service.TEXT_MAX, empty=True)
        now = _now()
        async with ctx.runtime.write() as (conn, outbox):
            row = await _service_for(conn, ctx, pk, manage=True, what="complete this service")
            await service.complete_service(
                conn,
                row=row,
                absent=missing,
                note=text,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=now,
                outbox=outbox,
            )
        return await _service_back(ctx, pk)

    @strawberry.mutation(
        description="Evaluate the volunteers of a COMPLETED service (1-5 and a comment each): "
        "it becomes RATED. Volunteers left out stay unrated.",
        extensions=WRITE,
    )
    async def rate_volunteer_service(
        self,
        info: Info[Context, None],
        id: strawberry.ID,
        evaluations: list[VolunteerEvaluationInput],
    ) -> VolunteerServiceNode:
        ctx = info.context
        pk = id_of(id, "VolunteerService", "id")
        checked: list[service.Evaluation] = []
        seen: set[int] = set()
        for e in evaluations:
            member = id_of(e.member_id, "Member", "evaluations")
            if member in seen:
                raise BadUserInput(
                    f"evaluations lists member {e.member_id} twice", argument="evaluations"
                )
            seen.add(member)
            checked.append(
                service.Evaluation(
                    member_id=member,
                    rating=_rating(e.rating, "evaluations"),
                    comment=service.checked_text(
                        e.comment, "evaluations", service.TEXT_MAX, empty=True
                    ),
                )
            )
        now = _now()
        async with ctx.runtime.write() as (conn, _outbox):
            row = await _service_for(conn, ctx, pk, manage=True, what="rate this service")
            await service.rate_service(
                conn,
                row=row,
                evaluations=checked,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=now,
            )
        return await _service_back(ctx, pk)

    @strawberry.mutation(description="Call off an OPEN service: CANCELLED.", extensions=WRITE)
    async def cancel_volunteer_service(
        self, info: Info[Context, None], id: strawberry.ID, reason: str
    ) -> VolunteerServiceNode:
        ctx = info.context
        pk = id_of(id, "VolunteerService", "id")
        text = _reason(reason)
        now = _now()
        async with ctx.runtime.write() as (conn, _outbox):
            row = await _service_for(conn, ctx, pk, manage=True, what="cancel this service")
            await service.cancel_service(
                conn, row=row, reason=text, actor=ctx.actor(), client=ctx.client_address, now=now
            )
        return await _service_back(ctx, pk)


async def _close_wish(ctx: Context, id: strawberry.ID, move: str, reason: str) -> MicroWishNode:
    pk = id_of(id, "MicroWish", "id")
    text = _reason(reason)
    now = _now()
    async with ctx.runtime.write() as (conn, _outbox):
        row = await _wish_for(conn, ctx, pk, manage=True, what=f"{move} this wish")
        await service.close_wish(
            conn,
            row=row,
            move_name=move,
            reason=text,
            actor=ctx.actor(),
            client=ctx.client_address,
            now=now,
        )
    return await _wish_back(ctx, pk)
