"""Venue booking: venues and their opening hours, availability, bookings that never overlap,
cancellations.

Rules (docs/venues.md tells them to users):

- Time is cut into granules of GRANULE (30 minutes) on the clock's hour and half hour in the
  district's time zone (Asia/Shanghai). A booking starts and ends on granule boundaries, lies
  within one day's opening hours of its venue (a weekday's [opens, closes), in local time; a
  closed date or a weekday without hours is closed all day), starts in the future and at most
  HORIZON ahead, for 1 to `capacity` people.
- No overlap, enforced by the database: a booking inserts one `venue_granules` row per granule
  it covers, unique on (venue_id, granule_start). The insert skips granules already held
  (ON CONFLICT DO NOTHING, PostgreSQL and SQLite alike); a booking that could not hold all its
  granules is refused (BAD_USER_INPUT naming `startsAt`, with the taken time) and its
  transaction rolls back. A concurrent booking of the same granule waits on the unique index
  until the first commits or rolls back: exactly one of any number of racers wins. Adjacent
  bookings share no granule and both stand.
- Lock order: a booking takes the writers' turn (the audit entry, which locks the audit head)
  before it inserts its granules, so two bookings never wait on each other's granules and the
  audit head in opposite orders (no deadlock, a conflict is always a clean refusal). Under
  that turn the booking reads its venue again: a change committed meanwhile (closed for
  bookings, new hours) applies to it; a change that commits later finds it made.
- A change of a venue (hours, closed dates, capacity, inactive) applies to bookings made
  after it; bookings already made stand, are reminded and can be cancelled as before.
- Opening hours lie within one local day (a venue open until midnight closes at "24:00";
  overnight hours are refused), and so does a booking. Asia/Shanghai has kept no daylight
  saving since 1991; local times are turned into instants through the zone all the same.
- Cancelling (the booker, or an admin with VENUE write over the venue's tenant) marks the
  booking CANCELLED and deletes its granules: the time is free again at once. A CONFIRMED
  booking whose end has passed reads as COMPLETED (derived, not stored) and can no longer be
  cancelled.
- Who sees which venue: a venue is visible to whoever has VENUE read over its tenant (admins:
  their subtree; members: their branch's tenant's subtree) and to everyone below it (a town's
  venue to the villages of the town, a district site to all): `visible(scope)`.

Writers run in the caller's transaction and never commit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import (
    ColumnElement,
    bindparam,
    delete,
    false,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from server.activities.service import BranchFacts
from server.audit import service as audit
from server.branches.models import Branch
from server.branches.service import TENANT_COLUMNS
from server.db import Db
from server.errors import BadUserInput
from server.feed.events import Event, emit
from server.feed.models import FeedKind
from server.reminders import service as reminders
from server.sql import AnyRow, AnySelect, counted, keyset, memoized, newest_first, page_params
from server.venues.models import BookingStatus, Venue, VenueBooking, VenueGranule, VenueKind
from tenants.models import Tenant
from tenants.paths import ROOT, ancestors, upper_bound
from tenants.scope import Scope

V, B, G = Venue, VenueBooking, VenueGranule
GRANULE = timedelta(minutes=30)
HORIZON = timedelta(days=180)
NAME_MAX, ADDRESS_MAX, PURPOSE_MAX, REASON_MAX = 100, 200, 200, 200
CAPACITY_MAX = 10_000
WEEKDAYS = "一二三四五六日"
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

VENUE_COLUMNS = (
    V.id,
    V.tenant_id,
    V.kind,
    V.name,
    V.address,
    V.capacity,
    V.opening_hours,
    V.closed_dates,
    V.active,
    V.created_at,
    V.updated_at,
    Tenant.path,
)
# A venue's tenant, for its node (`t_` prefixed, as schema.types reads them).
VENUE_TENANT_COLUMNS = TENANT_COLUMNS


# -- opening hours --------------------------------------------------------------------------------

# ISO weekday -> [opens, closes) in local time. A closing time of MIDNIGHT is the day's end,
# "24:00" as given and shown (a close at the day's start would come before any opening).
Hours = dict[int, tuple[time, time]]
MIDNIGHT = time(0)
DAY_END = "24:00"


def clock_text(value: time, *, closing: bool = False) -> str:
    """A clock as given and shown, "08:30"; a closing time at midnight is "24:00"."""
    return DAY_END if closing and value == MIDNIGHT else f"{value:%H:%M}"


def _clock(text: str, argument: str, *, closing: bool = False) -> time:
    if closing and text.strip() == DAY_END:
        return MIDNIGHT
    found = _CLOCK.match(text.strip())
    if found is None:
        raise BadUserInput(f"{text!r} is not a time of day like 08:30", argument=argument)
    value = time(int(found.group(1)), int(found.group(2)))
    if closing and value == MIDNIGHT:
        raise BadUserInput(
            f'{text} as a closing time: a venue open until midnight closes at "{DAY_END}"',
            argument=argument,
        )
    if value.minute % 30:
        raise BadUserInput(
            f"{text} is not on the hour or half hour: bookings are made in "
            f"{GRANULE.seconds // 60}-minute granules",
            argument=argument,
        )
    return value


def checked_hours(hours: Sequence[tuple[int, str, str]]) -> Hours:
    """Opening hours given as (ISO weekday, opens, closes), or BAD_USER_INPUT naming
    `openingHours`."""
    checked: Hours = {}
    for weekday, opens, closes in hours:
        if not 1 <= weekday <= 7:
            raise BadUserInput(
                f"weekday must be 1 (Monday) to 7 (Sunday), got {weekday}",
                argument="openingHours",
            )
        if weekday in checked:
            raise BadUserInput(f"weekday {weekday} is given twice", argument="openingHours")
        start = _clock(opens, "openingHours")
        end = _clock(closes, "openingHours", closing=True)
        if end != MIDNIGHT and end <= start:
            raise BadUserInput(
                f"on weekday {weekday} the venue closes ({closes}) before it opens ({opens})",
                argument="openingHours",
            )
        checked[weekday] = (start, end)
    if not checked:
        raise BadUserInput("a venue is open on one weekday at least", argument="openingHours")
    return checked


def hours_json(hours: Hours) -> str:
    return json.dumps(
        {
            str(d): [clock_text(o), clock_text(c, closing=True)]
            for d, (o, c) in sorted(hours.items())
        },
        separators=(",", ":"),
    )


def parse_hours(text: str) -> Hours:
    return {
        int(d): (time.fromisoformat(o), MIDNIGHT if c == DAY_END else time.fromisoformat(c))
        for d, (o, c) in json.loads(text).items()
    }


def checked_closed_dates(days: Sequence[date]) -> list[date]:
    if len(days) > 366:
        raise BadUserInput("at most 366 closed dates", argument="closedDates")
    return sorted(set(days))


def dates_json(days: Sequence[date]) -> str:
    return json.dumps([d.isoformat() for d in days])


def parse_dates(text: str) -> set[date]:
    return {date.fromisoformat(d) for d in json.loads(text or "[]")}


def checked_text(value: str, argument: str, most: int) -> str:
    text = value.strip()
    if not 1 <= len(text) <= most:
        raise BadUserInput(f"{argument} must have 1 to {most} characters", argument=argument)
    return text


def checked_capacity(capacity: int) -> int:
    if not 1 <= capacity <= CAPACITY_MAX:
        raise BadUserInput(f"capacity must be 1 to {CAPACITY_MAX}", argument="capacity")
    return capacity


# -- granules -------------------------------------------------------------------------------------


def on_boundary(moment: datetime, tz: tzinfo) -> bool:
    local = moment.astimezone(tz)
    return local.second == 0 and local.microsecond == 0 and local.minute % 30 == 0


def granules(starts_at: datetime, ends_at: datetime) -> list[datetime]:
    """The starts of the granules [starts_at, ends_at) covers, in UTC."""
    out: list[datetime] = []
    moment = starts_at.astimezone(UTC)
    end = ends_at.astimezone(UTC)
    while moment < end:
        out.append(moment)
        moment += GRANULE
    return out


def ranges(starts: Sequence[datetime]) -> list[tuple[datetime, datetime]]:
    """Granule starts merged into [start, end) ranges."""
    merged: list[tuple[datetime, datetime]] = []
    for start in sorted(starts):
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], start + GRANULE)
        else:
            merged.append((start, start + GRANULE))
    return merged


def local_end(start: datetime, end: datetime, tz: tzinfo) -> str:
    """The local clock at `end`, "24:00" when it is the midnight ending `start`'s day."""
    a, b = start.astimezone(tz), end.astimezone(tz)
    if b.date() == a.date():
        return f"{b:%H:%M}"
    if b.time() == MIDNIGHT and b.date() == a.date() + timedelta(days=1):
        return DAY_END
    return f"{b:%Y-%m-%d %H:%M}"


