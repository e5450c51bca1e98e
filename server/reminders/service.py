"""Member reminders: computing them (the scheduler's pass, one function per cause), reading
them within a Scope, and the records they are computed from (the dues ledger, travel
declarations and travel records).

One reminder per cause: `reminders` is unique on (cause, cause_key), and each cause inserts
only the keys it does not find yet, set-based (INSERT ... SELECT), with ON CONFLICT DO NOTHING
for a concurrent pass (PostgreSQL and SQLite both have it). A pass that runs twice, or in two
processes, creates each reminder once; a repeated pass is a few index lookups.

The causes (`today` is the date in the district's time zone):

- `dues_overdue` (YELLOW): a month of the ledger still unpaid after its end plus GRACE
  (15 days), one reminder per member and month. The feed gets one WARNING event per tenant
  of the members' branches and pass ("<village> · 党费逾期提醒：N 名党员"), not one per member:
  hundreds of members a month would bury every other event of the command center. Each
  reminder row points at the event that announced it.
- `travel_undeclared` (RED): a travel record that no APPROVED declaration of the member
  covers (declared departure on or before the recorded one, declared return on or after the
  recorded return, or on or after today for a trip still under way). Rare and serious: a reminder
  row and an open alert with its WARNING event per case; the title names the member by
  surname only (王某).
- `political_birthday` (GREEN): members whose joining anniversary is today (joined on Feb 29:
  greeted on Feb 28 in other years), keyed by member and year; one greeting per tenant (a
  WARNING event with the GREEN light: the feed's kinds are fixed by the partners' contract).
- `venue_booking` (GREEN): a CONFIRMED venue booking starting within VENUE_NOTICE (a day),
  keyed by booking, for the account that booked it (and its member, if it is one); no feed
  event (the booking had its own); times in the district's time zone. A booking cancelled
  before the pass is not reminded; one cancelled after its reminder has the reminder rewritten
  to say so (`venue_booking_cancelled`, in the cancellation's transaction). The pass takes the
  writers' turn before it reads the bookings due, as a cancellation does before it rewrites:
  a cancellation racing the pass is either seen by it or sees its reminder.
- `assessment_due` (YELLOW): for an open assessment campaign closing within a day, each
  evaluator who still owes submissions, keyed by campaign and username; no feed event (the
  assessment module sends its own). An evaluator who is no member (an admin) has a reminder
  without a member: it reads it in myReminders, and admins' listings do not show it.

Service functions take a connection and never commit; the scheduler's job
(server/reminders/schedule.py) runs each cause in its own transaction.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    and_,
    bindparam,
    cast,
    exists,
    extract,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from server.activities.service import branch_facts
from server.assessments.models import AssessmentCampaign, CampaignStatus
from server.assessments.schedule import pending_by_evaluator
from server.audit import service as audit
from server.auth.models import User
from server.branches.models import Branch
from server.db import Db, UTCDateTime
from server.errors import BadUserInput
from server.feed.events import TENANT_FACTS, Event, emit, take_turn, tenant_facts
from server.feed.models import FeedKind, Light
from server.feed.service import open_warning
from server.members.models import Member
from server.members.privacy import masked_name
from server.reminders.models import (
    DeclarationStatus,
    DuesEntry,
    Reminder,
    TravelDeclaration,
    TravelRecord,
)
from server.sql import AnyRow, AnySelect, counted, memoized, newest_first, page_params
from server.venues.models import BookingStatus, Venue, VenueBooking
from tenants.models import Tenant
from tenants.scope import Scope

R, D, TD, TR = Reminder, DuesEntry, TravelDeclaration, TravelRecord
GRACE = timedelta(days=15)
ASSESSMENT_NOTICE = timedelta(days=1)
VENUE_NOTICE = timedelta(days=1)
SYSTEM = "system"
ID_CHUNK = 5000


class Cause(enum.StrEnum):
    DUES_OVERDUE = "dues_overdue"
    TRAVEL_UNDECLARED = "travel_undeclared"
    POLITICAL_BIRTHDAY = "political_birthday"
    ASSESSMENT_DUE = "assessment_due"
    VENUE_BOOKING = "venue_booking"


@dataclass
class Outcome:
    """What one cause did in one pass: reminders created and the events to publish."""

    created: int = 0
    events: list[Event] = field(default_factory=list)


# -- dates -------------------------------------------------------------------------------------


def month_label(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def overdue_through(today: date) -> str:
    """The latest month whose dues are overdue on `today`: a month is overdue once GRACE has
    passed after its last day (October, with 15 days of grace: from November 16 on)."""
    # Month M is overdue iff end(M) + GRACE < today, i.e. end(M) <= today - GRACE - 1 day.
    return month_label((today - GRACE).replace(day=1) - timedelta(days=1))


def is_overdue(label: str, paid_on: date | None, today: date) -> bool:
    return paid_on is None and label <= overdue_through(today)


def anniversary_days(today: date) -> list[tuple[int, int]]:
    """(month, day) of the joining dates whose anniversary is `today`: Feb 29 counts on Feb 28
    in a year without one."""
    days = [(today.month, today.day)]
    if (today.month, today.day) == (2, 28) and (today + timedelta(days=1)).month == 3:
        days.append((2, 29))
    return days


# -- inserting reminders, once per cause ----------------------------------------------------------

_COLUMNS = ("member_id", "username", "cause", "cause_key", "light", "title", "created_at")


def _insert(conn: AsyncConnection) -> Any:
    """INSERT INTO reminders that skips keys already there (also those a concurrent pass adds
    meanwhile)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(R.__table__)


