"""Volunteering: service centers, micro-wishes and volunteer services, read within a Scope and
changed by their state machines (server/volunteering/states.py).

Visibility: a list shows what lies in the viewer's VOLUNTEER scope and, unless narrowed by
`under`, what is offered at the tenants above it (a village member sees its town's centers and
their wishes and services too): `upward`. Counts (`stats`) are of the scope's subtree only.

Writers run in the caller's transaction, audit every change and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from server.activities import service as activities
from server.activities.models import ActivityKind
from server.assessments import ratings
from server.audit import service as audit
from server.branches.models import Branch
from server.db import Db
from server.errors import BadUserInput
from server.feed.events import Event, emit, tenant_info
from server.feed.models import FeedKind
from server.members.models import Member
from server.sql import AnyRow, AnySelect, counted, keyset, memoized, newest_first, page_params
from server.volunteering import states
from server.volunteering.models import (
    CenterKind,
    MicroWish,
    ServiceCenter,
    VolunteerService,
    VolunteerSignup,
)
from server.volunteering.states import SERVICE_MOVES, WISH_MOVES, ServiceState, WishState
from tenants.models import Tenant
from tenants.paths import ancestors
from tenants.scope import Scope

C = ServiceCenter
W = MicroWish
V = VolunteerService
S = VolunteerSignup
WISHES: Table = MicroWish.__table__  # type: ignore[assignment]
SERVICES: Table = VolunteerService.__table__  # type: ignore[assignment]

NAME_MAX, ADDRESS_MAX, PHONE_MAX, TITLE_MAX, TEXT_MAX = 100, 200, 20, 200, 2000
REQUESTER_MAX = 50
CAPACITY_MAX = 1000


# What a wish or a service is about, and the label the interface shows.
CATEGORIES = {
    "DAILY_NEEDS": "生活物资",
    "EDUCATION": "助学圆梦",
    "HEALTH": "医疗健康",
    "ELDERLY_CARE": "关爱老人",
    "CHILDREN": "关爱儿童",
    "HOUSEHOLD": "家政维修",
    "CULTURE": "文体活动",
    "ENVIRONMENT": "环境整治",
    "OTHER": "其他",
}


# -- shared ------------------------------------------------------------------------------------


def _visible(scope: Scope, upward: bool) -> ColumnElement[bool]:
    """The scope's subtree, and with `upward` the tenants above its roots (where centers
    offer to everyone below them)."""
    condition = scope.predicate(Tenant.path)
    if upward and scope.within is None:
        above = sorted({a for root in scope.roots for a in ancestors(root)})
        if above:
            condition = or_(condition, Tenant.path.in_(above))
    return condition


def _entry(
    actor: str, client: str | None, action: str, path: str, subject: int, **detail: Any
) -> audit.Entry:
    return audit.Entry(
        principal=actor,
        action=action,
        tenant_path=path,
        subject=str(subject),
        client_address=client,
        detail=detail,
    )


# -- centers -----------------------------------------------------------------------------------

CENTER_COLUMNS = (
    C.id,
    C.kind,
    C.name,
    C.address,
    C.phone,
    C.tenant_id,
    C.created_at,
    Tenant.path.label("c_path"),
    Tenant.name.label("t_name"),
    Tenant.code.label("t_code"),
)


def _centers(scope: Scope, upward: bool, kind: bool) -> AnySelect:
    stmt = (
        select(*CENTER_COLUMNS)
        .select_from(C)
        .join(Tenant, Tenant.id == C.tenant_id)
        .where(_visible(scope, upward))
    )
    if kind:
        stmt = stmt.where(C.kind == bindparam("kind"))
    return stmt


@memoized
def _center_list(scope: Scope, upward: bool, kind: bool, after: bool, by_ids: bool) -> AnySelect:
    stmt = _centers(scope, upward, kind)
    if by_ids:
        return stmt.where(C.id.in_(bindparam("ids", expanding=True))).order_by(C.id)
    return keyset(stmt, C.id, after=after)


@memoized
def _center_count(scope: Scope, upward: bool, kind: bool) -> AnySelect:
    return counted(_centers(scope, upward, kind))


async def list_centers(
    db: Db | AsyncConnection,
    *,
    scope: Scope,
    upward: bool,
    kind: CenterKind | None = None,
    after_id: int | None = None,
    limit: int,
) -> Sequence[AnyRow]:
    stmt = _center_list(scope, upward, kind is not None, after_id is not None, False)
    params = page_params(after_id, limit, kind=None if kind is None else kind.value)
    return (await db.execute(stmt, params)).all()


async def count_centers(
    db: Db, *, scope: Scope, upward: bool, kind: CenterKind | None = None
) -> int:
    stmt = _center_count(scope, upward, kind is not None)
    return int(await db.scalar(stmt, {"kind": None if kind is None else kind.value}))


async def centers_by_ids(
    db: Db | AsyncConnection, *, scope: Scope, upward: bool, ids: Sequence[int]
) -> Sequence[AnyRow]:
    stmt = _center_list(scope, upward, False, False, True)
    return (await db.execute(stmt, {"ids": list(ids)})).all()


_CENTER = (
    select(*CENTER_COLUMNS).join(Tenant, Tenant.id == C.tenant_id).where(C.id == bindparam("id"))
)


async def center(conn: Db | AsyncConnection, center_id: int) -> AnyRow | None:
    """One center with its tenant, unscoped: the caller decides whether the viewer may see
    it (scope.admits on `c_path`)."""
    return (await conn.execute(_CENTER, {"id": center_id})).first()


@dataclass(frozen=True, slots=True)
class CenterInput:
    kind: CenterKind
    name: str
    address: str
    phone: str


def checked_text(value: str, argument: str, limit: int, *, empty: bool = False) -> str:
    value = value.strip()
    if not empty and not value:
        raise BadUserInput(f"{argument} must not be empty", argument=argument)
    if len(value) > limit:
        raise BadUserInput(f"{argument} must have at most {limit} characters", argument=argument)
    if "\x00" in value:
        # PostgreSQL stores no NUL in text: refused here rather than failing in the database.
        raise BadUserInput(f"{argument} must not contain NUL characters", argument=argument)
    return value


def checked_phone(value: str, argument: str) -> str:
    value = value.strip()
    digits = value.replace("-", "")
    # The column holds PHONE_MAX characters, dashes included.
    valid = digits.isascii() and digits.isdigit() and len(digits) >= 7
    if not (valid and len(value) <= PHONE_MAX):
        raise BadUserInput(
            f"{argument} must be a phone number: at least 7 digits, dashes allowed, "
            f"{PHONE_MAX} characters at most",
            argument=argument,
        )
    return value


async def create_center(
    conn: AsyncConnection,
    *,
    tenant: AnyRow,
    data: CenterInput,
    actor: str,
    client: str | None,
    now: datetime,
) -> int:
    if tenant.level not in ("TOWN", "VILLAGE"):
        raise BadUserInput(
            "a service center sits at a town/street or a village/community", argument="tenantId"
        )
    try:
        center_id: int = (
            await conn.execute(
                insert(C)
                .values(
                    tenant_id=tenant.id,
                    kind=data.kind.value,
                    name=data.name,
                    address=data.address,
                    phone=data.phone,
                    created_at=now,
                )
                .returning(C.id)
            )
        ).scalar_one()
    except IntegrityError:
        raise BadUserInput(
            f"{tenant.name} already has a service center named {data.name}", argument="name"
        ) from None
    await audit.append(
        conn,
        [
            _entry(
                actor,
                client,
                "service_center.create",
                tenant.path,
                center_id,
                kind=data.kind.value,
                name=data.name,
            )
        ],
        now=now,
    )
    return center_id


async def update_center(
    conn: AsyncConnection,
    *,
    row: AnyRow,
    changes: dict[str, Any],
    actor: str,
    client: str | None,
    now: datetime,
) -> None:
    if not changes:
        return
    try:
        await conn.execute(update(C).where(C.id == row.id).values(**changes))
    except IntegrityError:
        raise BadUserInput(
            f"{row.t_name} already has a service center named {changes.get('name')}",
            argument="name",
        ) from None
    before = {k: getattr(row, k) for k in changes}
    await audit.append(
        conn,
        [
            _entry(
                actor,
                client,
                "service_center.update",
                row.c_path,
                row.id,
                before=before,
                after=changes,
            )
        ],
        now=now,
    )


# -- micro-wishes ------------------------------------------------------------------------------

WISH_COLUMNS = (
    W.id,
    W.center_id,
    W.requester_name,
    W.requester_phone,
    W.title,
    W.description,
    W.category,
    W.deadline,
    W.state,
    W.posted_at,
    W.claimer_id,
    W.claimed_at,
    W.completed_at,
    W.completion_note,
    W.activity_id,
    W.rating,
    W.rating_comment,
    W.rated_at,
    W.closed_at,
    W.close_reason,
    C.name.label("c_name"),
    C.kind.label("c_kind"),
    Tenant.path.label("c_path"),
    Member.name.label("claimer_name"),
    Member.branch_id.label("claimer_branch_id"),
    Branch.name.label("claimer_branch_name"),
)


def _wishes(scope: Scope, upward: bool, center: bool, states_: bool, mine: bool) -> AnySelect:
    stmt = (
        select(*WISH_COLUMNS)
        .select_from(W)
        .join(C, C.id == W.center_id)
        .join(Tenant, Tenant.id == C.tenant_id)
        .outerjoin(Member, Member.id == W.claimer_id)
        .outerjoin(Branch, Branch.id == Member.branch_id)
        .where(_visible(scope, upward))
    )
    if center:
        stmt = stmt.where(W.center_id == bindparam("center_id"))
    if states_:
        stmt = stmt.where(W.state.in_(bindparam("states", expanding=True)))
    if mine:
        stmt = stmt.where(W.claimer_id == bindparam("claimer_id"))
    return stmt


@dataclass(frozen=True, slots=True)
class WishFilter:
    center_id: int | None = None
    states: tuple[str, ...] | None = None
    claimer_id: int | None = None

    @property
    def shape(self) -> tuple[bool, bool, bool]:
        return (self.center_id is not None, self.states is not None, self.claimer_id is not None)

    def params(self) -> dict[str, Any]:
        return {
            "center_id": self.center_id,
            "states": None if self.states is None else sorted(set(self.states)),
            "claimer_id": self.claimer_id,
        }


@memoized
def _wish_list(
    scope: Scope, upward: bool, shape: tuple[bool, bool, bool], after: bool, by_ids: bool
) -> AnySelect:
    stmt = _wishes(scope, upward, *shape)
    if by_ids:
        return stmt.where(W.id.in_(bindparam("ids", expanding=True))).order_by(W.id.desc())
    # Newest first: ids grow with posting time and never shift under new posts.
    return newest_first(stmt, W.id, after=after)


@memoized
def _wish_count(scope: Scope, upward: bool, shape: tuple[bool, bool, bool]) -> AnySelect:
    return counted(_wishes(scope, upward, *shape))


async def list_wishes(
    db: Db | AsyncConnection,
    *,
    scope: Scope,
    upward: bool,
    where: WishFilter,
    after_id: int | None = None,
    limit: int,
) -> Sequence[AnyRow]:
    stmt = _wish_list(scope, upward, where.shape, after_id is not None, False)
    return (await db.execute(stmt, page_params(after_id, limit, **where.params()))).all()


async def count_wishes(db: Db, *, scope: Scope, upward: bool, where: WishFilter) -> int:
    return int(await db.scalar(_wish_count(scope, upward, where.shape), where.params()))


async def wishes_by_ids(
    db: Db | AsyncConnection, *, scope: Scope, upward: bool, ids: Sequence[int]
) -> Sequence[AnyRow]:
    stmt = _wish_list(scope, upward, (False, False, False), False, True)
    return (await db.execute(stmt, {"ids": list(ids)})).all()


@memoized
def _wish_one() -> AnySelect:
    return _wishes(Scope.everything(), False, False, False, False).where(W.id == bindparam("id"))


async def wish(conn: Db | AsyncConnection, wish_id: int) -> AnyRow | None:
    """One wish with its center's path, unscoped: the caller checks the scope."""
    return (await conn.execute(_wish_one(), {"id": wish_id})).first()