def local_range(start: datetime, end: datetime, tz: tzinfo) -> str:
    return f"{start.astimezone(tz):%Y-%m-%d %H:%M}–{local_end(start, end, tz)}"


@dataclass(frozen=True, slots=True)
class Day:
    """A venue's opening on one local date: None when closed all day."""

    opens: datetime | None
    closes: datetime | None
    reason: str | None  # why it is closed, when it is


def day_of(venue: AnyRow, day: date, tz: tzinfo) -> Day:
    if day in parse_dates(venue.closed_dates):
        return Day(None, None, f"closed on {day.isoformat()}")
    hours = parse_hours(venue.opening_hours).get(day.isoweekday())
    if hours is None:
        return Day(None, None, f"closed on 星期{WEEKDAYS[day.isoweekday() - 1]}")
    opens = datetime.combine(day, hours[0], tzinfo=tz).astimezone(UTC)
    # Closing at 24:00 is the next day's midnight.
    closing_day = day + timedelta(days=1) if hours[1] == MIDNIGHT else day
    closes = datetime.combine(closing_day, hours[1], tzinfo=tz).astimezone(UTC)
    return Day(opens, closes, None)


def check_slot(
    venue: AnyRow, starts_at: datetime, ends_at: datetime, *, tz: tzinfo, now: datetime
) -> list[datetime]:
    """The granules of a booking of `venue`, or BAD_USER_INPUT naming the field at fault."""
    for value, argument in ((starts_at, "startsAt"), (ends_at, "endsAt")):
        if value.tzinfo is None:
            raise BadUserInput(f"{argument} needs a time zone offset", argument=argument)
        try:
            aligned = on_boundary(value, tz)
        except OverflowError:  # year 1 or 9999 shifted out of the calendar by the offset
            raise BadUserInput(f"{argument} is out of range", argument=argument) from None
        if not aligned:
            raise BadUserInput(
                f"{argument} must be on the hour or half hour: bookings are made in "
                f"{GRANULE.seconds // 60}-minute granules",
                argument=argument,
            )
    if ends_at <= starts_at:
        raise BadUserInput("endsAt must be after startsAt", argument="endsAt")
    if starts_at <= now:
        raise BadUserInput("startsAt is past: book a time to come", argument="startsAt")
    if starts_at > now + HORIZON:
        raise BadUserInput(f"bookings open {HORIZON.days} days ahead at most", argument="startsAt")
    day = starts_at.astimezone(tz).date()
    opening = day_of(venue, day, tz)
    if opening.opens is None or opening.closes is None:
        raise BadUserInput(f"the venue is {opening.reason}", argument="startsAt")
    hours = local_range(opening.opens, opening.closes, tz)[11:]
    if starts_at < opening.opens:
        raise BadUserInput(
            f"the venue opens at {opening.opens.astimezone(tz):%H:%M} that day ({hours})",
            argument="startsAt",
        )
    if ends_at > opening.closes:
        raise BadUserInput(
            f"the venue closes at {local_end(opening.opens, opening.closes, tz)} that day "
            f"({hours}): "
            "a booking lies within one day's opening hours",
            argument="endsAt",
        )
    return granules(starts_at, ends_at)


