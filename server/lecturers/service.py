"""Red lecturers and their bookings: reads within a Scope, and writes that run in the caller's
transaction and never commit (live classes: server/lecturers/sessions.py).

Visibility ("their subtree and above"): a lecturer or a live class belongs to a tenant; a
reader sees those of the tenants in its LECTURER read scope and of every tenant above them (a
district lecturer serves the whole district, a town's live class is open to its villages).
Bookings are seen where they are for (the booking's tenant in the read scope), and by the
lecturer they are addressed to (its linked account).

No double booking: see server/lecturers/models.py (LecturerSlotHold).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    bindparam,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter

from server.activities.service import branch_facts
from server.audit import service as audit
from server.auth.models import User
from server.branches.models import Branch
from server.branches.service import TENANT_COLUMNS
from server.db import Db
from server.errors import BadUserInput
from server.feed.events import Event, emit, tenant_facts
from server.feed.models import FeedKind
from server.lecturers.models import (
    BookingStatus,
    Lecturer,
    LecturerBooking,
    LecturerSlotHold,
    LiveAnswer,
    LiveAttendance,
    LiveClass,
    LiveQuestion,
    Slot,
)
from server.members.models import Member
from server.sql import (
    AnyRow,
    AnySelect,
    counted,
    keyset,
    like_pattern,
    memoized,
    newest_first,
    page_params,
)
from tenants.models import Tenant
from tenants.paths import ancestors
from tenants.scope import Scope

L, B, H, C = Lecturer, LecturerBooking, LecturerSlotHold, LiveClass
A, Q, ANS = LiveAttendance, LiveQuestion, LiveAnswer
Db_ = Db | AsyncConnection

NAME_MAX, TITLE_MAX, TOPIC_MAX, BIO_MAX, NOTE_MAX, ACCOUNT_MAX = 50, 100, 200, 2000, 500, 64
TOPICS_MAX = 10
BOOK_AHEAD = timedelta(days=366)
SLOT_LABELS = {Slot.MORNING: "上午", Slot.AFTERNOON: "下午", Slot.EVENING: "晚上"}


def visible(scope: Scope, path: Any) -> ColumnElement[bool]:
    """The reader's scope, and every tenant above its roots: what is published higher up
    serves those below."""
    above = sorted({a for root in scope.roots for a in ancestors(root)} - set(scope.roots))
    inside = scope.predicate(path)
    return or_(inside, path.in_(above)) if above else inside


def checked_text(value: str, argument: str, most: int, *, least: int = 1) -> str:
    value = value.strip()
    if not least <= len(value) <= most:
        raise BadUserInput(f"{argument} must have {least} to {most} characters", argument=argument)
    return value


# -- places -------------------------------------------------------------------------------------

_TENANT = select(
    Tenant.id, Tenant.parent_id, Tenant.level, Tenant.code, Tenant.name, Tenant.path
).where(Tenant.id == bindparam("id"))
_BRANCH = select(Branch.id, Branch.name, Branch.tenant_id, Tenant.path).join(
    Tenant, Tenant.id == Branch.tenant_id
)
_MEMBER_PATH = (
    select(Tenant.path)
    .join(Branch, Branch.tenant_id == Tenant.id)
    .join(Member, Member.branch_id == Branch.id)
    .where(Member.id == bindparam("id"))
)


async def tenant_path(db: Db_, tenant_id: int) -> str | None:
    row = (await db.execute(_TENANT, {"id": tenant_id})).first()
    return None if row is None else str(row.path)


async def branch_place(db: Db_, branch_id: int) -> AnyRow | None:
    return (
        await db.execute(_BRANCH.where(Branch.id == bindparam("id")), {"id": branch_id})
    ).first()


async def member_path(db: Db_, member_id: int) -> str | None:
    path = await db.scalar(_MEMBER_PATH, {"id": member_id})
    return None if path is None else str(path)


# -- lecturers ----------------------------------------------------------------------------------

LECTURER_COLUMNS = (
    L.id,
    L.tenant_id.label("t_id"),
    L.name,
    L.title,
    L.affiliation,
    L.topics,
    L.bio,
    L.account,
    L.active,
    L.created_at,
    L.updated_at,
    *TENANT_COLUMNS,
)


def _lecturers_scoped(scope: Scope | None, search: bool, active: bool) -> AnySelect:
    stmt = select(*LECTURER_COLUMNS).join(Tenant, Tenant.id == L.tenant_id)
    if scope is not None:
        stmt = stmt.where(visible(scope, Tenant.path))
    if search:
        pattern: BindParameter[str] = bindparam("search")
        stmt = stmt.where(
            or_(
                *(
                    column.like(pattern, escape="\\")
                    for column in (L.name, L.title, L.affiliation, L.topics)
                )
            )
        )
    if active:
        stmt = stmt.where(L.active == bindparam("active"))
    return stmt


@memoized
def _lecturers(
    scope: Scope | None, search: bool, active: bool, after: bool, by_ids: bool
) -> AnySelect:
    stmt = _lecturers_scoped(scope, search, active)
    if by_ids:
        return stmt.where(L.id.in_(bindparam("ids", expanding=True))).order_by(L.id)
    return keyset(stmt, L.id, after=after)


@memoized
def _lecturers_count(scope: Scope, search: bool, active: bool) -> AnySelect:
    return counted(_lecturers_scoped(scope, search, active))


def _lecturer_filters(search: str | None, active: bool | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if search:
        params["search"] = like_pattern(search)
    if active is not None:
        params["active"] = active
    return params


async def list_lecturers(
    db: Db_,
    *,
    scope: Scope,
    search: str | None = None,
    active: bool | None = None,
    after_id: int | None = None,
    limit: int,
) -> Sequence[AnyRow]:
    stmt = _lecturers(scope, bool(search), active is not None, after_id is not None, False)
    params = page_params(after_id, limit, **_lecturer_filters(search, active))
    return (await db.execute(stmt, params)).all()


async def count_lecturers(
    db: Db_, *, scope: Scope, search: str | None = None, active: bool | None = None
) -> int:
    stmt = _lecturers_count(scope, bool(search), active is not None)
    return int(await db.scalar(stmt, _lecturer_filters(search, active)))


async def lecturers_by_ids(db: Db_, *, scope: Scope | None, ids: Sequence[int]) -> list[AnyRow]:
    """Lecturers by id; `scope` None: whoever may see what refers to them (a booking, a
    live class) sees them."""
    if not ids:
        return []
    stmt = _lecturers(scope, False, False, False, True)
    return list((await db.execute(stmt, {"ids": sorted(set(ids))})).all())


@dataclass(frozen=True, slots=True)
class LecturerFields:
    name: str
    title: str
    affiliation: str
    topics: list[str]
    bio: str
    account: str | None
    active: bool


def checked_lecturer(
    *,
    name: str,
    title: str,
    affiliation: str,
    topics: Sequence[str],
    bio: str,
    account: str | None,
    active: bool,
) -> LecturerFields:
    """The fields, trimmed, or BAD_USER_INPUT naming the one at fault."""
    cleaned = [t.strip() for t in topics]
    if not 1 <= len(cleaned) <= TOPICS_MAX or any(not 1 <= len(t) <= 30 for t in cleaned):
        raise BadUserInput(
            f"topics must list 1 to {TOPICS_MAX} topics of 1 to 30 characters each",
            argument="topics",
        )
    if len(set(cleaned)) != len(cleaned):
        raise BadUserInput("topics lists a topic twice", argument="topics")
    account = None if account is None or not account.strip() else account.strip()
    if account is not None and len(account) > ACCOUNT_MAX:
        raise BadUserInput(
            f"account must have at most {ACCOUNT_MAX} characters", argument="account"
        )
    return LecturerFields(
        name=checked_text(name, "name", NAME_MAX),
        title=checked_text(title, "title", TITLE_MAX),
        affiliation=checked_text(affiliation, "affiliation", TITLE_MAX),
        topics=cleaned,
        bio=checked_text(bio, "bio", BIO_MAX, least=0),
        account=account,
        active=active,
    )


def _account_taken(account: str | None) -> BadUserInput:
    return BadUserInput(
        f"the account {account!r} is linked to another lecturer", argument="account"
    )


async def _check_account(conn: AsyncConnection, account: str | None, lecturer_id: int) -> None:
    if account is None:
        return
    if await conn.scalar(select(User.id).where(User.username == account)) is None:
        raise BadUserInput(f"there is no account {account!r}", argument="account")
    taken = await conn.scalar(select(L.id).where(L.account == account, L.id != lecturer_id))
    if taken is not None:
        raise _account_taken(account)


def _row_values(fields: LecturerFields) -> dict[str, Any]:
    return {
        "name": fields.name,
        "title": fields.title,
        "affiliation": fields.affiliation,
        "topics": json.dumps(fields.topics, ensure_ascii=False),
        "bio": fields.bio,
        "account": fields.account,
        "active": fields.active,
    }


async def register_lecturer(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    path: str,
    fields: LecturerFields,
    actor: str,
    client: str | None,
    now: datetime,
) -> int:
    await _check_account(conn, fields.account, 0)
    try:
        lecturer_id: int = (
            await conn.execute(
                insert(L)
                .values(tenant_id=tenant_id, created_at=now, updated_at=now, **_row_values(fields))
                .returning(L.id)
            )
        ).scalar_one()
    except IntegrityError:
        # A concurrent request linked the account between the check and the insert (the
        # unique index decides); the refusal rolls the spoilt transaction back.
        raise _account_taken(fields.account) from None
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="lecturer.register",
                tenant_path=path,
                subject=str(lecturer_id),
                client_address=client,
                detail={"name": fields.name, "account": fields.account},
            )
        ],
        now=now,
    )
    return lecturer_id


async def update_lecturer(
    conn: AsyncConnection,
    *,
    lecturer_id: int,
    path: str,
    fields: LecturerFields,
    actor: str,
    client: str | None,
    now: datetime,
    given: frozenset[str] | None = None,
) -> None:
    """Store the `given` fields (all when None): the others keep what is stored now, not what
    the caller read, so two edits of different fields at once both stay."""
    if given is None or "account" in given:
        await _check_account(conn, fields.account, lecturer_id)
    values = {k: v for k, v in _row_values(fields).items() if given is None or k in given}
    try:
        await conn.execute(update(L).where(L.id == lecturer_id).values(updated_at=now, **values))
    except IntegrityError:
        raise _account_taken(fields.account) from None  # as in register_lecturer
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="lecturer.update",
                tenant_path=path,
                subject=str(lecturer_id),
                client_address=client,
                detail={"fields": {k: v for k, v in values.items() if k != "bio"}},
            )
        ],
        now=now,
    )


# -- bookings -----------------------------------------------------------------------------------

BOOKING_COLUMNS = (
    B.id,
    B.lecturer_id,
    B.tenant_id.label("t_id"),
    B.branch_id,
    Branch.name.label("branch_name"),
    B.topic,
    B.day,
    B.slot,
    B.status,
    B.booked_by,
    B.created_at,
    B.note,
    B.decided_by,
    B.decided_at,
    *TENANT_COLUMNS,
)


def _bookings_scoped(
    scope: Scope | None, account: bool, lecturer: bool, statuses: bool
) -> AnySelect:
    stmt = (
        select(*BOOKING_COLUMNS)
        .join(Tenant, Tenant.id == B.tenant_id)
        .outerjoin(Branch, Branch.id == B.branch_id)
    )
    if scope is not None:
        stmt = stmt.where(scope.predicate(Tenant.path))
    if account:
        stmt = stmt.where(B.lecturer_id.in_(select(L.id).where(L.account == bindparam("account"))))
    if lecturer:
        stmt = stmt.where(B.lecturer_id == bindparam("lecturer_id"))
    if statuses:
        stmt = stmt.where(B.status.in_(bindparam("statuses", expanding=True)))
    return stmt


@memoized
def _bookings(
    scope: Scope | None, account: bool, lecturer: bool, statuses: bool, after: bool, by_ids: bool
) -> AnySelect:
    stmt = _bookings_scoped(scope, account, lecturer, statuses)
    if by_ids:
        return stmt.where(B.id.in_(bindparam("ids", expanding=True))).order_by(B.id)
    # Newest first: what an admin or a lecturer acts on next.
    return newest_first(stmt, B.id, after=after)


@memoized
def _bookings_count(
    scope: Scope | None, account: bool, lecturer: bool, statuses: bool
) -> AnySelect:
    return counted(_bookings_scoped(scope, account, lecturer, statuses))


@dataclass(frozen=True, slots=True)
class BookingFilter:
    scope: Scope | None  # None: by account only
    account: str | None = None
    lecturer_id: int | None = None
    statuses: tuple[BookingStatus, ...] | None = None

    def shape(self) -> tuple[Scope | None, bool, bool, bool]:
        return (
            self.scope,
            self.account is not None,
            self.lecturer_id is not None,
            self.statuses is not None,
        )

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.account is not None:
            params["account"] = self.account
        if self.lecturer_id is not None:
            params["lecturer_id"] = self.lecturer_id
        if self.statuses is not None:
            params["statuses"] = sorted(s.value for s in self.statuses)
        return params


async def list_bookings(
    db: Db_, *, where: BookingFilter, after_id: int | None, limit: int
) -> Sequence[AnyRow]:
    stmt = _bookings(*where.shape(), after_id is not None, False)
    return (await db.execute(stmt, page_params(after_id, limit, **where.params()))).all()


async def count_bookings(db: Db_, *, where: BookingFilter) -> int:
    return int(await db.scalar(_bookings_count(*where.shape()), where.params()))


async def bookings_by_ids(db: Db_, *, ids: Sequence[int]) -> list[AnyRow]:
    stmt = _bookings(None, False, False, False, False, True)
    return list((await db.execute(stmt, {"ids": list(ids)})).all())


def checked_day(day: date, today: date) -> date:
    if day < today:
        raise BadUserInput("date lies in the past", argument="date")
    if day > today + BOOK_AHEAD:
        raise BadUserInput("date lies more than a year ahead", argument="date")
    return day


async def book(
    conn: AsyncConnection,
    *,
    lecturer: AnyRow,
    tenant_id: int,
    path: str,
    branch_id: int | None,
    topic: str,
    day: date,
    slot: Slot,
    actor: str,
    client: str | None,
    now: datetime,
) -> int:
    """A REQUESTED booking holding the lecturer's slot; BAD_USER_INPUT naming `slot` when a
    booking already holds it (decided by the unique index, also under concurrent requests)."""
    booking_id: int = (
        await conn.execute(
            insert(B)
            .values(
                lecturer_id=lecturer.id,
                tenant_id=tenant_id,
                branch_id=branch_id,
                topic=topic,
                day=day,
                slot=slot,
                status=BookingStatus.REQUESTED,
                booked_by=actor,
                created_at=now,
            )
            .returning(B.id)
        )
    ).scalar_one()
    try:
        await conn.execute(
            insert(H).values(lecturer_id=lecturer.id, day=day, slot=slot, booking_id=booking_id)
        )
    except IntegrityError:
        # The transaction is spoilt on PostgreSQL: raising ends it with a rollback.
        raise BadUserInput(
            f"{lecturer.name} is already booked on {day.isoformat()} "
            f"{SLOT_LABELS[slot]} ({slot.value}): choose another slot",
            argument="slot",
            conflict=True,
        ) from None
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="lecturer_booking.book",
                tenant_path=path,
                subject=str(booking_id),
                client_address=client,
                detail={
                    "lecturer": lecturer.id,
                    "date": day.isoformat(),
                    "slot": slot.value,
                    "branch": branch_id,
                },
            )
        ],
        now=now,
    )
    return booking_id


_MOVES = {
    "accept": ((BookingStatus.REQUESTED,), BookingStatus.ACCEPTED),
    "decline": ((BookingStatus.REQUESTED,), BookingStatus.DECLINED),
    "cancel": ((BookingStatus.REQUESTED, BookingStatus.ACCEPTED), BookingStatus.CANCELLED),
}


async def move_booking(
    conn: AsyncConnection,
    *,
    booking: AnyRow,
    move: str,
    note: str | None,
    actor: str,
    client: str | None,
    now: datetime,
) -> list[Event]:
    """accept | decline | cancel; a declined or cancelled booking frees its slot. The status
    changes only from where it was read (a concurrent move loses with BAD_USER_INPUT). The
    feed events for the caller's outbox: an accepted booking is a BRANCH_ACTIVITY at the
    booking's tenant (and branch, if it is for one)."""
    sources, target = _MOVES[move]
    if booking.status not in sources:
        raise BadUserInput(
            f"a {booking.status} booking cannot be {target.value.lower()}", argument="id"
        )
    done = await conn.execute(
        update(B)
        .where(B.id == booking.id, B.status == booking.status)
        .values(status=target, note=note, decided_by=actor, decided_at=now)
    )
    if done.rowcount != 1:
        raise BadUserInput("the booking changed meanwhile: read it again", argument="id")
    if target in (BookingStatus.DECLINED, BookingStatus.CANCELLED):
        await conn.execute(delete(H).where(H.booking_id == booking.id))
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action=f"lecturer_booking.{move}",
                tenant_path=booking.t_path,
                subject=str(booking.id),
                client_address=client,
                detail={"lecturer": booking.lecturer_id, "note": note},
            )
        ],
        now=now,
    )
    if target is not BookingStatus.ACCEPTED:
        return []
    return [await _accepted_event(conn, booking, now)]


async def _accepted_event(conn: AsyncConnection, booking: AnyRow, now: datetime) -> Event:
    lecturer = await conn.scalar(select(L.name).where(L.id == booking.lecturer_id))
    branch = None
    if booking.branch_id is not None:
        facts = await branch_facts(conn, booking.branch_id)
        branch = None if facts is None else facts.branch
    return await emit(
        conn,
        kind=FeedKind.BRANCH_ACTIVITY,
        title=f"红色讲师预约：{lecturer} · {booking.topic}",
        tenant=tenant_facts(booking),
        branch=branch,
        occurred_at=now,
        data={
            "source": "lecturer_booking",
            "booking": booking.id,
            "lecturer": booking.lecturer_id,
            "date": booking.day.isoformat(),
            "slot": str(booking.slot),
        },
    )