@dataclass(frozen=True, slots=True)
class WishInput:
    requester_name: str
    requester_phone: str
    title: str
    description: str
    category: str
    deadline: date | None


async def post_wish(
    conn: AsyncConnection,
    *,
    center: AnyRow,
    data: WishInput,
    actor: str,
    client: str | None,
    now: datetime,
    outbox: list[Event],
) -> int:
    """A new OPEN wish, audited, and a BRANCH_ACTIVITY event at the center's tenant so the
    command center sees what is asked for (`微心愿：<title>`, without the requester)."""
    wish_id: int = (
        await conn.execute(
            insert(W)
            .values(
                center_id=center.id,
                requester_name=data.requester_name,
                requester_phone=data.requester_phone,
                title=data.title,
                description=data.description,
                category=data.category,
                deadline=data.deadline,
                state=WishState.OPEN.value,
                posted_by=actor,
                posted_at=now,
            )
            .returning(W.id)
        )
    ).scalar_one()
    # The requester's name and phone stay out of the log: it is read by more people than
    # may read them.
    entry = _entry(
        actor,
        client,
        "micro_wish.post",
        center.c_path,
        wish_id,
        center=center.id,
        category=data.category,
    )
    await audit.append(conn, [entry], now=now)
    outbox.append(
        await _offer_event(
            conn,
            center=center,
            title=f"微心愿：{data.title}",
            now=now,
            data={
                "source": "micro_wish",
                "wish": wish_id,
                "center": center.id,
                "category": data.category,
                "deadline": None if data.deadline is None else data.deadline.isoformat(),
            },
        )
    )
    return wish_id