def status_of(row: AnyRow, now: datetime) -> BookingStatus:
    if row.status == BookingStatus.CONFIRMED and row.ends_at <= now:
        return BookingStatus.COMPLETED
    return BookingStatus(row.status)


# -- who sees which venue -------------------------------------------------------------------------


def visible(scope: Scope, path: Any = Tenant.path) -> ColumnElement[bool]:
    """A venue in the scope, or at a tenant above a root of it (published to those below)."""
    above = sorted({a for root in scope.roots if root != ROOT for a in ancestors(root)})
    inside = Scope(scope.roots, within=scope.within).predicate(path)
    if scope.is_empty:
        return false()
    return or_(inside, path.in_(above)) if above else inside


def _venues(scope: Scope, under: bool, kind: bool, active: bool) -> AnySelect:
    stmt = select(*VENUE_COLUMNS, *VENUE_TENANT_COLUMNS).join(Tenant, Tenant.id == V.tenant_id)
    stmt = stmt.where(visible(scope))
    if under:
        stmt = stmt.where(
            Tenant.path >= bindparam("under_path"), Tenant.path < bindparam("under_end")
        )
    if kind:
        stmt = stmt.where(V.kind == bindparam("kind"))
    if active:
        stmt = stmt.where(V.active == bindparam("active"))
    return stmt