def _text(value: str) -> ColumnElement[str]:
    return literal(value, String)


def _absent(cause: Cause, key: ColumnElement[str]) -> ColumnElement[bool]:
    """No reminder yet for this cause and key (the unique index answers)."""
    seen = aliased(R)
    return ~exists().where(seen.cause == cause.value, seen.cause_key == key)


async def _insert_selected(conn: AsyncConnection, rows: AnySelect) -> int:
    """Insert the reminders `rows` selects (columns in _COLUMNS order); how many were new."""
    stmt = _insert(conn).from_select(list(_COLUMNS), rows).on_conflict_do_nothing()
    return int((await conn.execute(stmt)).rowcount or 0)


async def _announce(
    conn: AsyncConnection,
    cause: Cause,
    *,
    light: Light,
    now: datetime,
    title: str,
    data: dict[str, Any],
) -> list[Event]:
    """One WARNING event per tenant for the reminders of `cause` no event announced yet (those
    this pass created), titled `<tenant> · <title>` with `{members}` in `title` replaced by
    how many members they concern; the reminders point at it."""
    rows = await conn.execute(
        select(R.id, R.member_id, *TENANT_FACTS)
        .join(Member, Member.id == R.member_id)
        .join(Branch, Branch.id == Member.branch_id)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(R.cause == cause.value, R.event_id.is_(None))
        .order_by(Tenant.path, R.id)
    )
    groups: dict[str, tuple[dict[str, Any], list[int], set[int]]] = {}
    for row in rows:
        tenant, reminder_ids, members = groups.setdefault(
            row.t_path, (tenant_facts(row), [], set())
        )
        reminder_ids.append(row.id)
        members.add(row.member_id)
    events: list[Event] = []
    for tenant, reminder_ids, members in groups.values():
        event = await emit(
            conn,
            kind=FeedKind.WARNING,
            light=light,
            title=f"{tenant['name']} · {title.format(members=len(members))}",
            tenant=tenant,
            occurred_at=now,
            data={"cause": cause.value, "members": len(members), **data},
        )
        # By primary key, in chunks a statement's parameters can hold.
        for start in range(0, len(reminder_ids), ID_CHUNK):
            chunk = reminder_ids[start : start + ID_CHUNK]
            await conn.execute(update(R).where(R.id.in_(chunk)).values(event_id=event.id))
        events.append(event)
    return events


async def _audit_pass(
    conn: AsyncConnection, cause: Cause, created: int, now: datetime, **detail: Any
) -> None:
    if created:
        await audit.append(
            conn,
            [
                audit.Entry(
                    principal=SYSTEM,
                    action=f"reminder.{cause.value}",
                    detail={"created": created, **detail},
                )
            ],
            now=now,
        )


# -- the causes -------------------------------------------------------------------------------