async def _offer_event(
    conn: AsyncConnection, *, center: AnyRow, title: str, now: datetime, data: dict[str, Any]
) -> Event:
    """A BRANCH_ACTIVITY event at the center's tenant (no branch: the center offers it to
    the branches below) for something newly offered there."""
    tenant = await tenant_info(conn, center.c_path)
    if tenant is None:  # a center's tenant always exists (foreign key)
        raise RuntimeError(f"tenant {center.c_path} is missing")
    return await emit(
        conn,
        kind=FeedKind.BRANCH_ACTIVITY,
        title=title,
        tenant=tenant,
        occurred_at=now,
        data=data,
    )


async def claim_wish(
    conn: AsyncConnection,
    *,
    row: AnyRow,
    member_id: int,
    actor: str,
    client: str | None,
    now: datetime,
) -> None:
    """OPEN → CLAIMED for `member_id`: one conditional UPDATE, so of concurrent claims exactly
    one wins and the others are told the wish is CLAIMED."""
    move = WISH_MOVES["claim"]
    await states.apply(
        conn,
        WISHES,
        move,
        row.id,
        what="wish",
        values={"claimer_id": member_id, "claimed_at": now},
    )
    entry = _entry(actor, client, "micro_wish.claim", row.c_path, row.id, member=member_id)
    await audit.append(conn, [entry], now=now)