@memoized
def _venue_page(scope: Scope, under: bool, kind: bool, active: bool, after: bool) -> AnySelect:
    stmt = _venues(scope, under, kind, active)
    return keyset(stmt, V.id, after=after)


@memoized
def _venue_count(scope: Scope, under: bool, kind: bool, active: bool) -> AnySelect:
    return counted(_venues(scope, under, kind, active))


@memoized
def _venue_by_id(scope: Scope) -> AnySelect:
    return _venues(scope, False, False, False).where(V.id == bindparam("venue_id"))


def _venue_filters(
    under_path: str | None, kind: VenueKind | None, active: bool | None
) -> dict[str, Any]:
    return {
        "under_path": under_path,
        "under_end": None if under_path is None else upper_bound(under_path),
        "kind": None if kind is None else kind.value,
        "active": active,
    }


async def venues(
    db: Db,
    *,
    scope: Scope,
    under_path: str | None,
    kind: VenueKind | None,
    active: bool | None,
    after_id: int | None,
    limit: int,
) -> Sequence[AnyRow]:
    """Venues visible in `scope` (and under `under_path`), in id order, with their tenant."""
    stmt = _venue_page(
        scope, under_path is not None, kind is not None, active is not None, after_id is not None
    )
    params = page_params(after_id, limit, **_venue_filters(under_path, kind, active))
    return (await db.execute(stmt, params)).all()


async def count_venues(
    db: Db, *, scope: Scope, under_path: str | None, kind: VenueKind | None, active: bool | None
) -> int:
    stmt = _venue_count(scope, under_path is not None, kind is not None, active is not None)
    return int(await db.scalar(stmt, _venue_filters(under_path, kind, active)))


async def venue(db: Db | AsyncConnection, *, scope: Scope, venue_id: int) -> AnyRow | None:
    """One venue, when visible in `scope`."""
    return (await db.execute(_venue_by_id(scope), {"venue_id": venue_id})).first()


# Built once: every booking reads its venue again with it (see `book`).
_VENUE_ANY = (
    select(*VENUE_COLUMNS, *VENUE_TENANT_COLUMNS)
    .join(Tenant, Tenant.id == V.tenant_id)
    .where(V.id == bindparam("venue_id"))
)