async def remind_dues(conn: AsyncConnection, *, today: date, now: datetime) -> Outcome:
    """A reminder per member and month unpaid past its grace period; an event per tenant."""
    through = overdue_through(today)
    key = cast(D.member_id, String) + _text(":") + D.month
    rows = (
        select(
            D.member_id,
            User.username,
            _text(Cause.DUES_OVERDUE.value),
            key,
            _text(Light.YELLOW.value),
            _text("党费逾期提醒：") + D.month + _text(" 的党费尚未缴纳，请尽快缴纳"),
            literal(now, UTCDateTime()),
        )
        .select_from(D)
        .outerjoin(User, User.member_id == D.member_id)
        .where(
            D.paid_on.is_(None),
            D.month <= literal(through, String),
            _absent(Cause.DUES_OVERDUE, key),
        )
    )
    created = await _insert_selected(conn, rows)
    outcome = Outcome(created)
    if created:
        outcome.events = await _announce(
            conn,
            Cause.DUES_OVERDUE,
            light=Light.YELLOW,
            now=now,
            title="党费逾期提醒：{members} 名党员",
            data={"through": through},
        )
        await _audit_pass(conn, Cause.DUES_OVERDUE, created, now, through=through)
    return outcome


async def remind_birthdays(conn: AsyncConnection, *, today: date, now: datetime) -> Outcome:
    """A greeting per member whose joining anniversary is today; an event per tenant."""
    joined_month = cast(extract("month", Member.joined_on), Integer)
    joined_day = cast(extract("day", Member.joined_on), Integer)
    joined_year = cast(extract("year", Member.joined_on), Integer)
    years = literal(today.year, Integer) - joined_year
    key = cast(Member.id, String) + _text(f":{today.year}")
    rows = (
        select(
            Member.id,
            User.username,
            _text(Cause.POLITICAL_BIRTHDAY.value),
            key,
            _text(Light.GREEN.value),
            _text("政治生日：今天是您入党 ")
            + cast(years, String)
            + _text(" 周年纪念日，不忘初心、牢记使命！"),
            literal(now, UTCDateTime()),
        )
        .select_from(Member)
        .outerjoin(User, User.member_id == Member.id)
        .where(
            or_(
                *(
                    and_(joined_month == month, joined_day == day)
                    for month, day in anniversary_days(today)
                )
            ),
            joined_year < today.year,
            _absent(Cause.POLITICAL_BIRTHDAY, key),
        )
    )
    created = await _insert_selected(conn, rows)
    outcome = Outcome(created)
    if created:
        outcome.events = await _announce(
            conn,
            Cause.POLITICAL_BIRTHDAY,
            light=Light.GREEN,
            now=now,
            title="政治生日：今天 {members} 名党员迎来入党纪念日",
            data={"day": today.isoformat()},
        )
        await _audit_pass(conn, Cause.POLITICAL_BIRTHDAY, created, now, day=today.isoformat())
    return outcome


def _covered() -> ColumnElement[bool]:
    """An APPROVED declaration of the member whose dates contain the recorded trip (a trip
    still under way must be declared through today)."""
    return exists().where(
        TD.member_id == TR.member_id,
        TD.status == DeclarationStatus.APPROVED,
        TD.departs_on <= TR.departed_on,
        TD.returns_on >= func.coalesce(TR.returned_on, bindparam("today")),
    )