async def release_wish(
    conn: AsyncConnection,
    *,
    row: AnyRow,
    member_id: int,
    actor: str,
    client: str | None,
    now: datetime,
) -> None:
    await states.apply(
        conn,
        WISHES,
        WISH_MOVES["release"],
        row.id,
        what="wish",
        guard={"claimer_id": member_id},
        values={"claimer_id": None, "claimed_at": None},
    )
    entry = _entry(actor, client, "micro_wish.release", row.c_path, row.id, member=member_id)
    await audit.append(conn, [entry], now=now)


async def _activity(
    conn: AsyncConnection,
    *,
    branch_id: int,
    title: str,
    attendance: int,
    occurred_at: datetime,
    actor: str,
    client: str | None,
    now: datetime,
    outbox: list[Event],
) -> int:
    """A VOLUNTEER_SERVICE activity of the branch: its row, audit entry and BRANCH_ACTIVITY
    event, and the branch's stars and members' indices refreshed, as recordActivity does."""
    facts = await activities.branch_facts(conn, branch_id)
    if facts is None:  # a member's branch always exists (foreign key)
        raise RuntimeError(f"branch {branch_id} is missing")
    activity_id, event = await activities.record(
        conn,
        facts=facts,
        kind=ActivityKind.VOLUNTEER_SERVICE,
        title=title[: activities.TITLE_MAX],
        occurred_at=occurred_at,
        attendance=attendance,
        actor=actor,
        client=client,
        now=now,
    )
    outbox.append(event)
    outbox.extend(await ratings.after_activity(conn, branch_id, now))
    return activity_id


async def complete_wish(
    conn: AsyncConnection,
    *,
    row: AnyRow,
    member_id: int,
    branch_id: int,
    note: str,
    actor: str,
    client: str | None,
    now: datetime,
    outbox: list[Event],
) -> int:
    """CLAIMED → COMPLETED by its claimer; a VOLUNTEER_SERVICE activity of the claimer's
    branch (a BRANCH_ACTIVITY event). The activity's id."""
    move = WISH_MOVES["complete"]
    await states.apply(
        conn,
        WISHES,
        move,
        row.id,
        what="wish",
        guard={"claimer_id": member_id},
        values={"completed_at": now, "completion_note": note},
    )
    activity_id = await _activity(
        conn,
        branch_id=branch_id,
        title=f"微心愿：{row.title}",
        attendance=1,
        occurred_at=now,
        actor=actor,
        client=client,
        now=now,
        outbox=outbox,
    )
    await conn.execute(update(W).where(W.id == row.id).values(activity_id=activity_id))
    entry = _entry(
        actor,
        client,
        "micro_wish.complete",
        row.c_path,
        row.id,
        member=member_id,
        activity=activity_id,
    )
    await audit.append(conn, [entry], now=now)
    return activity_id


async def rate_wish(
    conn: AsyncConnection,
    *,
    row: AnyRow,
    rating: int,
    comment: str,
    actor: str,
    client: str | None,
    now: datetime,
) -> None:
    await states.apply(
        conn,
        WISHES,
        WISH_MOVES["rate"],
        row.id,
        what="wish",
        values={"rating": rating, "rating_comment": comment, "rated_at": now},
    )
    entry = _entry(
        actor,
        client,
        "micro_wish.rate",
        row.c_path,
        row.id,
        rating=rating,
        member=row.claimer_id,
    )
    await audit.append(conn, [entry], now=now)