async def venue_any(conn: AsyncConnection | Db, venue_id: int) -> AnyRow | None:
    """One venue with its tenant, whoever asks (the caller checks its scope)."""
    return (await conn.execute(_VENUE_ANY, {"venue_id": venue_id})).first()


# -- managing venues ------------------------------------------------------------------------------


async def create_venue(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    tenant_path: str,
    kind: VenueKind,
    name: str,
    address: str,
    capacity: int,
    hours: Hours,
    closed: Sequence[date],
    actor: str,
    client: str | None,
    now: datetime,
) -> int:
    venue_id: int = (
        await conn.execute(
            insert(V)
            .values(
                tenant_id=tenant_id,
                kind=kind.value,
                name=name,
                address=address,
                capacity=capacity,
                opening_hours=hours_json(hours),
                closed_dates=dates_json(closed),
                active=True,
                created_at=now,
                updated_at=now,
            )
            .returning(V.id)
        )
    ).scalar_one()
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="venue.create",
                tenant_path=tenant_path,
                subject=str(venue_id),
                client_address=client,
                detail={
                    "kind": kind.value,
                    "name": name,
                    "capacity": capacity,
                    "opening_hours": json.loads(hours_json(hours)),
                },
            )
        ],
        now=now,
    )
    return venue_id


async def update_venue(
    conn: AsyncConnection,
    *,
    found: AnyRow,
    changes: dict[str, Any],
    actor: str,
    client: str | None,
    now: datetime,
) -> None:
    """Apply `changes` (column -> stored value) to a venue; bookings made stand as they are."""
    if not changes:
        return
    await conn.execute(update(V).where(V.id == found.id).values(**changes, updated_at=now))
    shown = {
        k: json.loads(v) if k in ("opening_hours", "closed_dates") else v
        for k, v in changes.items()
    }
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="venue.update",
                tenant_path=found.path,
                subject=str(found.id),
                client_address=client,
                detail=shown,
            )
        ],
        now=now,
    )


# -- availability ---------------------------------------------------------------------------------


async def held(
    db: Db | AsyncConnection, *, venue_id: int, since: datetime, until: datetime
) -> list[AnyRow]:
    """Granules of the venue held in [since, until), with the booking holding each."""
    stmt = (
        select(G.granule_start, G.booking_id, B.booked_by)
        .join(B, B.id == G.booking_id)
        .where(G.venue_id == venue_id, G.granule_start >= since, G.granule_start < until)
        .order_by(G.granule_start)
    )
    return list((await db.execute(stmt)).all())


@dataclass(frozen=True, slots=True)
class Availability:
    day: Day
    free: list[tuple[datetime, datetime]]
    busy: list[tuple[datetime, datetime]]


async def availability(
    db: Db, *, venue: AnyRow, day: date, tz: tzinfo, now: datetime
) -> Availability:
    """Free and busy ranges of a venue's opening hours on a local date. Free is what a
    booking may take: not held, not begun, within HORIZON, at an active venue (an inactive
    one has no free time, its bookings stand and show busy)."""
    try:
        opening = day_of(venue, day, tz)
    except OverflowError:  # 0001-01-01 or 9999-12-31, out of the calendar in UTC
        raise BadUserInput(f"{day.isoformat()} is out of range", argument="date") from None
    if opening.opens is None or opening.closes is None:
        return Availability(opening, [], [])
    taken = await held(db, venue_id=venue.id, since=opening.opens, until=opening.closes)
    busy = {row.granule_start for row in taken}
    free = [
        g
        for g in granules(opening.opens, opening.closes)
        if venue.active and g not in busy and now < g <= now + HORIZON
    ]
    return Availability(opening, ranges(free), ranges(sorted(busy)))


# -- booking --------------------------------------------------------------------------------------

BOOKING_COLUMNS = (
    B.id,
    B.venue_id,
    B.branch_id,
    B.booked_by,
    B.member_id,
    B.purpose,
    B.head_count,
    B.starts_at,
    B.ends_at,
    B.status,
    B.created_at,
    B.cancelled_at,
    B.cancelled_by,
    B.cancel_reason,
)