async def remind_travel(
    conn: AsyncConnection, *, today: date, now: datetime, member_id: int | None = None
) -> Outcome:
    """A RED reminder and an open alert per recorded trip abroad that no approved
    declaration covers (of one member only, with `member_id`)."""
    key = cast(TR.id, String)
    stmt = (
        select(
            TR.id,
            TR.member_id,
            TR.destination,
            TR.departed_on,
            TR.returned_on,
            Member.name,
            Member.branch_id,
            User.username,
        )
        .join(Member, Member.id == TR.member_id)
        .outerjoin(User, User.member_id == TR.member_id)
        .where(
            TR.departed_on <= bindparam("today"),
            ~_covered(),
            _absent(Cause.TRAVEL_UNDECLARED, key),
        )
        .order_by(TR.id)
    )
    if member_id is not None:
        stmt = stmt.where(TR.member_id == member_id)
    outcome = Outcome()
    for trip in (await conn.execute(stmt, {"today": today})).all():
        until = "" if trip.returned_on is None else f"至 {trip.returned_on.isoformat()} "
        made = await conn.execute(
            _insert(conn)
            .values(
                member_id=trip.member_id,
                username=trip.username,
                cause=Cause.TRAVEL_UNDECLARED.value,
                cause_key=str(trip.id),
                light=Light.RED.value,
                title=f"出境未报备：{trip.departed_on.isoformat()} {until}赴{trip.destination}"
                "的行程未见已批准的出境报备，请向党组织说明情况",
                created_at=now,
            )
            .on_conflict_do_nothing()
            .returning(R.id)
        )
        reminder_id = made.scalar()
        if reminder_id is None:
            continue  # a concurrent pass made it
        facts = await branch_facts(conn, trip.branch_id)
        assert facts is not None  # a member's branch exists (foreign key)
        event = await open_warning(
            conn,
            cause=Cause.TRAVEL_UNDECLARED.value,
            tenant=facts.tenant,
            branch=facts.branch,
            title=f"{facts.tenant['name']} · 出境未报备：{masked_name(trip.name)} "
            f"{trip.departed_on.isoformat()} 赴{trip.destination}",
            light=Light.RED,
            now=now,
            data={
                "member": trip.member_id,
                "travel_record": trip.id,
                "destination": trip.destination,
                "departed_on": trip.departed_on.isoformat(),
                "returned_on": None if trip.returned_on is None else trip.returned_on.isoformat(),
            },
        )
        await conn.execute(update(R).where(R.id == reminder_id).values(event_id=event.id))
        outcome.created += 1
        outcome.events.append(event)
    await _audit_pass(conn, Cause.TRAVEL_UNDECLARED, outcome.created, now)
    return outcome


async def remind_assessments(conn: AsyncConnection, *, now: datetime, tz: tzinfo) -> Outcome:
    """A reminder per evaluator who still owes submissions to an open campaign closing within
    ASSESSMENT_NOTICE."""
    C = AssessmentCampaign
    campaigns = (
        await conn.execute(
            select(C.id, C.name, C.closes_at)
            .where(
                C.status == CampaignStatus.OPEN,
                C.closes_at > now,
                C.closes_at <= now + ASSESSMENT_NOTICE,
            )
            .order_by(C.id)
        )
    ).all()
    outcome = Outcome()
    for campaign in campaigns:
        owed = await pending_by_evaluator(conn, campaign.id)
        if not owed:
            continue
        keys = {f"{campaign.id}:{username}": username for username in owed}
        known = set(
            await conn.scalars(
                select(R.cause_key).where(
                    R.cause == Cause.ASSESSMENT_DUE.value, R.cause_key.in_(list(keys))
                )
            )
        )
        fresh = {k: u for k, u in keys.items() if k not in known}
        if not fresh:
            continue
        accounts = await conn.execute(
            select(User.username, User.member_id).where(User.username.in_(list(fresh.values())))
        )
        members = {row.username: row.member_id for row in accounts}
        closes = campaign.closes_at.astimezone(tz)
        rows = [
            {
                "member_id": members.get(username),
                "username": username,
                "cause": Cause.ASSESSMENT_DUE.value,
                "cause_key": key,
                "light": Light.YELLOW.value,
                "title": f"测评即将截止：{campaign.name}，您尚有 {owed[username]} 项未提交"
                f"（{closes.month}月{closes.day}日 {closes:%H:%M} 截止）",
                "created_at": now,
            }
            for key, username in fresh.items()
        ]
        made = await conn.execute(_insert(conn).on_conflict_do_nothing().returning(R.id), rows)
        outcome.created += len(made.all())
    await _audit_pass(conn, Cause.ASSESSMENT_DUE, outcome.created, now)
    return outcome


def _venue_due(now: datetime) -> AnySelect:
    VB = VenueBooking
    return (
        select(VB.id, VB.member_id, VB.booked_by, VB.purpose, VB.starts_at, VB.ends_at, Venue.name)
        .join(Venue, Venue.id == VB.venue_id)
        .where(
            VB.status == BookingStatus.CONFIRMED.value,
            VB.starts_at > now,
            VB.starts_at <= now + VENUE_NOTICE,
            _absent(Cause.VENUE_BOOKING, cast(VB.id, String)),
        )
        .order_by(VB.id)
    )