async def close_wish(
    conn: AsyncConnection,
    *,
    row: AnyRow,
    move_name: str,
    reason: str,
    actor: str,
    client: str | None,
    now: datetime,
) -> None:
    """withdraw (the requester no longer needs it) or cancel (the center calls it off)."""
    await states.apply(
        conn,
        WISHES,
        WISH_MOVES[move_name],
        row.id,
        what="wish",
        values={"closed_at": now, "close_reason": reason},
    )
    entry = _entry(
        actor,
        client,
        f"micro_wish.{move_name}",
        row.c_path,
        row.id,
        reason=reason,
        claimer=row.claimer_id,
        was=row.state,
    )
    await audit.append(conn, [entry], now=now)


# -- volunteer services ------------------------------------------------------------------------

SERVICE_COLUMNS = (
    V.id,
    V.center_id,
    V.title,
    V.description,
    V.category,
    V.place,
    V.starts_at,
    V.ends_at,
    V.capacity,
    V.signed_up,
    V.state,
    V.initiated_at,
    V.completed_at,
    V.completion_note,
    V.rated_at,
    V.closed_at,
    V.close_reason,
    C.name.label("c_name"),
    C.kind.label("c_kind"),
    Tenant.path.label("c_path"),
)


def _services(scope: Scope, upward: bool, center: bool, states_: bool, mine: bool) -> AnySelect:
    stmt = (
        select(*SERVICE_COLUMNS)
        .select_from(V)
        .join(C, C.id == V.center_id)
        .join(Tenant, Tenant.id == C.tenant_id)
        .where(_visible(scope, upward))
    )
    if center:
        stmt = stmt.where(V.center_id == bindparam("center_id"))
    if states_:
        stmt = stmt.where(V.state.in_(bindparam("states", expanding=True)))
    if mine:
        stmt = stmt.where(
            V.id.in_(select(S.service_id).where(S.member_id == bindparam("claimer_id")))
        )
    return stmt


@memoized
def _service_list(
    scope: Scope, upward: bool, shape: tuple[bool, bool, bool], after: bool, by_ids: bool
) -> AnySelect:
    stmt = _services(scope, upward, *shape)
    if by_ids:
        return stmt.where(V.id.in_(bindparam("ids", expanding=True))).order_by(V.id.desc())
    return newest_first(stmt, V.id, after=after)


@memoized
def _service_count(scope: Scope, upward: bool, shape: tuple[bool, bool, bool]) -> AnySelect:
    return counted(_services(scope, upward, *shape))


async def list_services(
    db: Db | AsyncConnection,
    *,
    scope: Scope,
    upward: bool,
    where: WishFilter,
    after_id: int | None = None,
    limit: int,
) -> Sequence[AnyRow]:
    """Services, newest first; `where.claimer_id`: those the member signed up for."""
    stmt = _service_list(scope, upward, where.shape, after_id is not None, False)
    return (await db.execute(stmt, page_params(after_id, limit, **where.params()))).all()


async def count_services(db: Db, *, scope: Scope, upward: bool, where: WishFilter) -> int:
    return int(await db.scalar(_service_count(scope, upward, where.shape), where.params()))


async def services_by_ids(
    db: Db | AsyncConnection, *, scope: Scope, upward: bool, ids: Sequence[int]
) -> Sequence[AnyRow]:
    stmt = _service_list(scope, upward, (False, False, False), False, True)
    return (await db.execute(stmt, {"ids": list(ids)})).all()


@memoized
def _service_one() -> AnySelect:
    return _services(Scope.everything(), False, False, False, False).where(V.id == bindparam("id"))


async def service(conn: Db | AsyncConnection, service_id: int) -> AnyRow | None:
    return (await conn.execute(_service_one(), {"id": service_id})).first()


_SIGNED = select(S.service_id).where(
    S.member_id == bindparam("member_id"), S.service_id.in_(bindparam("ids", expanding=True))
)


async def signed_up_for(
    db: Db | AsyncConnection, *, member_id: int, service_ids: Sequence[int]
) -> set[int]:
    """Which of the services the member signed up for: one query for a page."""
    if not service_ids:
        return set()
    rows = await db.execute(_SIGNED, {"member_id": member_id, "ids": list(service_ids)})
    return {r.service_id for r in rows}


@dataclass(frozen=True, slots=True)
class ServiceInput:
    title: str
    description: str
    category: str
    place: str
    starts_at: datetime
    ends_at: datetime
    capacity: int