def _insert_granules(conn: AsyncConnection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(G.__table__).on_conflict_do_nothing().returning(G.granule_start)


@dataclass(frozen=True, slots=True)
class Booker:
    username: str
    member_id: int | None
    actor: str
    client: str | None
    manages_venue: bool  # may see who holds the venue's time


def _admissible(
    venue: AnyRow,
    head_count: int,
    starts_at: datetime,
    ends_at: datetime,
    *,
    tz: tzinfo,
    now: datetime,
) -> list[datetime]:
    """The granules of a booking of `venue` as it stands, or BAD_USER_INPUT."""
    if not venue.active:
        raise BadUserInput("the venue is closed for bookings (inactive)", argument="venueId")
    if not 1 <= head_count <= venue.capacity:
        raise BadUserInput(
            f"headCount must be 1 to the venue's capacity ({venue.capacity})",
            argument="headCount",
        )
    return check_slot(venue, starts_at, ends_at, tz=tz, now=now)


async def book(
    conn: AsyncConnection,
    *,
    venue: AnyRow,
    facts: BranchFacts,
    booker: Booker,
    purpose: str,
    head_count: int,
    starts_at: datetime,
    ends_at: datetime,
    tz: tzinfo,
    now: datetime,
) -> tuple[int, Event]:
    """Book `venue` for [starts_at, ends_at): the booking's id and its feed event, or
    BAD_USER_INPUT naming the field at fault (`startsAt` with the taken time on a conflict)."""
    purpose = checked_text(purpose, "purpose", PURPOSE_MAX)
    starts = _admissible(venue, head_count, starts_at, ends_at, tz=tz, now=now)
    booking_id: int = (
        await conn.execute(
            insert(B)
            .values(
                venue_id=venue.id,
                branch_id=facts.branch["id"],
                booked_by=booker.username,
                member_id=booker.member_id,
                purpose=purpose,
                head_count=head_count,
                starts_at=starts_at,
                ends_at=ends_at,
                status=BookingStatus.CONFIRMED.value,
                created_at=now,
            )
            .returning(B.id)
        )
    ).scalar_one()
    # The writers' turn first (see the module's note on lock order), then the granules.
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=booker.actor,
                action="venue.book",
                tenant_path=venue.path,
                subject=str(booking_id),
                client_address=booker.client,
                detail={
                    "venue": venue.id,
                    "branch": facts.branch["id"],
                    "starts_at": starts_at.astimezone(UTC).isoformat(),
                    "ends_at": ends_at.astimezone(UTC).isoformat(),
                    "head_count": head_count,
                },
            )
        ],
        now=now,
    )
    # Checked again under the writers' turn, which a change of the venue takes too: one
    # committed since the first read (closed for bookings, new hours or closed dates, a
    # smaller capacity) applies to this booking, and one made later waits for it to commit.
    current = await venue_any(conn, venue.id)
    assert current is not None  # venues are never deleted
    _admissible(current, head_count, starts_at, ends_at, tz=tz, now=now)
    rows = [{"venue_id": venue.id, "granule_start": g, "booking_id": booking_id} for g in starts]
    got = {r[0] for r in (await conn.execute(_insert_granules(conn), rows)).all()}
    if len(got) < len(starts):
        await _refuse_conflict(
            conn, venue=venue, booking_id=booking_id, starts=starts, booker=booker, tz=tz
        )
    event = await emit(
        conn,
        kind=FeedKind.BRANCH_ACTIVITY,
        title=f"{facts.branch['name']} 预约{venue.name}："
        f"{local_range(starts_at, ends_at, tz)}，{purpose}"[:200],
        tenant=facts.tenant,
        branch=facts.branch,
        occurred_at=now,
        data={
            "source": "venue_booking",
            "booking": booking_id,
            "venue": venue.id,
            "starts_at": starts_at.astimezone(UTC).isoformat(),
            "ends_at": ends_at.astimezone(UTC).isoformat(),
            "head_count": head_count,
        },
    )
    return booking_id, event


