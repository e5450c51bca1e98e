"""Venue booking, on SQLite and PostgreSQL: granules and opening hours, every refusal naming
its field, overlaps refused (partial and containing) while adjacent bookings stand, racing
bookings of one slot with exactly one winner, cancellation freeing the time, the reminder made
once, who sees which venue (subtree and above; another town's venue reads as absent), the
admins' booking lists, pagination, and the audit of every change."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from schema.ids import global_id, parse_global_id
from server.audit.models import AuditEntry
from server.auth.models import User
from server.branches.models import Branch
from server.errors import BadUserInput
from server.members.models import Member
from server.reminders import service as reminders
from server.reminders.models import Reminder
from server.venues import service
from server.venues.models import Venue, VenueBooking, VenueGranule
from tenants.models import Tenant
from tenants.paths import ancestors, is_within
from tests.conftest import GraphQLClient

SHANGHAI = ZoneInfo("Asia/Shanghai")
Json = dict[str, Any]

VENUES = """query($u: ID, $k: VenueKind, $act: Boolean, $f: Int, $after: String) {
  venues(under: $u, kind: $k, active: $act, first: $f, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id kind kindLabel name capacity active tenant { path }
                          openingHours { weekday opens closes } } } } }"""
VENUE = "query($id: ID!) { venue(id: $id) { id name } }"
DAY = """query($v: ID!, $d: Date!) { venueAvailability(venueId: $v, date: $d) {
  date open closedReason opensAt closesAt granuleMinutes
  free { startsAt endsAt } busy { startsAt endsAt } } }"""
BOOK = """mutation($i: BookVenueInput!) { bookVenue(input: $i) {
  id status startsAt endsAt headCount purpose bookedBy
  venue { id name tenant { path } } branch { id } } }"""
CANCEL = """mutation($id: ID!, $r: String) { cancelVenueBooking(id: $id, reason: $r) {
  id status cancelledBy cancelReason } }"""
MINE = """query($s: VenueBookingStatus, $f: Int, $a: String) {
  myVenueBookings(status: $s, first: $f, after: $a) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id status bookedBy } } } }"""
BOOKINGS = """query($v: ID, $s: VenueBookingStatus, $f: Int, $a: String) {
  venueBookings(venueId: $v, status: $s, first: $f, after: $a) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id status bookedBy venue { id tenant { path } } } } } }"""
CREATE = """mutation($i: VenueInput!) { createVenue(input: $i) {
  id kind name capacity active tenant { path } openingHours { weekday opens closes }
  closedDates } }"""
UPDATE = """mutation($id: ID!, $i: VenueChangeInput!) { updateVenue(id: $id, input: $i) {
  id name active capacity } }"""
MY_REMINDERS = "{ myReminders(first: 50) { edges { node { cause title light } } } }"


# -- helpers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    username: str
    member_id: int
    branch_id: int
    path: str

    @property
    def town(self) -> str:
        return "/" + "/".join(self.path.strip("/").split("/")[:2]) + "/"


async def accounts(app: Any) -> list[Account]:
    """Members with a demo account below a town, in id order."""
    async with app.state.runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(User.username, Member.id, Member.branch_id, Tenant.path)
                .join(Member, Member.id == User.member_id)
                .join(Branch, Branch.id == Member.branch_id)
                .join(Tenant, Tenant.id == Branch.tenant_id)
                .order_by(Member.id)
            )
        ).all()
    return [Account(*r) for r in rows if r.path.count("/") > 2]


async def two_towns(app: Any) -> tuple[Account, Account, Account]:
    """Two members of one town (a, a2 when there is one, else a again) and one of another."""
    found = await accounts(app)
    a = found[0]
    same = next((x for x in found[1:] if x.town == a.town), a)
    b = next(x for x in found if x.town != a.town)
    return a, same, b


async def venue_rows(app: Any) -> list[Any]:
    async with app.state.runtime.engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    select(Venue.id, Venue.kind, Venue.capacity, Tenant.path, Tenant.code)
                    .join(Tenant, Tenant.id == Venue.tenant_id)
                    .order_by(Venue.id)
                )
            ).all()
        )


async def room_of(app: Any, town: str) -> Any:
    """A meeting room of the town itself."""
    return next(v for v in await venue_rows(app) if v.path == town and v.kind == "MEETING_ROOM")


def admin_of(path: str) -> str:
    """The demo admin of a tenant: /d01/t01/ -> admin.d01t01."""
    return "admin." + path.strip("/").replace("/", "")


def vid(pk: int) -> str:
    return str(global_id("Venue", pk))


def bid(pk: int) -> str:
    return str(global_id("Branch", pk))


def open_day(weeks: int = 0) -> date:
    """A Wednesday at least two days ahead (every demo venue is open on Wednesdays)."""
    day = datetime.now(SHANGHAI).date() + timedelta(days=2)
    while day.isoweekday() != 3:
        day += timedelta(days=1)
    return day + timedelta(weeks=weeks)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=SHANGHAI)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def booking(
    venue: int, day: date, start: tuple[int, int], end: tuple[int, int], **more: Any
) -> Json:
    data = {
        "venueId": vid(venue),
        "startsAt": iso(at(day, *start)),
        "endsAt": iso(at(day, *end)),
        "purpose": "主题党日活动",
        "headCount": 10,
    }
    data.update(more)
    return {"i": data}


async def refused(gql: GraphQLClient, query: str, variables: Json) -> Json:
    error = await gql.error(query, variables)
    return error


async def audited(app: Any, action: str) -> list[Any]:
    async with app.state.runtime.engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
                )
            ).all()
        )


def pk(global_id_: str) -> int:
    return parse_global_id(global_id_)[1]


async def walk(gql: GraphQLClient, query: str, field: str, first: int, **vars_: Any) -> list[Json]:
    """Every node, page by page; checks totalCount and hasNextPage on each."""
    nodes: list[Json] = []
    after = None
    while True:
        page = (await gql.data(query, {**vars_, "f": first, "after": after, "a": after}))[field]
        nodes += [e["node"] for e in page["edges"]]
        assert len(page["edges"]) <= first
        if not page["pageInfo"]["hasNextPage"]:
            assert len(nodes) == page["totalCount"]
            return nodes
        after = page["pageInfo"]["endCursor"]


# -- without a database ----------------------------------------------------------------------------


def test_granules_cut_a_range_on_the_half_hour() -> None:
    day = date(2026, 12, 2)
    starts = service.granules(at(day, 9), at(day, 10, 30))
    assert [g.astimezone(SHANGHAI).time() for g in starts] == [time(9), time(9, 30), time(10)]
    assert all(g.tzinfo is UTC for g in starts)
    merged = service.ranges([starts[0], starts[2], starts[1], at(day, 14).astimezone(UTC)])
    assert merged == [
        (at(day, 9).astimezone(UTC), at(day, 10, 30).astimezone(UTC)),
        (at(day, 14).astimezone(UTC), at(day, 14, 30).astimezone(UTC)),
    ]
    assert service.on_boundary(at(day, 9, 30), SHANGHAI)
    assert not service.on_boundary(at(day, 9, 15), SHANGHAI)
    assert not service.on_boundary(at(day, 9, 30).replace(second=1), SHANGHAI)


@pytest.mark.parametrize(
    ("hours", "fault"),
    [
        ([(8, "09:00", "17:00")], "weekday must be 1"),
        ([(1, "09:15", "17:00")], "not on the hour or half hour"),
        ([(1, "9h", "17:00")], "not a time of day"),
        ([(1, "17:00", "09:00")], "closes (09:00) before it opens"),
        ([(1, "22:00", "02:00")], "closes (02:00) before it opens"),  # no overnight hours
        ([(1, "09:00", "00:00")], 'closes at "24:00"'),  # the day's end is 24:00
        ([(1, "24:00", "24:00")], "not a time of day"),  # 24:00 closes, never opens
        ([(1, "09:00", "24:30")], "not a time of day"),
        ([(1, "09:00", "12:00"), (1, "13:00", "17:00")], "given twice"),
        ([], "open on one weekday"),
    ],
)
def test_opening_hours_are_checked(hours: list[tuple[int, str, str]], fault: str) -> None:
    with pytest.raises(BadUserInput) as caught:
        service.checked_hours(hours)
    assert fault in caught.value.message
    assert caught.value.extensions["argument"] == "openingHours"


# -- who sees which venue --------------------------------------------------------------------------


async def test_venues_of_the_subtree_and_above_are_visible(
    seeded: tuple[GraphQLClient, Any],
) -> None:
    gql, app = seeded
    a, _, b = await two_towns(app)
    every = await venue_rows(app)
    for username, home in ((f"m.{a.member_id}", a.path), (admin_of(a.town), a.town)):
        viewer = await gql.as_user(username)
        expected = sorted(
            v.id for v in every if is_within(v.path, home) or v.path in ancestors(home)
        )
        got = await walk(viewer, VENUES, "venues", 3)
        assert sorted(pk(n["id"]) for n in got) == expected
        # Nothing of the other town, and district venues included.
        assert not any(is_within(n["tenant"]["path"], b.town) for n in got)
        assert any(n["tenant"]["path"].count("/") == 2 for n in got)
    everything = await walk(gql, VENUES, "venues", 20)
    assert sorted(pk(n["id"]) for n in everything) == [v.id for v in every]
    # Filters: kind, and a town's subtree.
    sites = await walk(gql, VENUES, "venues", 20, k="PARTY_HISTORY_SITE")
    assert {n["kind"] for n in sites} == {"PARTY_HISTORY_SITE"}
    assert {n["kindLabel"] for n in sites} == {"党史教育基地"}
    assert len(sites) == sum(v.kind == "PARTY_HISTORY_SITE" for v in every)
    town = every[[v.path for v in every].index(b.town)]
    town_gid = str(global_id("Tenant", await tenant_id(app, b.town)))
    under = await walk(gql, VENUES, "venues", 20, u=town_gid)
    assert sorted(pk(n["id"]) for n in under) == sorted(
        v.id for v in every if is_within(v.path, b.town)
    )
    assert town.id in [pk(n["id"]) for n in under]


async def tenant_id(app: Any, path: str) -> int:
    async with app.state.runtime.engine.connect() as conn:
        return int(await conn.scalar(select(Tenant.id).where(Tenant.path == path)))


async def test_another_towns_venue_reads_as_absent(seeded: tuple[GraphQLClient, Any]) -> None:
    gql, app = seeded
    a, _, b = await two_towns(app)
    member = await gql.as_user(a.username)
    theirs = await room_of(app, b.town)
    missing = max(v.id for v in await venue_rows(app)) + 1000
    assert (await member.data(VENUE, {"id": vid(theirs.id)}))["venue"] is None
    assert (await member.data(VENUE, {"id": vid(missing)}))["venue"] is None
    day = open_day().isoformat()
    for target in (theirs.id, missing):
        error = await member.error(DAY, {"v": vid(target), "d": day})
        assert error["extensions"]["code"] == "FORBIDDEN"
    ours = await room_of(app, a.town)
    assert (await member.data(VENUE, {"id": vid(ours.id)}))["venue"]["id"] == vid(ours.id)
    # The admins' booking list is not for members.
    error = await member.error(BOOKINGS, {})
    assert error["extensions"]["code"] == "FORBIDDEN"


# -- booking ---------------------------------------------------------------------------------------


async def test_every_refusal_names_its_field(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    a, _, b = await two_towns(app)
    member = await gql.as_user(a.username)
    room = await room_of(app, a.town)
    day = open_day()
    sunday = day + timedelta(days=4)
    past = datetime.now(SHANGHAI).date() - timedelta(days=7)
    far = day + timedelta(weeks=30)
    cases: list[tuple[Json, str, str]] = [
        (booking(room.id, day, (9, 15), (10, 0)), "startsAt", "half hour"),
        (booking(room.id, day, (9, 0), (10, 10)), "endsAt", "half hour"),
        (booking(room.id, day, (10, 0), (10, 0)), "endsAt", "after startsAt"),
        (booking(room.id, past, (9, 0), (10, 0)), "startsAt", "past"),
        (booking(room.id, far, (9, 0), (10, 0)), "startsAt", "days ahead"),
        (booking(room.id, sunday, (9, 0), (10, 0)), "startsAt", "closed on 星期日"),
        (booking(room.id, day, (8, 0), (9, 0)), "startsAt", "opens at 08:30"),
        (booking(room.id, day, (17, 0), (18, 0)), "endsAt", "closes at 17:30"),
        (booking(room.id, day, (9, 0), (10, 0), headCount=room.capacity + 1), "headCount", ""),
        (booking(room.id, day, (9, 0), (10, 0), headCount=0), "headCount", ""),
        (booking(room.id, day, (9, 0), (10, 0), purpose="  "), "purpose", ""),
        (booking(room.id, day, (9, 0), (10, 0), branchId=bid(b.branch_id)), "branchId", ""),
    ]
    naive = booking(room.id, day, (9, 0), (10, 0))
    naive["i"]["startsAt"] = at(day, 9).replace(tzinfo=None).isoformat()
    cases.append((naive, "startsAt", "time zone"))
    for variables, argument, words in cases:
        error = await member.error(BOOK, variables)
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (variables, error)
        assert error["extensions"]["argument"] == argument, (variables, error)
        assert words in error["message"], (variables, error)
    # An admin books for a branch it names.
    admin = await gql.as_user("admin")
    error = await admin.error(BOOK, booking(room.id, day, (9, 0), (10, 0)))
    assert error["extensions"]["argument"] == "branchId"
    # A closed venue takes no bookings.
    senior = await gql.as_user(admin_of(a.town))
    await senior.data(UPDATE, {"id": vid(room.id), "i": {"active": False}})
    error = await member.error(BOOK, booking(room.id, day, (9, 0), (10, 0)))
    assert (error["extensions"]["argument"], error["extensions"]["code"]) == (
        "venueId",
        "BAD_USER_INPUT",
    )
    # Nothing of it was stored.
    async with app.state.runtime.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(VenueBooking)) == 0
        assert await conn.scalar(select(func.count()).select_from(VenueGranule)) == 0


async def test_overlaps_are_refused_and_adjacent_bookings_stand(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    a, a2, b = await two_towns(app)
    member = await gql.as_user(a.username)
    room = await room_of(app, a.town)
    day = open_day()
    made = (await member.data(BOOK, booking(room.id, day, (9, 0), (10, 0))))["bookVenue"]
    assert made["status"] == "CONFIRMED"
    assert made["bookedBy"] == a.username
    assert made["branch"]["id"] == bid(a.branch_id)
    assert datetime.fromisoformat(made["startsAt"]) == at(day, 9)
    # Partly overlapping, containing, inside: refused, naming the taken time.
    for start, end, taken in (
        ((9, 30), (10, 30), "09:30–10:00"),
        ((8, 30), (11, 0), "09:00–10:00"),
        ((9, 0), (9, 30), "09:00–09:30"),
    ):
        error = await member.error(BOOK, booking(room.id, day, start, end))
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["argument"] == "startsAt"
        assert f"{day.isoformat()} {taken}" in error["message"], error
        # The booker sees which of its bookings holds the time.
        assert error["extensions"]["bookingIds"] == [pk(made["id"])]
    # Another member learns the time, not whose booking holds it.
    other = await gql.as_user(a2.username) if a2 != a else None
    if other is not None:
        error = await other.error(BOOK, booking(room.id, day, (9, 30), (10, 30)))
        assert error["extensions"]["conflicts"] == [
            {
                "startsAt": at(day, 9, 30).astimezone(UTC).isoformat(),
                "endsAt": at(day, 10).astimezone(UTC).isoformat(),
            }
        ]
        assert "bookingIds" not in error["extensions"]
    # Adjacent on both sides: both stand.
    await member.data(BOOK, booking(room.id, day, (10, 0), (11, 0)))
    await member.data(BOOK, booking(room.id, day, (8, 30), (9, 0)))
    found = (await member.data(DAY, {"v": vid(room.id), "d": day.isoformat()}))["venueAvailability"]
    assert found["open"] and found["granuleMinutes"] == 30
    assert found["busy"] == [
        {
            "startsAt": at(day, 8, 30).astimezone(UTC).isoformat(),
            "endsAt": at(day, 11).astimezone(UTC).isoformat(),
        }
    ]
    assert found["free"] == [
        {
            "startsAt": at(day, 11).astimezone(UTC).isoformat(),
            "endsAt": at(day, 17, 30).astimezone(UTC).isoformat(),
        }
    ]
    sunday = (
        await member.data(DAY, {"v": vid(room.id), "d": (day + timedelta(days=4)).isoformat()})
    )["venueAvailability"]
    assert (sunday["open"], sunday["free"], sunday["closedReason"]) == (
        False,
        [],
        "closed on 星期日",
    )
    # Three bookings, three audit entries, 2 + 2 + 1 granules held.
    assert len(await audited(app, "venue.book")) == 3
    async with app.state.runtime.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(VenueGranule)) == 5
    # A member of another town cannot book it: absent, as a venue that does not exist.
    stranger = await gql.as_user(b.username)
    error = await stranger.error(BOOK, booking(room.id, day, (14, 0), (15, 0)))
    assert error["extensions"]["code"] == "FORBIDDEN"
    error = await stranger.error(BOOK, booking(room.id + 10_000, day, (14, 0), (15, 0)))
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_racing_bookings_of_one_slot_have_one_winner(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    a, _, _ = await two_towns(app)
    admin = await gql.as_user("admin")
    room = await room_of(app, a.town)
    day = open_day(weeks=1)
    racers = 16
    # Each racer its own (overlapping) range around 10:00-11:00, all through the app at once.
    shapes = [((10, 0), (11, 0)), ((9, 30), (10, 30)), ((10, 30), (12, 0)), ((10, 0), (10, 30))]
    answers = await asyncio.gather(
        *(
            admin.post(
                BOOK,
                booking(
                    room.id,
                    day,
                    *shapes[n % len(shapes)],
                    branchId=bid(a.branch_id),
                    purpose=f"racer {n}",
                ),
            )
            for n in range(racers)
        )
    )
    won = [r["data"]["bookVenue"] for r in answers if not r.get("errors")]
    lost = [r["errors"][0] for r in answers if r.get("errors")]
    assert len(won) + len(lost) == racers
    assert all(e["extensions"]["code"] == "BAD_USER_INPUT" for e in lost), lost
    assert all(e["extensions"]["argument"] == "startsAt" for e in lost)
    # Every shape overlaps 10:00-10:30 but for two (9:30-10:30 and 10:30-12:00, which may
    # both win): the winners never overlap.
    spans = sorted(
        (datetime.fromisoformat(w["startsAt"]), datetime.fromisoformat(w["endsAt"])) for w in won
    )
    assert 1 <= len(spans) <= 2
    assert all(x[1] <= y[0] for x, y in pairwise(spans))
    async with app.state.runtime.engine.connect() as conn:
        stored = await conn.scalar(select(func.count()).select_from(VenueBooking))
        held = await conn.scalar(select(func.count()).select_from(VenueGranule))
    assert stored == len(won)
    assert held == sum(int((e - s) / service.GRANULE) for s, e in spans)
    # The same slot, many times over: exactly one wins.
    same = await asyncio.gather(
        *(
            admin.post(BOOK, booking(room.id, day, (14, 0), (15, 0), branchId=bid(a.branch_id)))
            for _ in range(racers)
        )
    )
    assert sum(not r.get("errors") for r in same) == 1
    assert all(
        r["errors"][0]["extensions"]["argument"] == "startsAt" for r in same if r.get("errors")
    )


async def test_cancelling_frees_the_time(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    a, a2, b = await two_towns(app)
    member = await gql.as_user(a.username)
    room = await room_of(app, a.town)
    day = open_day()
    slot = booking(room.id, day, (14, 0), (16, 0))
    made = (await member.data(BOOK, slot))["bookVenue"]
    # Someone else's booking: refused as absent (a member of another town, or of the same).
    for username in {b.username, a2.username} - {a.username}:
        other = await gql.as_user(username)
        error = await other.error(CANCEL, {"id": made["id"]})
        assert error["extensions"]["code"] == "FORBIDDEN"
    gone = (await member.data(CANCEL, {"id": made["id"], "r": "改期"}))["cancelVenueBooking"]
    assert (gone["status"], gone["cancelledBy"], gone["cancelReason"]) == (
        "CANCELLED",
        a.username,
        "改期",
    )
    error = await member.error(CANCEL, {"id": made["id"]})
    assert (error["extensions"]["code"], error["extensions"]["argument"]) == (
        "BAD_USER_INPUT",
        "id",
    )
    # The same time again: free.
    again = (await member.data(BOOK, slot))["bookVenue"]
    # The town's admin cancels it (the venue is in its subtree).
    senior = await gql.as_user(admin_of(a.town))
    done = (await senior.data(CANCEL, {"id": again["id"]}))["cancelVenueBooking"]
    assert done["status"] == "CANCELLED"
    async with app.state.runtime.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(VenueGranule)) == 0
    entries = await audited(app, "venue.cancel")
    assert [e.subject for e in entries] == [str(pk(made["id"])), str(pk(again["id"]))]
    assert entries[0].principal == f"user:{a.username}"
    assert entries[0].tenant_path == a.town
    assert entries[1].principal == "user:admin." + a.town.strip("/").replace("/", "")
    # Lists by status.
    mine = (await member.data(MINE, {"s": "CANCELLED"}))["myVenueBookings"]
    assert mine["totalCount"] == 2
    assert (await member.data(MINE, {"s": "CONFIRMED"}))["myVenueBookings"]["totalCount"] == 0


async def test_the_booker_is_reminded_once_the_day_before(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    a, _, _ = await two_towns(app)
    member = await gql.as_user(a.username)
    room = await room_of(app, a.town)
    day = open_day()
    soon = (await member.data(BOOK, booking(room.id, day, (10, 0), (11, 0))))["bookVenue"]
    later = (await member.data(BOOK, booking(room.id, day + timedelta(days=1), (10, 0), (11, 0))))[
        "bookVenue"
    ]
    dropped = (await member.data(BOOK, booking(room.id, day, (14, 0), (15, 0))))["bookVenue"]
    await member.data(CANCEL, {"id": dropped["id"]})
    runtime = app.state.runtime
    eve = at(day, 10) - timedelta(hours=20)  # the day before, 14:00
    made = []
    for now in (eve, eve + timedelta(minutes=5), eve):
        async with runtime.write() as (conn, _outbox):
            made.append((await reminders.remind_venue_bookings(conn, now=now, tz=SHANGHAI)).created)
    assert made == [1, 0, 0]
    async with runtime.engine.connect() as conn:
        rows = (await conn.execute(select(Reminder).where(Reminder.cause == "venue_booking"))).all()
    assert [(r.cause_key, r.username, r.member_id) for r in rows] == [
        (str(pk(soon["id"])), a.username, a.member_id)
    ]
    shown = (await member.data(MY_REMINDERS))["myReminders"]["edges"]
    titles = [e["node"]["title"] for e in shown if e["node"]["cause"] == "VENUE_BOOKING"]
    assert len(titles) == 1 and "10:00–11:00" in titles[0], titles
    # The next day's booking is reminded the day after, once.
    async with runtime.write() as (conn, _outbox):
        result = await reminders.remind_venue_bookings(
            conn, now=eve + timedelta(days=1), tz=SHANGHAI
        )
    assert result.created == 1
    assert str(pk(later["id"])) in {r.cause_key for r in (await _reminder_rows(app))}
    assert len(await audited(app, "reminder.venue_booking")) == 2


async def _reminder_rows(app: Any) -> list[Any]:
    async with app.state.runtime.engine.connect() as conn:
        return list(
            (await conn.execute(select(Reminder).where(Reminder.cause == "venue_booking"))).all()
        )


async def test_admins_list_the_bookings_of_their_subtree(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    a, _, b = await two_towns(app)
    day = open_day()
    ours, theirs = await room_of(app, a.town), await room_of(app, b.town)
    ma, mb = await gql.as_user(a.username), await gql.as_user(b.username)
    for hour in (9, 10, 11):
        await ma.data(BOOK, booking(ours.id, day, (hour, 0), (hour + 1, 0)))
    await mb.data(BOOK, booking(theirs.id, day, (9, 0), (10, 0)))
    # A district site, booked by town B's member: town B's admin sees it (its branch).
    site = next(
        v
        for v in await venue_rows(app)
        if v.kind == "PARTY_HISTORY_SITE" and v.path.count("/") == 2
    )
    await mb.data(BOOK, booking(site.id, day, (9, 0), (10, 0)))
    senior_a = await gql.as_user(admin_of(a.town))
    senior_b = await gql.as_user(admin_of(b.town))
    seen_a = await walk(senior_a, BOOKINGS, "venueBookings", 2)
    assert len(seen_a) == 3
    assert {n["venue"]["id"] for n in seen_a} == {vid(ours.id)}
    ids = [pk(n["id"]) for n in seen_a]
    assert ids == sorted(ids, reverse=True)  # newest first
    seen_b = await walk(senior_b, BOOKINGS, "venueBookings", 1)
    assert {n["venue"]["id"] for n in seen_b} == {vid(theirs.id), vid(site.id)}
    everything = await walk(await gql.as_user("admin"), BOOKINGS, "venueBookings", 2)
    assert len(everything) == 5
    narrowed = await senior_b.data(BOOKINGS, {"v": vid(site.id)})
    assert narrowed["venueBookings"]["totalCount"] == 1
    # Members list their own only.
    mine = await walk(ma, MINE, "myVenueBookings", 2)
    assert len(mine) == 3 and {n["bookedBy"] for n in mine} == {a.username}
    # Feed: each booking is a BRANCH_ACTIVITY of the booking branch's tenant.
    from server.feed.models import FeedEventRow

    async with app.state.runtime.engine.connect() as conn:
        events = (
            await conn.execute(
                select(FeedEventRow.kind, FeedEventRow.title).where(
                    FeedEventRow.title.contains("预约")
                )
            )
        ).all()
    assert len(events) == 5 and {e.kind for e in events} == {"BRANCH_ACTIVITY"}


# -- managing venues -------------------------------------------------------------------------------


async def test_admins_manage_the_venues_of_their_subtree(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    a, _, b = await two_towns(app)
    senior = await gql.as_user(admin_of(a.town))
    hours = [{"weekday": d, "opens": "09:00", "closes": "12:00"} for d in (1, 3)]
    holiday = open_day()
    venue: Json = {
        "tenantId": str(global_id("Tenant", await tenant_id(app, a.path))),
        "kind": "MEETING_ROOM",
        "name": "  新时代文明实践站会议室 ",
        "address": "人民路 1 号",
        "capacity": 30,
        "openingHours": hours,
        "closedDates": [holiday.isoformat()],
    }
    made = (await senior.data(CREATE, {"i": venue}))["createVenue"]
    assert made["name"] == "新时代文明实践站会议室"
    assert made["tenant"]["path"] == a.path
    assert made["openingHours"] == hours
    assert made["closedDates"] == [holiday.isoformat()]
    [entry] = await audited(app, "venue.create")
    assert (entry.subject, entry.tenant_path) == (str(pk(made["id"])), a.path)
    # A member of the village books it, but not on its closed date.
    member = await gql.as_user(a.username)
    error = await member.error(BOOK, booking(pk(made["id"]), holiday, (9, 0), (10, 0)))
    assert error["extensions"]["argument"] == "startsAt"
    assert "closed on" in error["message"]
    # Bad input names the field.
    for change, argument in (
        ({"capacity": 0}, "capacity"),
        ({"name": ""}, "name"),
        ({"openingHours": [{"weekday": 2, "opens": "10:00", "closes": "09:00"}]}, "openingHours"),
    ):
        error = await senior.error(CREATE, {"i": venue | change})
        assert error["extensions"]["argument"] == argument, error
        error = await senior.error(UPDATE, {"id": made["id"], "i": change})
        assert error["extensions"]["argument"] == argument, error
    changed = (await senior.data(UPDATE, {"id": made["id"], "i": {"capacity": 40}}))["updateVenue"]
    assert changed["capacity"] == 40
    assert len(await audited(app, "venue.update")) == 1
    # Closed for bookings: listed among the inactive ones only.
    await senior.data(UPDATE, {"id": made["id"], "i": {"active": False}})
    closed = await walk(senior, VENUES, "venues", 20, act=False)
    assert [n["id"] for n in closed] == [made["id"]]
    assert made["id"] not in {n["id"] for n in await walk(senior, VENUES, "venues", 20, act=True)}
    # Another town's tenant and venues: refused as absent; members manage nothing.
    elsewhere = venue | {"tenantId": str(global_id("Tenant", await tenant_id(app, b.town)))}
    assert (await senior.error(CREATE, {"i": elsewhere}))["extensions"]["code"] == "FORBIDDEN"
    theirs = await room_of(app, b.town)
    error = await senior.error(UPDATE, {"id": vid(theirs.id), "i": {"active": False}})
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert (await member.error(CREATE, {"i": venue}))["extensions"]["code"] == "FORBIDDEN"


async def test_the_unique_index_alone_refuses_a_second_holder(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    """Under the service's checks, the database itself: two transactions inserting the same
    granule, the second waiting for the first; after its commit the second fails."""
    gql, app = fresh
    a, _, _ = await two_towns(app)
    member = await gql.as_user(a.username)
    room = await room_of(app, a.town)
    day = open_day(weeks=2)
    made = (await member.data(BOOK, booking(room.id, day, (9, 0), (9, 30))))["bookVenue"]
    granule = {
        "venue_id": room.id,
        "granule_start": at(day, 15).astimezone(UTC),
        "booking_id": pk(made["id"]),
    }
    engine = app.state.runtime.engine
    first = await engine.connect()
    second = await engine.connect()
    try:
        await first.begin()
        await first.execute(insert(VenueGranule).values(**granule))
        await second.begin()
        racing = asyncio.create_task(second.execute(insert(VenueGranule).values(**granule)))
        await asyncio.sleep(0.3)
        assert not racing.done()  # waiting on the first's uncommitted row (or write lock)
        await first.commit()
        with pytest.raises(IntegrityError):
            await racing
    finally:
        await second.rollback()
        await first.close()
        await second.close()
    async with engine.connect() as conn:
        count = await conn.scalar(
            select(func.count())
            .select_from(VenueGranule)
            .where(VenueGranule.granule_start == granule["granule_start"])
        )
    assert count == 1


# -- the day's edges, inactive venues, reminders and cancellation (review, second round) -----------

LATE_HOURS = [{"weekday": d, "opens": "00:00", "closes": "24:00"} for d in range(1, 8)]
VENUE_HOURS = "query($id: ID!) { venue(id: $id) { openingHours { weekday opens closes } } }"


async def late_venue(gql: GraphQLClient, app: Any, a: Account, closed: list[date]) -> int:
    """A venue of a's town open round the clock (00:00-24:00, Asia/Shanghai) every day but
    on `closed`."""
    senior = await gql.as_user(admin_of(a.town))
    made = await senior.data(
        CREATE,
        {
            "i": {
                "tenantId": str(global_id("Tenant", await tenant_id(app, a.town))),
                "kind": "MEETING_ROOM",
                "name": "夜校会议室",
                "address": "人民路 2 号",
                "capacity": 50,
                "openingHours": LATE_HOURS,
                "closedDates": [d.isoformat() for d in closed],
            }
        },
    )
    return pk(made["createVenue"]["id"])


async def remind(app: Any, now: datetime) -> int:
    async with app.state.runtime.write() as (conn, _outbox):
        return (await reminders.remind_venue_bookings(conn, now=now, tz=SHANGHAI)).created


async def venue_reminder(app: Any, booking_id: str) -> str | None:
    async with app.state.runtime.engine.connect() as conn:
        title = await conn.scalar(
            select(Reminder.title).where(
                Reminder.cause == "venue_booking", Reminder.cause_key == str(pk(booking_id))
            )
        )
    return None if title is None else str(title)


async def test_the_day_runs_from_opening_to_closing_in_local_time(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    a, _, _ = await two_towns(app)
    day = open_day()
    after, shut = day + timedelta(days=1), day + timedelta(days=2)
    venue = await late_venue(gql, app, a, [shut])
    member = await gql.as_user(a.username)
    shown = (await member.data(VENUE_HOURS, {"id": vid(venue)}))["venue"]["openingHours"]
    assert shown == LATE_HOURS  # "24:00" reads back as given
    # 07:00 local is 23:00 UTC the day before: the day is the local one.
    early = (await member.data(BOOK, booking(venue, day, (7, 0), (7, 30))))["bookVenue"]
    assert datetime.fromisoformat(early["startsAt"]) == at(day, 7)
    # Ending exactly at closing time (24:00, the next day's midnight) stands; past it is
    # refused on endsAt; the next day's first granule is that day's, and adjacent.
    last = booking(venue, day, (23, 0), (23, 30))
    last["i"]["endsAt"] = iso(at(after, 0))
    last = (await member.data(BOOK, last))["bookVenue"]
    assert datetime.fromisoformat(last["endsAt"]) == at(after, 0)
    over = booking(venue, day, (23, 30), (23, 30))
    over["i"]["endsAt"] = iso(at(after, 0, 30))
    error = await member.error(BOOK, over)
    assert error["extensions"]["argument"] == "endsAt", error
    assert "closes at 24:00 that day (00:00–24:00)" in error["message"], error
    dawn = (await member.data(BOOK, booking(venue, after, (0, 0), (0, 30))))["bookVenue"]
    assert dawn["status"] == "CONFIRMED"
    # A day open from 00:00 to 24:00: free until the closing instant.
    found = (await member.data(DAY, {"v": vid(venue), "d": day.isoformat()}))["venueAvailability"]
    assert datetime.fromisoformat(found["opensAt"]) == at(day, 0)
    assert datetime.fromisoformat(found["closesAt"]) == at(after, 0)
    spans = [
        [(datetime.fromisoformat(r["startsAt"]), datetime.fromisoformat(r["endsAt"])) for r in rs]
        for rs in (found["busy"], found["free"])
    ]
    assert spans == [
        [(at(day, 7), at(day, 7, 30)), (at(day, 23), at(after, 0))],
        [(at(day, 0), at(day, 7)), (at(day, 7, 30), at(day, 23))],
    ]
    # A closed date: closed all day, whatever its weekday's hours.
    error = await member.error(BOOK, booking(venue, shut, (9, 0), (10, 0)))
    assert error["extensions"]["argument"] == "startsAt" and "closed on" in error["message"]
    closed = (await member.data(DAY, {"v": vid(venue), "d": shut.isoformat()}))["venueAvailability"]
    assert (closed["open"], closed["free"], closed["closedReason"]) == (
        False,
        [],
        f"closed on {shut.isoformat()}",
    )
    # The reminder gives the local date and times (the UTC date is the day before).
    assert await remind(app, at(day, 7) - timedelta(hours=20)) == 1
    title = await venue_reminder(app, early["id"])
    assert title is not None and f"{day.month}月{day.day}日 07:00–07:30" in title, title
    # Beyond the day's notice (24 hours), nothing yet; within it, once.
    assert await remind(app, at(day, 23) - timedelta(hours=24, minutes=30)) == 0
    assert await remind(app, at(day, 23) - timedelta(hours=23, minutes=30)) == 1
    title = await venue_reminder(app, last["id"])
    assert title is not None and f"{day.month}月{day.day}日 23:00–24:00" in title, title


async def test_times_out_of_the_calendar_are_bad_input(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    a, _, _ = await two_towns(app)
    venue = await late_venue(gql, app, a, [])
    member = await gql.as_user(a.username)
    day = open_day()
    late = booking(venue, day, (9, 0), (10, 0))
    late["i"]["endsAt"] = "9999-12-31T23:30:00-12:00"
    early = booking(venue, day, (9, 0), (10, 0))
    early["i"]["startsAt"] = "0001-01-01T00:00:00+08:00"
    for variables, argument in ((late, "endsAt"), (early, "startsAt")):
        error = await member.error(BOOK, variables)
        assert (error["extensions"]["code"], error["extensions"]["argument"]) == (
            "BAD_USER_INPUT",
            argument,
        ), error
    # 0001-01-01 00:00 in Shanghai is before the first UTC instant.
    error = await member.error(DAY, {"v": vid(venue), "d": "0001-01-01"})
    assert (error["extensions"]["code"], error["extensions"]["argument"]) == (
        "BAD_USER_INPUT",
        "date",
    ), error
    # Beyond the booking horizon a day is open but has nothing free to book.
    far = open_day(weeks=30)
    found = (await member.data(DAY, {"v": vid(venue), "d": far.isoformat()}))["venueAvailability"]
    assert (found["open"], found["free"]) == (True, [])


async def test_an_inactive_venue_keeps_its_bookings(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    a, _, _ = await two_towns(app)
    member = await gql.as_user(a.username)
    room = await room_of(app, a.town)
    day = open_day()
    made = (await member.data(BOOK, booking(room.id, day, (9, 0), (10, 0))))["bookVenue"]
    senior = await gql.as_user(admin_of(a.town))
    await senior.data(UPDATE, {"id": vid(room.id), "i": {"active": False}})
    # The booking stands and holds its time; nothing is free to book any more.
    mine = (await member.data(MINE, {"s": "CONFIRMED"}))["myVenueBookings"]
    assert [e["node"]["id"] for e in mine["edges"]] == [made["id"]]
    found = (await member.data(DAY, {"v": vid(room.id), "d": day.isoformat()}))["venueAvailability"]
    assert found["free"] == [] and len(found["busy"]) == 1
    error = await member.error(BOOK, booking(room.id, day, (11, 0), (12, 0)))
    assert error["extensions"]["argument"] == "venueId"
    # It is reminded as any booking, and its booker can still cancel it.
    assert await remind(app, at(day, 9) - timedelta(hours=20)) == 1
    gone = (await member.data(CANCEL, {"id": made["id"]}))["cancelVenueBooking"]
    assert gone["status"] == "CANCELLED"


async def test_a_cancelled_booking_gets_no_reminder_to_come(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    a, _, _ = await two_towns(app)
    member = await gql.as_user(a.username)
    room = await room_of(app, a.town)
    day = open_day()
    # Reminded, then cancelled: the reminder now says it is cancelled.
    sent = (await member.data(BOOK, booking(room.id, day, (10, 0), (11, 0))))["bookVenue"]
    assert await remind(app, at(day, 10) - timedelta(hours=20)) == 1
    await member.data(CANCEL, {"id": sent["id"], "r": "改期"})
    title = await venue_reminder(app, sent["id"])
    assert title is not None and title.startswith("场馆预约已取消：") and "10:00–11:00" in title
    shown = (await member.data(MY_REMINDERS))["myReminders"]["edges"]
    assert [e["node"]["title"] for e in shown if e["node"]["cause"] == "VENUE_BOOKING"] == [title]
    # A cancellation racing the pass: the pass waits for it and reminds nothing.
    next_day = day + timedelta(days=1)
    racing = (await member.data(BOOK, booking(room.id, next_day, (9, 0), (10, 0))))["bookVenue"]
    engine = app.state.runtime.engine
    conn = await engine.connect()
    try:
        await conn.begin()
        found = await service.booking(conn, pk(racing["id"]))
        await service.cancel(
            conn,
            found=found,
            reason=None,
            actor=f"user:{a.username}",
            username=a.username,
            client=None,
            tz=SHANGHAI,
            now=datetime.now(UTC),
        )
        task = asyncio.create_task(remind(app, at(next_day, 9) - timedelta(hours=20)))
        await asyncio.sleep(0.5)
        assert not task.done()  # waiting for the cancellation's turn
        await conn.commit()
    finally:
        await conn.close()
    assert await task == 0
    assert await venue_reminder(app, racing["id"]) is None


async def test_a_venue_closed_while_a_booking_waits_refuses_it(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    """The admin closes the venue for bookings; a booking already past its first checks
    waits for that change and is refused, instead of landing on a closed venue."""
    gql, app = fresh
    a, _, _ = await two_towns(app)
    member = await gql.as_user(a.username)
    room = await room_of(app, a.town)
    day = open_day()
    conn = await app.state.runtime.engine.connect()
    try:
        await conn.begin()
        found = await service.venue_any(conn, room.id)
        await service.update_venue(
            conn,
            found=found,
            changes={"active": False},
            actor="user:" + admin_of(a.town),
            client=None,
            now=datetime.now(UTC),
        )
        task = asyncio.create_task(member.post(BOOK, booking(room.id, day, (9, 0), (10, 0))))
        await asyncio.sleep(0.5)
        assert not task.done()  # waiting for the change's turn
        await conn.commit()
    finally:
        await conn.close()
    answer = await task
    assert answer.get("errors"), answer
    assert answer["errors"][0]["extensions"]["argument"] == "venueId"
    async with app.state.runtime.engine.connect() as check:
        assert await check.scalar(select(func.count()).select_from(VenueBooking)) == 0


async def test_a_cancellation_waiting_on_the_pass_rewrites_its_reminder(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    """The other order of the race: the pass has made the reminder and not yet committed;
    the cancellation waits for it, then finds the reminder and rewrites it."""
    gql, app = fresh
    a, _, _ = await two_towns(app)
    member = await gql.as_user(a.username)
    room = await room_of(app, a.town)
    day = open_day()
    made = (await member.data(BOOK, booking(room.id, day, (15, 0), (16, 0))))["bookVenue"]
    conn = await app.state.runtime.engine.connect()
    try:
        await conn.begin()
        outcome = await reminders.remind_venue_bookings(
            conn, now=at(day, 15) - timedelta(hours=20), tz=SHANGHAI
        )
        assert outcome.created == 1
        task = asyncio.create_task(member.post(CANCEL, {"id": made["id"]}))
        await asyncio.sleep(0.5)
        assert not task.done()  # waiting for the pass's turn
        await conn.commit()
    finally:
        await conn.close()
    answer = await task
    assert answer["data"]["cancelVenueBooking"]["status"] == "CANCELLED", answer
    title = await venue_reminder(app, made["id"])
    assert title is not None and title.startswith("场馆预约已取消：") and "15:00–16:00" in title