async def initiate_service(
    conn: AsyncConnection,
    *,
    center: AnyRow,
    data: ServiceInput,
    actor: str,
    client: str | None,
    now: datetime,
    outbox: list[Event],
) -> int:
    """A new OPEN service, audited, and a BRANCH_ACTIVITY event at the center's tenant
    (`志愿服务：<title>`)."""
    service_id: int = (
        await conn.execute(
            insert(V)
            .values(
                center_id=center.id,
                title=data.title,
                description=data.description,
                category=data.category,
                place=data.place,
                starts_at=data.starts_at,
                ends_at=data.ends_at,
                capacity=data.capacity,
                signed_up=0,
                state=ServiceState.OPEN.value,
                initiated_by=actor,
                initiated_at=now,
            )
            .returning(V.id)
        )
    ).scalar_one()
    entry = _entry(
        actor,
        client,
        "volunteer_service.initiate",
        center.c_path,
        service_id,
        center=center.id,
        capacity=data.capacity,
        starts_at=data.starts_at.isoformat(),
    )
    await audit.append(conn, [entry], now=now)
    outbox.append(
        await _offer_event(
            conn,
            center=center,
            title=f"志愿服务：{data.title}",
            now=now,
            data={
                "source": "volunteer_service",
                "service": service_id,
                "center": center.id,
                "category": data.category,
                "starts_at": data.starts_at.astimezone(UTC).isoformat(),
                "ends_at": data.ends_at.astimezone(UTC).isoformat(),
                "capacity": data.capacity,
            },
        )
    )
    return service_id


_TAKE_PLACE = (
    update(V)
    .where(
        V.id == bindparam("pk"),
        V.state == ServiceState.OPEN.value,
        V.signed_up < V.capacity,
    )
    .values(signed_up=V.signed_up + 1)
)
_GIVE_PLACE = (
    update(V)
    .where(V.id == bindparam("pk"), V.state == ServiceState.OPEN.value)
    .values(signed_up=V.signed_up - 1)
)


def _not_over(row: AnyRow, now: datetime, what: str) -> None:
    if row.state == ServiceState.OPEN and row.ends_at <= now:
        raise BadUserInput(
            f"this service ended at {row.ends_at.isoformat()}: it can no longer be {what}",
            argument="id",
        )


async def sign_up(
    conn: AsyncConnection,
    *,
    row: AnyRow,
    member_id: int,
    actor: str,
    client: str | None,
    now: datetime,
) -> None:
    """Take one of the service's places: the conditional UPDATE of `signed_up` locks the
    service's row, so concurrent sign-ups never take more places than its capacity. Closed
    once the service has ended: whoever signs up is counted as having served when it is
    completed."""
    _not_over(row, now, "signed up for")
    taken = await conn.execute(_TAKE_PLACE, {"pk": row.id})
    if taken.rowcount != 1:
        now_row = await service(conn, row.id)
        assert now_row is not None
        if now_row.state != ServiceState.OPEN:
            raise BadUserInput(
                f"this service is {now_row.state}: sign-ups are open only while it is OPEN",
                argument="id",
                state=now_row.state,
            )
        mine = await signed_up_for(conn, member_id=member_id, service_ids=[row.id])
        if mine:
            raise BadUserInput("you have already signed up for this service", argument="id")
        raise BadUserInput(
            f"this service is full: all {now_row.capacity} places are taken", argument="id"
        )
    try:
        await conn.execute(
            insert(S).values(service_id=row.id, member_id=member_id, signed_up_at=now)
        )
    except IntegrityError:
        raise BadUserInput("you have already signed up for this service", argument="id") from None
    entry = _entry(actor, client, "volunteer_service.sign_up", row.c_path, row.id, member=member_id)
    await audit.append(conn, [entry], now=now)


async def withdraw_signup(
    conn: AsyncConnection,
    *,
    row: AnyRow,
    member_id: int,
    actor: str,
    client: str | None,
    now: datetime,
) -> None:
    _not_over(row, now, "withdrawn from")
    given = await conn.execute(_GIVE_PLACE, {"pk": row.id})
    if given.rowcount != 1:
        state = await conn.scalar(select(V.state).where(V.id == row.id))
        raise BadUserInput(
            f"this service is {state}: sign-ups can be withdrawn only while it is OPEN",
            argument="id",
            state=state,
        )
    gone = await conn.execute(delete(S).where(S.service_id == row.id, S.member_id == member_id))
    if gone.rowcount != 1:
        raise BadUserInput("you have not signed up for this service", argument="id")
    entry = _entry(
        actor, client, "volunteer_service.withdraw_signup", row.c_path, row.id, member=member_id
    )
    await audit.append(conn, [entry], now=now)


_PARTICIPANTS = (
    select(
        S.id,
        S.member_id,
        S.signed_up_at,
        S.attended,
        S.activity_id,
        S.rating,
        S.rating_comment,
        Member.name,
        Member.branch_id,
        Branch.name.label("branch_name"),
    )
    .join(Member, Member.id == S.member_id)
    .join(Branch, Branch.id == Member.branch_id)
    .where(S.service_id == bindparam("service_id"))
)