async def _refuse_conflict(
    conn: AsyncConnection,
    *,
    venue: AnyRow,
    booking_id: int,
    starts: list[datetime],
    booker: Booker,
    tz: tzinfo,
) -> None:
    """Raise the refusal of a booking whose granules are (partly) held by others: the taken
    time; which bookings hold it only to whoever may see them (its booker, the venue's
    admins)."""
    since, until = starts[0], starts[-1] + GRANULE
    taken = await held(conn, venue_id=venue.id, since=since, until=until)
    # This transaction's own granules are listed too: the conflicts are the others'.
    others = [r for r in taken if r.booking_id != booking_id]
    spans = ranges([r.granule_start for r in others])
    # None left: the holder cancelled meanwhile; the time was taken when this booking tried.
    text = "、".join(local_range(a, b, tz) for a, b in spans) or local_range(since, until, tz)
    extensions: dict[str, Any] = {
        "conflicts": [{"startsAt": a.isoformat(), "endsAt": b.isoformat()} for a, b in spans]
    }
    shown = sorted(
        {r.booking_id for r in others if booker.manages_venue or r.booked_by == booker.username}
    )
    if shown:
        extensions["bookingIds"] = shown
    raise BadUserInput(
        f"the venue is already booked at {text}: choose another time",
        argument="startsAt",
        **extensions,
    )


async def booking(conn: AsyncConnection | Db, booking_id: int) -> AnyRow | None:
    """A booking with its venue's tenant path (`path`) and name (`venue_name`)."""
    stmt = (
        select(*BOOKING_COLUMNS, Tenant.path, V.name.label("venue_name"))
        .join(V, V.id == B.venue_id)
        .join(Tenant, Tenant.id == V.tenant_id)
        .where(B.id == booking_id)
    )
    return (await conn.execute(stmt)).first()


async def cancel(
    conn: AsyncConnection,
    *,
    found: AnyRow,
    reason: str | None,
    actor: str,
    username: str,
    client: str | None,
    tz: tzinfo,
    now: datetime,
) -> None:
    """Cancel a CONFIRMED booking that has not ended, and free its granules; of two concurrent
    cancellations one applies. A reminder already made for it is rewritten to say it is
    cancelled."""
    if reason is not None:
        reason = checked_text(reason, "reason", REASON_MAX)
    state = status_of(found, now)
    if state is not BookingStatus.CONFIRMED:
        raise BadUserInput(f"the booking is {state.value}: it cannot be cancelled", argument="id")
    moved = await conn.execute(
        update(B)
        .where(B.id == found.id, B.status == BookingStatus.CONFIRMED.value)
        .values(
            status=BookingStatus.CANCELLED.value,
            cancelled_at=now,
            cancelled_by=username,
            cancel_reason=reason,
        )
    )
    if moved.rowcount != 1:
        raise BadUserInput("the booking was cancelled meanwhile", argument="id")
    await conn.execute(delete(G).where(G.booking_id == found.id))
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="venue.cancel",
                tenant_path=found.path,
                subject=str(found.id),
                client_address=client,
                detail={"venue": found.venue_id, "reason": reason},
            )
        ],
        now=now,
    )
    # After the audit entry: this transaction holds the writers' turn, which the reminders
    # pass takes before it reads what is due (server/reminders/service.py), so a reminder
    # made by a pass racing this cancellation is committed and found here.
    await reminders.venue_booking_cancelled(
        conn,
        booking_id=found.id,
        title=reminders.venue_title(
            starts_at=found.starts_at,
            ends_at=found.ends_at,
            venue=found.venue_name,
            purpose=found.purpose,
            tz=tz,
            cancelled=True,
        ),
    )