def venue_title(
    *, starts_at: datetime, ends_at: datetime, venue: str, purpose: str, tz: tzinfo, cancelled: bool
) -> str:
    """A venue booking's reminder, its times local (the district's time zone)."""
    starts, ends = starts_at.astimezone(tz), ends_at.astimezone(tz)
    # A booking lies within one local day; one ending at its midnight ends at 24:00.
    until = "24:00" if ends.date() > starts.date() else f"{ends:%H:%M}"
    when = f"{starts.month}月{starts.day}日 {starts:%H:%M}–{until} 在{venue}（{purpose}）"
    if cancelled:
        return f"场馆预约已取消：{when}，无需到场"[:200]
    return f"场馆预约提醒：{when}，请准时到场"[:200]


async def remind_venue_bookings(conn: AsyncConnection, *, now: datetime, tz: tzinfo) -> Outcome:
    """A reminder per CONFIRMED venue booking that starts within VENUE_NOTICE, for its
    booker."""
    outcome = Outcome()
    # A first look without the turn: most passes find nothing due and lock nothing.
    if (await conn.execute(_venue_due(now).limit(1))).first() is None:
        return outcome
    # The writers' turn before reading what is due: a cancellation takes it too (its audit
    # entry) before it rewrites a reminder, so it either commits before this read (the
    # booking is CANCELLED here) or waits and then finds the reminder made here. Without
    # it a booking cancelled between this read and the insert would be reminded.
    await take_turn(conn)
    due = (await conn.execute(_venue_due(now))).all()
    rows = [
        {
            "member_id": b.member_id,
            "username": b.booked_by,
            "cause": Cause.VENUE_BOOKING.value,
            "cause_key": str(b.id),
            "light": Light.GREEN.value,
            "title": venue_title(
                starts_at=b.starts_at,
                ends_at=b.ends_at,
                venue=b.name,
                purpose=b.purpose,
                tz=tz,
                cancelled=False,
            ),
            "created_at": now,
        }
        for b in due
    ]
    if rows:
        made = await conn.execute(_insert(conn).on_conflict_do_nothing().returning(R.id), rows)
        outcome.created = len(made.all())
    await _audit_pass(conn, Cause.VENUE_BOOKING, outcome.created, now)
    return outcome


async def venue_booking_cancelled(conn: AsyncConnection, *, booking_id: int, title: str) -> bool:
    """A venue booking is being cancelled (the caller holds the writers' turn): its reminder,
    if one was made, now says so (`title`) instead of asking the booker to come. Whether
    there was one."""
    moved = await conn.execute(
        update(R)
        .where(R.cause == Cause.VENUE_BOOKING.value, R.cause_key == str(booking_id))
        .values(title=title)
    )
    return bool(moved.rowcount)


# -- reading reminders ------------------------------------------------------------------------

REMINDER_COLUMNS = (R.id, R.member_id, R.username, R.cause, R.light, R.title, R.created_at)


def _scoped_reminders(scope: Scope, cause: bool) -> AnySelect:
    stmt = (
        select(*REMINDER_COLUMNS)
        .join(Member, Member.id == R.member_id)
        .join(Branch, Branch.id == Member.branch_id)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(scope.predicate(Tenant.path, member=Member.id))
    )
    return stmt.where(R.cause == bindparam("cause")) if cause else stmt


@memoized
def _reminder_page(scope: Scope, cause: bool, after: bool) -> AnySelect:
    return newest_first(_scoped_reminders(scope, cause), R.id, after=after)


@memoized
def _reminder_count(scope: Scope, cause: bool) -> AnySelect:
    return counted(_scoped_reminders(scope, cause))


async def reminders(
    db: Db, *, scope: Scope, cause: Cause | None, after_id: int | None, limit: int
) -> Sequence[AnyRow]:
    """Reminders of the members in `scope`, newest first."""
    stmt = _reminder_page(scope, cause is not None, after_id is not None)
    params = page_params(after_id, limit, cause=None if cause is None else cause.value)
    return (await db.execute(stmt, params)).all()