async def participants(
    db: Db | AsyncConnection, *, service_id: int, after_id: int | None = None, limit: int | None
) -> Sequence[AnyRow]:
    stmt = _PARTICIPANTS
    if after_id is not None:
        stmt = stmt.where(S.id > bindparam("after_id"))
    stmt = stmt.order_by(S.id)
    if limit is not None:
        stmt = stmt.limit(bindparam("limit"))
    return (await db.execute(stmt, page_params(after_id, limit or 0, service_id=service_id))).all()


async def count_participants(db: Db, *, service_id: int) -> int:
    stmt = select(func.count()).select_from(S).where(S.service_id == service_id)
    return int(await db.scalar(stmt))


async def complete_service(
    conn: AsyncConnection,
    *,
    row: AnyRow,
    absent: Sequence[int],
    note: str,
    actor: str,
    client: str | None,
    now: datetime,
    outbox: list[Event],
) -> list[int]:
    """OPEN → COMPLETED: every participant attended but the `absent` members; one
    VOLUNTEER_SERVICE activity per branch of the attendees (attendance: how many of its
    members served). The activities' ids."""
    if row.starts_at > now:
        raise BadUserInput(
            "the service has not started yet: complete it once it has taken place", argument="id"
        )
    await states.apply(
        conn,
        SERVICES,
        SERVICE_MOVES["complete"],
        row.id,
        what="service",
        values={"completed_at": now, "completion_note": note},
    )
    people = await participants(conn, service_id=row.id, limit=None)
    signed = {p.member_id for p in people}
    unknown = sorted(set(absent) - signed)
    if unknown:
        raise BadUserInput(
            f"absent lists members who did not sign up: {unknown}", argument="absent"
        )
    attendees = [p for p in people if p.member_id not in set(absent)]
    per_branch: dict[int, list[int]] = {}
    for p in attendees:
        per_branch.setdefault(p.branch_id, []).append(p.id)
    activity_ids: list[int] = []
    for branch_id, signup_ids in sorted(per_branch.items()):
        activity_id = await _activity(
            conn,
            branch_id=branch_id,
            title=f"志愿服务：{row.title}",
            attendance=len(signup_ids),
            occurred_at=min(row.starts_at, now),
            actor=actor,
            client=client,
            now=now,
            outbox=outbox,
        )
        activity_ids.append(activity_id)
        await conn.execute(
            update(S).where(S.id.in_(signup_ids)).values(attended=True, activity_id=activity_id)
        )
    if absent:
        await conn.execute(
            update(S)
            .where(S.service_id == row.id, S.member_id.in_(list(absent)))
            .values(attended=False)
        )
    entry = _entry(
        actor,
        client,
        "volunteer_service.complete",
        row.c_path,
        row.id,
        attended=len(attendees),
        absent=sorted(set(absent)),
        activities=activity_ids,
    )
    await audit.append(conn, [entry], now=now)
    return activity_ids


_RATE_SIGNUP = (
    update(S)
    .where(S.id == bindparam("sid"))
    .values(rating=bindparam("r"), rating_comment=bindparam("c"))
)


@dataclass(frozen=True, slots=True)
class Evaluation:
    member_id: int
    rating: int
    comment: str


async def rate_service(
    conn: AsyncConnection,
    *,
    row: AnyRow,
    evaluations: Sequence[Evaluation],
    actor: str,
    client: str | None,
    now: datetime,
) -> None:
    """COMPLETED → RATED: each attendee evaluated (1-5 and a comment); attendees left out stay
    unrated."""
    await states.apply(
        conn, SERVICES, SERVICE_MOVES["rate"], row.id, what="service", values={"rated_at": now}
    )
    people = {p.member_id: p for p in await participants(conn, service_id=row.id, limit=None)}
    rows: list[dict[str, Any]] = []
    for i, e in enumerate(evaluations):
        person = people.get(e.member_id)
        if person is None or not person.attended:
            raise BadUserInput(
                f"evaluations[{i}]: member {e.member_id} did not serve in this service",
                argument="evaluations",
                index=i,
            )
        rows.append({"sid": person.id, "r": e.rating, "c": e.comment})
    if rows:  # one executemany, not a statement per volunteer
        await conn.execute(_RATE_SIGNUP, rows)
    entry = _entry(
        actor,
        client,
        "volunteer_service.rate",
        row.c_path,
        row.id,
        ratings={str(e.member_id): e.rating for e in evaluations},
    )
    await audit.append(conn, [entry], now=now)