# -- listing bookings -----------------------------------------------------------------------------

BT = aliased(Tenant, name="venue_tenant")
BRANCH_TENANT = aliased(Tenant, name="branch_tenant")
VENUE_PREFIXED = (
    *(c.label("v_" + c.key) for c in VENUE_COLUMNS if c.key != "path"),
    BT.path.label("v_path"),
    BT.parent_id.label("t_parent_id"),
    BT.level.label("t_level"),
    BT.path.label("t_path"),
    BT.code.label("t_code"),
    BT.name.label("t_name"),
)


def _bookings(scope: Scope | None, venue: bool, status: BookingStatus | None) -> AnySelect:
    """Bookings with their venue and its tenant JOINed. With a scope: those of venues in it
    or made for branches in it; without: those the account :username made."""
    stmt = (
        select(*BOOKING_COLUMNS, *VENUE_PREFIXED)
        .join(V, V.id == B.venue_id)
        .join(BT, BT.id == V.tenant_id)
    )
    if scope is not None:
        stmt = (
            stmt.join(Branch, Branch.id == B.branch_id)
            .join(BRANCH_TENANT, BRANCH_TENANT.id == Branch.tenant_id)
            .where(or_(scope.predicate(BT.path), scope.predicate(BRANCH_TENANT.path)))
        )
    else:
        stmt = stmt.where(B.booked_by == bindparam("username"))
    if venue:
        stmt = stmt.where(B.venue_id == bindparam("venue_id"))
    if status is BookingStatus.CANCELLED:
        stmt = stmt.where(B.status == BookingStatus.CANCELLED.value)
    elif status is BookingStatus.CONFIRMED:
        stmt = stmt.where(B.status == BookingStatus.CONFIRMED.value, B.ends_at > bindparam("now"))
    elif status is BookingStatus.COMPLETED:
        stmt = stmt.where(B.status == BookingStatus.CONFIRMED.value, B.ends_at <= bindparam("now"))
    return stmt


@memoized
def _booking_page(
    scope: Scope | None, venue: bool, status: BookingStatus | None, after: bool
) -> AnySelect:
    stmt = _bookings(scope, venue, status)
    # Newest first: ids grow with booking time and never shift under new bookings.
    return newest_first(stmt, B.id, after=after)


@memoized
def _booking_count(scope: Scope | None, venue: bool, status: BookingStatus | None) -> AnySelect:
    return counted(_bookings(scope, venue, status))


async def bookings(
    db: Db,
    *,
    scope: Scope | None,
    username: str | None = None,
    venue_id: int | None,
    status: BookingStatus | None,
    now: datetime,
    after_id: int | None,
    limit: int,
) -> Sequence[AnyRow]:
    """Bookings in `scope` (venue or branch in it), or, without a scope, the bookings
    `username` made; newest first, with their venue."""
    stmt = _booking_page(scope, venue_id is not None, status, after_id is not None)
    params = page_params(after_id, limit, username=username, venue_id=venue_id, now=now)
    return (await db.execute(stmt, params)).all()


async def count_bookings(
    db: Db,
    *,
    scope: Scope | None,
    username: str | None = None,
    venue_id: int | None,
    status: BookingStatus | None,
    now: datetime,
) -> int:
    stmt = _booking_count(scope, venue_id is not None, status)
    params = {"username": username, "venue_id": venue_id, "now": now}
    return int(await db.scalar(stmt, params))


_BOOKING_BY_ID = (
    select(*BOOKING_COLUMNS, *VENUE_PREFIXED)
    .join(V, V.id == B.venue_id)
    .join(BT, BT.id == V.tenant_id)
    .where(B.id == bindparam("booking_id"))
)


async def booking_row(db: Db | AsyncConnection, booking_id: int) -> AnyRow:
    """A booking with its venue, as the lists give it (the caller has checked its reach)."""
    return (await db.execute(_BOOKING_BY_ID, {"booking_id": booking_id})).one()