async def count_reminders(db: Db, *, scope: Scope, cause: Cause | None) -> int:
    params = {"cause": None if cause is None else cause.value}
    return int(await db.scalar(_reminder_count(scope, cause is not None), params))


def _own(member: bool) -> AnySelect:
    mine = R.username == bindparam("username")
    if member:
        mine = or_(R.member_id == bindparam("member_id"), mine)
    return select(*REMINDER_COLUMNS).where(mine)


@memoized
def _own_page(member: bool, after: bool) -> AnySelect:
    return newest_first(_own(member), R.id, after=after)


@memoized
def _own_count(member: bool) -> AnySelect:
    return counted(_own(member))


async def own_reminders(
    db: Db, *, username: str, member_id: int | None, after_id: int | None, limit: int
) -> Sequence[AnyRow]:
    """A user's reminders (as the member it is, or by its username), newest first."""
    stmt = _own_page(member_id is not None, after_id is not None)
    params = page_params(after_id, limit, username=username, member_id=member_id)
    return (await db.execute(stmt, params)).all()


async def count_own_reminders(db: Db, *, username: str, member_id: int | None) -> int:
    stmt = _own_count(member_id is not None)
    return int(await db.scalar(stmt, {"username": username, "member_id": member_id}))


# -- the dues ledger --------------------------------------------------------------------------

DUES_COLUMNS = (D.id, D.member_id, D.month, D.amount, D.paid_on)


def _scoped_dues(scope: Scope) -> AnySelect:
    return (
        select(*DUES_COLUMNS)
        .join(Member, Member.id == D.member_id)
        .join(Branch, Branch.id == Member.branch_id)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(
            D.member_id == bindparam("member_id"),
            scope.predicate(Tenant.path, branch=Member.branch_id, member=Member.id),
        )
    )


@memoized
def _dues_page(scope: Scope, after: bool) -> AnySelect:
    stmt = _scoped_dues(scope)
    if after:
        stmt = stmt.where(D.month < bindparam("after_month"))
    return stmt.order_by(D.month.desc()).limit(bindparam("limit"))


@memoized
def _dues_count(scope: Scope) -> AnySelect:
    return counted(_scoped_dues(scope))


async def dues(
    db: Db, *, scope: Scope, member_id: int, after_month: str | None, limit: int
) -> Sequence[AnyRow]:
    """One member's ledger, newest month first; empty when the member is outside `scope`."""
    params: dict[str, Any] = {"member_id": member_id, "limit": limit}
    if after_month is not None:
        params["after_month"] = after_month
    return (await db.execute(_dues_page(scope, after_month is not None), params)).all()


async def count_dues(db: Db, *, scope: Scope, member_id: int) -> int:
    return int(await db.scalar(_dues_count(scope), {"member_id": member_id}))


# -- writes: travel and dues ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    """A member and where it belongs: what a write checks the caller's scope against."""

    member_id: int
    path: str


async def member_place(conn: AsyncConnection | Db, member_id: int) -> Place | None:
    row = (
        await conn.execute(
            select(Member.id, Tenant.path)
            .join(Branch, Branch.id == Member.branch_id)
            .join(Tenant, Tenant.id == Branch.tenant_id)
            .where(Member.id == member_id)
        )
    ).first()
    return None if row is None else Place(row.id, row.path)


DECLARATION_COLUMNS = (
    TD.id,
    TD.member_id,
    TD.destination,
    TD.departs_on,
    TD.returns_on,
    TD.status,
    TD.decided_by,
    TD.created_at,
)
RECORD_COLUMNS = (
    TR.id,
    TR.member_id,
    TR.destination,
    TR.departed_on,
    TR.returned_on,
    TR.recorded_at,
)
MAX_TRIP = timedelta(days=366)


def checked_destination(destination: str) -> str:
    text = destination.strip()
    if not 1 <= len(text) <= 100:
        raise BadUserInput("destination must have 1 to 100 characters", argument="destination")
    return text