async def cancel_service(
    conn: AsyncConnection,
    *,
    row: AnyRow,
    reason: str,
    actor: str,
    client: str | None,
    now: datetime,
) -> None:
    await states.apply(
        conn,
        SERVICES,
        SERVICE_MOVES["cancel"],
        row.id,
        what="service",
        values={"closed_at": now, "close_reason": reason},
    )
    entry = _entry(
        actor,
        client,
        "volunteer_service.cancel",
        row.c_path,
        row.id,
        reason=reason,
        signed_up=row.signed_up,
    )
    await audit.append(conn, [entry], now=now)


# -- counts ------------------------------------------------------------------------------------


@dataclass
class Counts:
    centers: dict[str, int] = field(default_factory=dict)
    wishes: dict[str, int] = field(default_factory=dict)
    services: dict[str, int] = field(default_factory=dict)
    wishes_completed: int = 0
    services_completed: int = 0
    volunteers_served: int = 0


def _in_period(column: Any, since: bool, until: bool) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [column.is_not(None)]
    if since:
        conditions.append(column >= bindparam("since"))
    if until:
        conditions.append(column < bindparam("until"))
    return conditions


@memoized
def _stats_statements(
    scope: Scope, per_center: bool, since: bool, until: bool
) -> tuple[AnySelect, AnySelect, AnySelect, AnySelect]:
    """(centers by kind, wishes by state, services by state, completions in the period), each
    grouped by center too when `per_center` (then only for :center_ids)."""
    where = scope.predicate(Tenant.path)
    key = [C.id.label("center_id")] if per_center else []

    def grouped(stmt: AnySelect, *by: Any) -> AnySelect:
        stmt = stmt.join(Tenant, Tenant.id == C.tenant_id).where(where)
        if per_center:
            stmt = stmt.where(C.id.in_(bindparam("center_ids", expanding=True)))
        return stmt.group_by(*key, *by)

    centers = grouped(select(*key, C.kind, func.count()).select_from(C), C.kind)
    wishes = grouped(
        select(*key, W.state, func.count()).select_from(W).join(C, C.id == W.center_id), W.state
    )
    services = grouped(
        select(*key, V.state, func.count()).select_from(V).join(C, C.id == V.center_id), V.state
    )
    wish_done = func.sum(case((and_(*_in_period(W.completed_at, since, until)), 1), else_=0)).label(
        "wishes"
    )
    completions = grouped(select(*key, wish_done).select_from(W).join(C, C.id == W.center_id))
    return centers, wishes, services, completions


@memoized
def _service_completions(scope: Scope, per_center: bool, since: bool, until: bool) -> AnySelect:
    """Services completed in the period and the volunteers who served in them."""
    key = [C.id.label("center_id")] if per_center else []
    served = (
        select(S.service_id, func.count().label("served"))
        .where(S.attended.is_(True))
        .group_by(S.service_id)
        .subquery()
    )
    stmt = (
        select(*key, func.count().label("services"), func.coalesce(func.sum(served.c.served), 0))
        .select_from(V)
        .join(C, C.id == V.center_id)
        .join(Tenant, Tenant.id == C.tenant_id)
        .outerjoin(served, served.c.service_id == V.id)
        .where(scope.predicate(Tenant.path), *_in_period(V.completed_at, since, until))
    )
    if per_center:
        stmt = stmt.where(C.id.in_(bindparam("center_ids", expanding=True))).group_by(*key)
    return stmt


async def stats(
    db: Db,
    *,
    scope: Scope,
    since: datetime | None,
    until: datetime | None,
    center_ids: Sequence[int] | None = None,
) -> dict[int | None, Counts]:
    """Counts in the scope's subtree (key None), or per center of `center_ids` (keyed by
    center id). Completions: wishes and services completed in [since, until)."""
    per_center = center_ids is not None
    params: dict[str, Any] = {"since": since, "until": until}
    if per_center:
        params["center_ids"] = list(center_ids or ())
    shape = (scope, per_center, since is not None, until is not None)
    out: dict[int | None, Counts] = {}
    if per_center:
        for cid in center_ids or ():
            out[cid] = Counts()
    else:
        out[None] = Counts()
    if per_center and not center_ids:
        return out
    centers, wishes, services, completions = _stats_statements(*shape)

    def slot(row: AnyRow) -> Counts:
        return out[row[0] if per_center else None]

    rest = 1 if per_center else 0
    for row in await db.execute(centers, params):
        slot(row).centers[row[rest]] = row[rest + 1]
    for row in await db.execute(wishes, params):
        slot(row).wishes[row[rest]] = row[rest + 1]
    for row in await db.execute(services, params):
        slot(row).services[row[rest]] = row[rest + 1]
    for row in await db.execute(completions, params):
        slot(row).wishes_completed = int(row[rest] or 0)
    for row in await db.execute(_service_completions(*shape), params):
        counts = slot(row)
        counts.services_completed = int(row[rest] or 0)
        counts.volunteers_served = int(row[rest + 1] or 0)
    return out