async def declare_travel(
    conn: AsyncConnection,
    *,
    place: Place,
    destination: str,
    departs_on: date,
    returns_on: date,
    today: date,
    actor: str,
    client: str | None,
    now: datetime,
) -> AnyRow:
    """A member's declaration of a trip abroad, before it: PENDING until an admin decides."""
    destination = checked_destination(destination)
    if departs_on < today:
        raise BadUserInput("a trip is declared before it: departsOn is past", argument="departsOn")
    if returns_on < departs_on:
        raise BadUserInput("returnsOn must not be before departsOn", argument="returnsOn")
    if returns_on - departs_on > MAX_TRIP:
        raise BadUserInput("a declared trip lasts at most a year", argument="returnsOn")
    made = await conn.execute(
        insert(TD)
        .values(
            member_id=place.member_id,
            destination=destination,
            departs_on=departs_on,
            returns_on=returns_on,
            status=DeclarationStatus.PENDING,
            decided_by=None,
            created_at=now,
        )
        .returning(*DECLARATION_COLUMNS)
    )
    row = made.one()
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="reminder.travel.declare",
                tenant_path=place.path,
                subject=str(row.id),
                client_address=client,
                detail={
                    "member": place.member_id,
                    "destination": destination,
                    "departs_on": departs_on.isoformat(),
                    "returns_on": returns_on.isoformat(),
                },
            )
        ],
        now=now,
    )
    return row


async def declaration(conn: AsyncConnection, declaration_id: int) -> AnyRow | None:
    """A declaration with its member's tenant path (`path`)."""
    return (
        await conn.execute(
            select(*DECLARATION_COLUMNS, Tenant.path)
            .join(Member, Member.id == TD.member_id)
            .join(Branch, Branch.id == Member.branch_id)
            .join(Tenant, Tenant.id == Branch.tenant_id)
            .where(TD.id == declaration_id)
        )
    ).first()


async def decide_travel(
    conn: AsyncConnection,
    *,
    found: AnyRow,
    approve: bool,
    actor: str,
    client: str | None,
    now: datetime,
) -> AnyRow:
    """Approve or reject a PENDING declaration; of two concurrent decisions one applies."""
    if found.status is not DeclarationStatus.PENDING:
        raise BadUserInput(f"the declaration is already {found.status.value}", argument="id")
    status = DeclarationStatus.APPROVED if approve else DeclarationStatus.REJECTED
    moved = await conn.execute(
        update(TD)
        .where(TD.id == found.id, TD.status == DeclarationStatus.PENDING)
        .values(status=status, decided_by=actor)
        .returning(*DECLARATION_COLUMNS)
    )
    row = moved.first()
    if row is None:
        raise BadUserInput("the declaration was decided meanwhile; read it again", argument="id")
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="reminder.travel.decide",
                tenant_path=found.path,
                subject=str(found.id),
                client_address=client,
                detail={"member": found.member_id, "status": status.value},
            )
        ],
        now=now,
    )
    return row


async def record_travel(
    conn: AsyncConnection,
    *,
    place: Place,
    destination: str,
    departed_on: date,
    returned_on: date | None,
    today: date,
    actor: str,
    client: str | None,
    now: datetime,
) -> tuple[AnyRow, Outcome]:
    """Record a trip abroad (e.g. from exit and entry records), and check it at once: a trip
    no approved declaration covers gets its RED reminder and alert in this transaction."""
    destination = checked_destination(destination)
    if departed_on > today:
        raise BadUserInput("departedOn is in the future", argument="departedOn")
    if returned_on is not None:
        if returned_on < departed_on:
            raise BadUserInput("returnedOn must not be before departedOn", argument="returnedOn")
        if returned_on > today:
            raise BadUserInput("returnedOn is in the future", argument="returnedOn")
    made = await conn.execute(
        insert(TR)
        .values(
            member_id=place.member_id,
            destination=destination,
            departed_on=departed_on,
            returned_on=returned_on,
            recorded_at=now,
        )
        .returning(*RECORD_COLUMNS)
    )
    row = made.one()
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="reminder.travel.record",
                tenant_path=place.path,
                subject=str(row.id),
                client_address=client,
                detail={
                    "member": place.member_id,
                    "destination": destination,
                    "departed_on": departed_on.isoformat(),
                    "returned_on": None if returned_on is None else returned_on.isoformat(),
                },
            )
        ],
        now=now,
    )
    outcome = await remind_travel(conn, today=today, now=now, member_id=place.member_id)
    return row, outcome


def checked_month(month: str, today: date) -> str:
    """A "YYYY-MM" month up to the current one."""
    text = month.strip()
    if len(text) != 7 or text[4] != "-" or not (text[:4] + text[5:]).isdigit():
        raise BadUserInput("month must look like 2026-10", argument="month")
    if not 1 <= int(text[5:]) <= 12 or int(text[:4]) < 1900:
        raise BadUserInput("month must look like 2026-10", argument="month")
    if text > month_label(today):
        raise BadUserInput("month is in the future", argument="month")
    return text


async def record_payment(
    conn: AsyncConnection,
    *,
    place: Place,
    month: str,
    paid_on: date,
    amount: float | None,
    today: date,
    actor: str,
    client: str | None,
    now: datetime,
) -> AnyRow:
    """Record a member's dues for a month as paid: the ledger's entry, or a new one (which
    then needs the amount)."""
    month = checked_month(month, today)
    if paid_on > today:
        raise BadUserInput("paidOn is in the future", argument="paidOn")
    if amount is not None and not 0 < amount < 100_000:
        raise BadUserInput("amount must be positive and below 100,000", argument="amount")
    entry = (
        await conn.execute(
            select(*DUES_COLUMNS).where(D.member_id == place.member_id, D.month == month)
        )
    ).first()
    if entry is not None and entry.paid_on is not None:
        raise BadUserInput(
            f"the dues of {month} were paid on {entry.paid_on.isoformat()}", argument="month"
        )
    if entry is None:
        if amount is None:
            raise BadUserInput(
                f"the ledger has no entry for {month}: give the amount", argument="amount"
            )
        made = await conn.execute(
            insert(D)
            .values(member_id=place.member_id, month=month, amount=amount, paid_on=paid_on)
            .returning(*DUES_COLUMNS)
        )
        row: AnyRow | None = made.one()
    else:
        values: dict[str, Any] = {"paid_on": paid_on}
        if amount is not None:
            values["amount"] = amount
        moved = await conn.execute(
            update(D)
            .where(D.id == entry.id, D.paid_on.is_(None))
            .values(**values)
            .returning(*DUES_COLUMNS)
        )
        row = moved.first()
    if row is None:
        raise BadUserInput(f"the dues of {month} were paid meanwhile", argument="month")
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="reminder.dues.pay",
                tenant_path=place.path,
                subject=str(row.id),
                client_address=client,
                detail={
                    "member": place.member_id,
                    "month": month,
                    "amount": row.amount,
                    "paid_on": paid_on.isoformat(),
                },
            )
        ],
        now=now,
    )
    return row


# -- travel declarations, listed --------------------------------------------------------------


def _scoped_declarations(scope: Scope, status: bool) -> AnySelect:
    stmt = (
        select(*DECLARATION_COLUMNS)
        .join(Member, Member.id == TD.member_id)
        .join(Branch, Branch.id == Member.branch_id)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(scope.predicate(Tenant.path, branch=Member.branch_id, member=Member.id))
    )
    return stmt.where(TD.status == bindparam("status")) if status else stmt


@memoized
def _declaration_page(scope: Scope, status: bool, after: bool) -> AnySelect:
    stmt = _scoped_declarations(scope, status)
    return newest_first(stmt, TD.id, after=after)


@memoized
def _declaration_count(scope: Scope, status: bool) -> AnySelect:
    return counted(_scoped_declarations(scope, status))


async def declarations(
    db: Db,
    *,
    scope: Scope,
    status: DeclarationStatus | None,
    after_id: int | None,
    limit: int,
) -> Sequence[AnyRow]:
    """Travel declarations of the members in `scope`, newest first."""
    stmt = _declaration_page(scope, status is not None, after_id is not None)
    return (await db.execute(stmt, page_params(after_id, limit, status=status))).all()


async def count_declarations(db: Db, *, scope: Scope, status: DeclarationStatus | None) -> int:
    stmt = _declaration_count(scope, status is not None)
    return int(await db.scalar(stmt, {"status": status}))
