"""Member reminders, on SQLite and PostgreSQL: the scheduler's reminders pass (dues overdue,
travel without an approved declaration, political birthdays, assessment submissions due),
each reminder created once whatever the passes; the dates it decides by (grace period, the
district's time zone, Feb 29); and the GraphQL API: myReminders, reminders, duesLedger,
travelDeclarations, declareTravel, decideTravelDeclaration, recordTravel, recordDuesPayment,
with their scoping, validation and audit entries.

Every test makes its own rows on a fresh copy of the demo district and asserts on those: the
seeded ledger and trips give reminders of their own, which the assertions leave aside.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select, update

from schema.ids import global_id, parse_global_id
from server.audit.models import AuditEntry
from server.auth.models import User
from server.branches.models import Branch
from server.feed.models import Alert, FeedEventRow
from server.members.models import Member
from server.reminders import schedule, service
from server.reminders.models import DuesEntry, Reminder, TravelDeclaration, TravelRecord
from server.reminders.service import Cause
from server.venues.models import Venue, VenueBooking
from tenants.models import Tenant
from tests.conftest import GraphQLClient
from tests.test_assessment_schedule import launch, place

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 01:00 on Nov 28 in Shanghai, still Nov 27 in UTC.
LATE_EVENING_UTC = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)

MY = (
    "query($a: String) { myReminders(first: 50, after: $a) { totalCount"
    " edges { cursor node { id cause light title username member { id } } }"
    " pageInfo { hasNextPage endCursor } } }"
)
LIST = (
    "query($u: ID, $c: ReminderCause, $f: Int, $a: String) {"
    " reminders(under: $u, cause: $c, first: $f, after: $a) { totalCount"
    " edges { node { id cause title member { id } } } pageInfo { hasNextPage endCursor } } }"
)
LEDGER = (
    "query($m: ID!, $f: Int, $a: String) { duesLedger(memberId: $m, first: $f, after: $a) {"
    " totalCount edges { cursor node { month amount paidOn overdue } }"
    " pageInfo { hasNextPage endCursor } } }"
)
DECLARE = (
    "mutation($i: DeclareTravelInput!) { declareTravel(input: $i) {"
    " id status destination departsOn returnsOn decidedBy member { id } } }"
)
DECIDE = (
    "mutation($id: ID!, $ok: Boolean!) { decideTravelDeclaration(id: $id, approve: $ok) {"
    " id status decidedBy } }"
)
DECLARATIONS = (
    "query($u: ID, $s: TravelDeclarationStatus) { travelDeclarations(under: $u, status: $s,"
    " first: 100) { totalCount edges { node { id status member { id } } } } }"
)
RECORD = (
    "mutation($i: RecordTravelInput!) { recordTravel(input: $i) {"
    " id destination departedOn returnedOn member { id } } }"
)
PAY = (
    "mutation($m: ID!, $mo: String!, $p: Date!, $amt: Float) {"
    " recordDuesPayment(memberId: $m, month: $mo, paidOn: $p, amount: $amt) {"
    " id month amount paidOn overdue } }"
)


# -- helpers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    member_id: int
    name: str
    path: str
    username: str | None

    @property
    def gid(self) -> str:
        return str(global_id("Member", self.member_id))

    @property
    def town(self) -> str:
        """The code of its town (/d01/t01/... -> d01t01)."""
        return "".join(self.path.strip("/").split("/")[:2])


async def people(app: Any, *, accounts: bool) -> list[Person]:
    """Members (with a demo account, or without one) in id order, with their tenant path."""
    async with app.state.runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(Member.id, Member.name, Tenant.path, User.username)
                .join(Branch, Branch.id == Member.branch_id)
                .join(Tenant, Tenant.id == Branch.tenant_id)
                .outerjoin(User, User.member_id == Member.id)
                .where(User.id.is_not(None) if accounts else User.id.is_(None))
                .order_by(Member.id)
            )
        ).all()
    # Members of district-level branches have no town: tests that need one leave them aside.
    return [Person(r.id, r.name, r.path, r.username) for r in rows if r.path.count("/") > 2]


async def clean(app: Any, *persons: Person) -> None:
    """Forget what the seed gave these members to be reminded of: their dues and travel, and
    a joining date that is nobody's anniversary in the tests."""
    ids = [p.member_id for p in persons]
    async with app.state.runtime.engine.begin() as conn:
        for model in (DuesEntry, TravelRecord, TravelDeclaration):
            await conn.execute(delete(model).where(model.member_id.in_(ids)))
        await conn.execute(
            update(Member).where(Member.id.in_(ids)).values(joined_on=date(2000, 1, 15))
        )


async def two_towns(app: Any) -> tuple[Person, Person]:
    """Two members with accounts, in different towns."""
    found = await people(app, accounts=True)
    first = found[0]
    other = next(p for p in found if p.town != first.town)
    return first, other


async def run(app: Any, now: datetime) -> dict[Cause, int]:
    return await schedule.run(app.state.runtime, now)


async def reminders(app: Any, cause: Cause | None = None) -> list[Any]:
    stmt = select(Reminder).order_by(Reminder.id)
    if cause is not None:
        stmt = stmt.where(Reminder.cause == cause.value)
    async with app.state.runtime.engine.connect() as conn:
        return list((await conn.execute(stmt)).all())


async def keyed(app: Any, cause: Cause, key: str) -> list[Any]:
    return [r for r in await reminders(app, cause) if r.cause_key == key]


async def add(app: Any, model: Any, **values: Any) -> int:
    async with app.state.runtime.engine.begin() as conn:
        made = await conn.execute(insert(model).values(**values).returning(model.id))
        return int(made.scalar_one())


async def book_soon(app: Any, person: Person, starts_at: datetime) -> int:
    """A confirmed venue booking of `person` (a row, as bookVenue makes it), for the
    venue_booking cause (tests/test_venues.py books through the API)."""
    async with app.state.runtime.engine.begin() as conn:
        branch = await conn.scalar(select(Member.branch_id).where(Member.id == person.member_id))
        venue = await conn.scalar(select(func.min(Venue.id)))
        made = await conn.execute(
            insert(VenueBooking)
            .values(
                venue_id=venue,
                branch_id=branch,
                booked_by=person.username,
                member_id=person.member_id,
                purpose="主题党日",
                head_count=5,
                starts_at=starts_at,
                ends_at=starts_at + timedelta(hours=1),
                status="CONFIRMED",
                created_at=starts_at - timedelta(days=3),
            )
            .returning(VenueBooking.id)
        )
        return int(made.scalar_one())


async def set_joined(app: Any, member_id: int, joined: date) -> None:
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(update(Member).where(Member.id == member_id).values(joined_on=joined))


async def feed(app: Any, since: int = 0) -> list[dict[str, Any]]:
    async with app.state.runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    FeedEventRow.id, FeedEventRow.light, FeedEventRow.title, FeedEventRow.payload
                )
                .where(FeedEventRow.id > since)
                .order_by(FeedEventRow.id)
            )
        ).all()
    return [{"id": r.id, "light": r.light, "title": r.title, **json.loads(r.payload)} for r in rows]


async def last_event_id(app: Any) -> int:
    async with app.state.runtime.engine.connect() as conn:
        return int(await conn.scalar(select(func.coalesce(func.max(FeedEventRow.id), 0))) or 0)


async def alerts(app: Any) -> list[Any]:
    async with app.state.runtime.engine.connect() as conn:
        return list((await conn.execute(select(Alert).order_by(Alert.id))).all())


async def audited(app: Any, action: str) -> list[Any]:
    async with app.state.runtime.engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
                )
            ).all()
        )


def local_today() -> date:
    return datetime.now(UTC).astimezone(SHANGHAI).date()


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def ids(connection: dict[str, Any]) -> list[str]:
    return [e["node"]["id"] for e in connection["edges"]]


# -- dates ------------------------------------------------------------------------------------


def test_a_month_is_overdue_from_the_16th_day_after_its_end() -> None:
    assert service.overdue_through(date(2026, 11, 15)) == "2026-09"
    assert service.overdue_through(date(2026, 11, 16)) == "2026-10"
    assert service.overdue_through(date(2027, 1, 15)) == "2026-11"  # across the year's end
    assert service.overdue_through(date(2027, 1, 16)) == "2026-12"
    assert service.overdue_through(date(2027, 3, 15)) == "2027-01"  # February: 28 days
    assert service.overdue_through(date(2027, 3, 16)) == "2027-02"
    assert service.overdue_through(date(2028, 3, 15)) == "2028-01"  # a leap February: 29
    assert service.overdue_through(date(2028, 3, 16)) == "2028-02"
    assert not service.is_overdue("2026-10", date(2026, 10, 9), date(2027, 1, 1))  # paid
    assert service.is_overdue("2026-10", None, date(2026, 11, 16))


def test_feb_29_anniversaries_fall_on_feb_28_in_other_years() -> None:
    assert service.anniversary_days(date(2027, 2, 28)) == [(2, 28), (2, 29)]
    assert service.anniversary_days(date(2028, 2, 28)) == [(2, 28)]
    assert service.anniversary_days(date(2028, 2, 29)) == [(2, 29)]
    assert service.anniversary_days(date(2027, 3, 1)) == [(3, 1)]


def test_warnings_name_members_by_surname() -> None:
    assert service.masked_name("王伟") == "王某"
    assert service.masked_name("欧阳娜娜") == "欧阳某"


# -- the pass ---------------------------------------------------------------------------------


async def test_each_cause_is_reminded_once_across_two_passes(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    now = datetime.now(UTC)
    today = now.astimezone(SHANGHAI).date()
    debtor, traveller = await two_towns(app)
    greeted = (await people(app, accounts=False))[0]
    await clean(app, debtor, traveller, greeted)
    month = month_of(today - timedelta(days=60))  # surely past its grace period
    await add(app, DuesEntry, member_id=debtor.member_id, month=month, amount=12.5, paid_on=None)
    await set_joined(app, greeted.member_id, today.replace(year=today.year - 20))
    trip = await add(
        app,
        TravelRecord,
        member_id=traveller.member_id,
        destination="日本",
        departed_on=today - timedelta(days=30),
        returned_on=today - timedelta(days=20),
        recorded_at=now,
    )
    senior = await gql.as_user(f"admin.{debtor.town}")
    under, branches = await place(app, debtor.town)
    campaign = await launch(
        senior,
        under,
        branches[:2],
        methods={"ORGANIZATIONAL": 1},
        evaluators=[("ORGANIZATIONAL", str(debtor.username), None)],
        closes_in=timedelta(hours=12),
    )
    booking = await book_soon(app, debtor, now + timedelta(hours=12))
    before_events = await last_event_id(app)

    first = await run(app, now)
    assert all(first[cause] >= 1 for cause in Cause), first
    mine = {
        Cause.DUES_OVERDUE: f"{debtor.member_id}:{month}",
        Cause.TRAVEL_UNDECLARED: str(trip),
        Cause.POLITICAL_BIRTHDAY: f"{greeted.member_id}:{today.year}",
        Cause.ASSESSMENT_DUE: f"{campaign}:{debtor.username}",
        Cause.VENUE_BOOKING: str(booking),
    }
    for cause, key in mine.items():
        assert len(await keyed(app, cause, key)) == 1, cause
    made = await reminders(app)
    events = await feed(app, before_events)
    open_alerts = await alerts(app)

    # Again a minute later, and again at the same instant: nothing new anywhere.
    for later in (now + timedelta(minutes=1), now):
        assert await run(app, later) == dict.fromkeys(Cause, 0)
    assert await reminders(app) == made
    assert await feed(app, before_events) == events
    assert await alerts(app) == open_alerts
    # The dues and birthday events summarise per tenant; every reminder points at one.
    for cause in (Cause.DUES_OVERDUE, Cause.POLITICAL_BIRTHDAY, Cause.TRAVEL_UNDECLARED):
        assert all(r.event_id is not None for r in await reminders(app, cause))
    assert all(r.event_id is None for r in await reminders(app, Cause.ASSESSMENT_DUE))


async def test_dues_paid_in_time_give_no_reminder(fresh: tuple[GraphQLClient, Any]) -> None:
    _gql, app = fresh
    payer, late, debtor = (await people(app, accounts=False))[:3]
    await clean(app, payer, late, debtor)
    await add(app, DuesEntry, member_id=payer.member_id, month="2026-09", amount=8.0,
              paid_on=date(2026, 9, 12))  # fmt: skip
    # Paid after the month, within the grace period, and after it (before the pass).
    await add(app, DuesEntry, member_id=late.member_id, month="2026-09", amount=8.0,
              paid_on=date(2026, 10, 14))  # fmt: skip
    await add(app, DuesEntry, member_id=late.member_id, month="2026-08", amount=8.0,
              paid_on=date(2026, 11, 20))  # fmt: skip
    await add(app, DuesEntry, member_id=debtor.member_id, month="2026-09", amount=8.0,
              paid_on=None)  # fmt: skip
    before = await last_event_id(app)
    await run(app, LATE_EVENING_UTC)
    assert await keyed(app, Cause.DUES_OVERDUE, f"{payer.member_id}:2026-09") == []
    assert await keyed(app, Cause.DUES_OVERDUE, f"{late.member_id}:2026-09") == []
    assert await keyed(app, Cause.DUES_OVERDUE, f"{late.member_id}:2026-08") == []
    [reminder] = await keyed(app, Cause.DUES_OVERDUE, f"{debtor.member_id}:2026-09")
    assert reminder.light == "YELLOW" and "2026-09" in reminder.title
    assert reminder.member_id == debtor.member_id
    # Its summary: one YELLOW event for the debtor's tenant, counting members, not naming them.
    [event] = [e for e in await feed(app, before) if e["id"] == reminder.event_id]
    assert event["light"] == "YELLOW" and event["data"]["cause"] == "dues_overdue"
    assert event["tenant"]["path"] == debtor.path
    assert "党费逾期提醒" in event["title"] and "名党员" in event["title"]
    assert debtor.name not in event["title"]


async def test_dues_grace_period_ends_at_midnight_in_the_district(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    _gql, app = fresh
    member = (await people(app, accounts=False))[0]
    await clean(app, member)
    await add(app, DuesEntry, member_id=member.member_id, month="2026-10", amount=5.0,
              paid_on=None)  # fmt: skip
    key = f"{member.member_id}:2026-10"
    # 23:59 on Nov 15 in Shanghai: the last day of grace.
    await run(app, datetime(2026, 11, 15, 15, 59, tzinfo=UTC))
    assert await keyed(app, Cause.DUES_OVERDUE, key) == []
    # 00:00 on Nov 16 in Shanghai (still Nov 15 in UTC): overdue.
    await run(app, datetime(2026, 11, 15, 16, 0, tzinfo=UTC))
    assert len(await keyed(app, Cause.DUES_OVERDUE, key)) == 1


async def test_travel_within_an_approved_declaration_is_no_warning(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    member = (await people(app, accounts=False))[0]
    await clean(app, member)
    admin = await gql.as_user("admin")
    today = local_today()
    start, end = today - timedelta(days=60), today - timedelta(days=50)
    await add(app, TravelDeclaration, member_id=member.member_id, destination="新加坡",
              departs_on=start, returns_on=end, status="APPROVED", decided_by="admin",
              created_at=datetime.now(UTC) - timedelta(days=70))  # fmt: skip
    # A pending and a rejected declaration cover nothing.
    await add(app, TravelDeclaration, member_id=member.member_id, destination="泰国",
              departs_on=today - timedelta(days=40), returns_on=today - timedelta(days=30),
              status="PENDING", decided_by=None, created_at=datetime.now(UTC))  # fmt: skip
    await run(app, datetime.now(UTC))  # what the seed's trips give, out of the way
    alerts_before, events_before = len(await alerts(app)), await last_event_id(app)

    inside = await gql_record(admin, member, "新加坡", start + timedelta(days=1), end)
    assert await keyed(app, Cause.TRAVEL_UNDECLARED, str(inside)) == []
    assert len(await alerts(app)) == alerts_before

    # Back two days after the declared return: RED, at once (recordTravel checks the trip).
    longer = await gql_record(admin, member, "新加坡", start, end + timedelta(days=2))
    # Covered only by the pending declaration: RED too.
    pending = await gql_record(
        admin, member, "泰国", today - timedelta(days=39), today - timedelta(days=31)
    )
    for trip in (longer, pending):
        [reminder] = await keyed(app, Cause.TRAVEL_UNDECLARED, str(trip))
        assert reminder.light == "RED" and reminder.member_id == member.member_id
    new_alerts = (await alerts(app))[alerts_before:]
    assert [a.kind for a in new_alerts] == ["warning.travel_undeclared"] * 2
    assert all(a.light == "RED" and a.status == "OPEN" for a in new_alerts)
    events = [e for e in await feed(app, events_before) if e["data"].get("cause")]
    assert [e["data"]["travel_record"] for e in events] == [longer, pending]
    for event in events:
        assert event["light"] == "RED" and event["tenant"]["path"] == member.path
        assert event["branch"] is not None
        # The title names the member by surname only.
        assert member.name not in event["title"]
        assert f"{member.name[0]}某" in event["title"]
    # The scheduler's pass finds nothing more to say about them.
    assert (await run(app, datetime.now(UTC)))[Cause.TRAVEL_UNDECLARED] == 0


async def gql_record(
    admin: GraphQLClient, member: Person, where: str, left: date, back: date | None
) -> int:
    body = {
        "memberId": member.gid,
        "destination": where,
        "departedOn": left.isoformat(),
        "returnedOn": None if back is None else back.isoformat(),
    }
    made = (await admin.data(RECORD, {"i": body}))["recordTravel"]
    assert made["member"]["id"] == member.gid
    return parse_global_id(made["id"])[1]


async def test_a_trip_under_way_must_be_declared_through_today(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    _gql, app = fresh
    member = (await people(app, accounts=False))[0]
    await clean(app, member)
    now = LATE_EVENING_UTC  # Nov 28 in Shanghai
    await add(app, TravelDeclaration, member_id=member.member_id, destination="日本",
              departs_on=date(2026, 11, 20), returns_on=date(2026, 11, 28), status="APPROVED",
              decided_by="admin", created_at=now - timedelta(days=20))  # fmt: skip
    trip = await add(app, TravelRecord, member_id=member.member_id, destination="日本",
                     departed_on=date(2026, 11, 20), returned_on=None,
                     recorded_at=now - timedelta(days=8))  # fmt: skip
    await run(app, now)
    assert await keyed(app, Cause.TRAVEL_UNDECLARED, str(trip)) == []
    # Still away the day after the declared return.
    await run(app, now + timedelta(days=1))
    assert len(await keyed(app, Cause.TRAVEL_UNDECLARED, str(trip))) == 1


async def test_political_birthdays_follow_the_district_time_zone(
    fresh: tuple[GraphQLClient, Any], monkeypatch: Any
) -> None:
    _gql, app = fresh
    nov28, nov27, newcomer = (await people(app, accounts=False))[:3]
    await set_joined(app, nov28.member_id, date(2006, 11, 28))
    await set_joined(app, nov27.member_id, date(2011, 11, 27))
    await set_joined(app, newcomer.member_id, date(2026, 11, 28))  # joined today: no anniversary
    before = await last_event_id(app)

    # 2026-11-27T17:00Z is Nov 28 in Shanghai.
    await run(app, LATE_EVENING_UTC)
    [greeting] = await keyed(app, Cause.POLITICAL_BIRTHDAY, f"{nov28.member_id}:2026")
    assert greeting.light == "GREEN" and "20 周年" in greeting.title
    assert await keyed(app, Cause.POLITICAL_BIRTHDAY, f"{nov27.member_id}:2026") == []
    assert await keyed(app, Cause.POLITICAL_BIRTHDAY, f"{newcomer.member_id}:2026") == []
    [event] = [e for e in await feed(app, before) if e["id"] == greeting.event_id]
    assert event["light"] == "GREEN" and event["data"]["cause"] == "political_birthday"
    assert event["tenant"]["path"] == nov28.path and "政治生日" in event["title"]

    # The same instant in a district on UTC is still Nov 27.
    monkeypatch.setattr(app.state.runtime, "timezone", ZoneInfo("UTC"))
    await run(app, LATE_EVENING_UTC)
    [greeting] = await keyed(app, Cause.POLITICAL_BIRTHDAY, f"{nov27.member_id}:2026")
    assert "15 周年" in greeting.title


async def test_feb_29_joiners_are_greeted_once_a_year(fresh: tuple[GraphQLClient, Any]) -> None:
    _gql, app = fresh
    leap, feb28 = (await people(app, accounts=False))[:2]
    await set_joined(app, leap.member_id, date(2004, 2, 29))
    await set_joined(app, feb28.member_id, date(2005, 2, 28))
    noon = {day: datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=4)
            for day in (date(2027, 2, 28), date(2027, 3, 1), date(2028, 2, 28),
                        date(2028, 2, 29))}  # fmt: skip
    await run(app, noon[date(2027, 2, 28)])
    assert len(await keyed(app, Cause.POLITICAL_BIRTHDAY, f"{leap.member_id}:2027")) == 1
    assert len(await keyed(app, Cause.POLITICAL_BIRTHDAY, f"{feb28.member_id}:2027")) == 1
    await run(app, noon[date(2027, 3, 1)])
    assert len(await keyed(app, Cause.POLITICAL_BIRTHDAY, f"{leap.member_id}:2027")) == 1
    # A leap year: Feb 29 itself, not Feb 28.
    await run(app, noon[date(2028, 2, 28)])
    assert await keyed(app, Cause.POLITICAL_BIRTHDAY, f"{leap.member_id}:2028") == []
    assert len(await keyed(app, Cause.POLITICAL_BIRTHDAY, f"{feb28.member_id}:2028")) == 1
    await run(app, noon[date(2028, 2, 29)])
    assert len(await keyed(app, Cause.POLITICAL_BIRTHDAY, f"{leap.member_id}:2028")) == 1


async def test_assessment_due_reminds_evaluators_who_still_owe(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    member = (await people(app, accounts=True))[0]
    senior = await gql.as_user(f"admin.{member.town}")
    under, branches = await place(app, member.town)
    t1, t2 = branches[:2]
    soon = await launch(
        senior,
        under,
        [t1, t2],
        methods={"SELF": 1, "ORGANIZATIONAL": 1},
        evaluators=[
            ("ORGANIZATIONAL", f"admin.{member.town}", None),  # owes both branches
            ("SELF", str(member.username), t1),
        ],
        closes_in=timedelta(hours=20),
    )
    later = await launch(
        senior,
        under,
        [t1],
        methods={"SELF": 1},
        evaluators=[("SELF", str(member.username), t1)],
        closes_in=timedelta(days=3),
    )
    before = await last_event_id(app)
    created = await run(app, datetime.now(UTC))
    assert created[Cause.ASSESSMENT_DUE] == 2
    rows = {r.cause_key: r for r in await reminders(app, Cause.ASSESSMENT_DUE)}
    admin_row = rows[f"{soon}:admin.{member.town}"]
    member_row = rows[f"{soon}:{member.username}"]
    assert admin_row.member_id is None and admin_row.username == f"admin.{member.town}"
    assert "2 项未提交" in admin_row.title
    assert member_row.member_id == member.member_id and "1 项未提交" in member_row.title
    assert not any(key.startswith(f"{later}:") for key in rows)
    # The assessment module announces it in the feed; the reminders add no event of their own.
    assert not [e for e in await feed(app, before) if e["data"].get("cause") == "assessment_due"]
    assert (await run(app, datetime.now(UTC)))[Cause.ASSESSMENT_DUE] == 0

    # Each evaluator reads its own, by member or by username.
    own = (await (await gql.as_user(str(member.username))).data(MY))["myReminders"]
    assert global_id("Reminder", member_row.id) in ids(own)
    admin_own = (await senior.data(MY))["myReminders"]
    assert ids(admin_own) == [global_id("Reminder", admin_row.id)]
    assert admin_own["edges"][0]["node"]["member"] is None


# -- reading ----------------------------------------------------------------------------------


async def test_my_reminders_are_the_members_own_newest_first(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    me, other = await two_towns(app)
    await clean(app, me, other)
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(delete(Reminder))
    for month in ("2026-06", "2026-07", "2026-08"):
        for who in (me, other):
            await add(app, DuesEntry, member_id=who.member_id, month=month, amount=3.0,
                      paid_on=None)  # fmt: skip
    await run(app, LATE_EVENING_UTC)
    mine = await keyed_ids(app, me.member_id)
    assert len(mine) == 3
    client = await gql.as_user(str(me.username))
    first = (await client.data(MY.replace("first: 50", "first: 2")))["myReminders"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
    rest = (
        await client.data(
            MY.replace("first: 50", "first: 2"), {"a": first["pageInfo"]["endCursor"]}
        )
    )["myReminders"]
    assert ids(first) + ids(rest) == [global_id("Reminder", i) for i in sorted(mine)[::-1]]
    assert {e["node"]["member"]["id"] for e in first["edges"]} == {me.gid}
    assert all(e["node"]["cause"] == "DUES_OVERDUE" for e in first["edges"] + rest["edges"])


async def keyed_ids(app: Any, member_id: int) -> list[int]:
    return [r.id for r in await reminders(app) if r.member_id == member_id]


async def test_reminders_are_scoped_to_the_admins_subtree(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    here, there = await two_towns(app)
    await clean(app, here, there)
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(delete(Reminder))
    for who in (here, there):
        await add(app, DuesEntry, member_id=who.member_id, month="2026-08", amount=3.0,
                  paid_on=None)  # fmt: skip
        await set_joined(app, who.member_id, date(2000, 11, 28))
    await run(app, LATE_EVENING_UTC)
    by_member = {
        r.member_id: r for r in await reminders(app) if r.cause == Cause.DUES_OVERDUE.value
    }
    greeted = {
        r.member_id: r for r in await reminders(app) if r.cause == Cause.POLITICAL_BIRTHDAY.value
    }

    # The district sees both; a town's admin only its own town's.
    district = (await gql.data(LIST, {"c": "DUES_OVERDUE", "f": 100}))["reminders"]
    assert {global_id("Reminder", by_member[p.member_id].id) for p in (here, there)} <= set(
        ids(district)
    )
    senior = await gql.as_user(f"admin.{here.town}")
    town = (await senior.data(LIST, {"f": 100}))["reminders"]
    town_members = {e["node"]["member"]["id"] for e in town["edges"]}
    assert here.gid in town_members and there.gid not in town_members
    assert town["totalCount"] == len(town["edges"])
    # `cause` narrows; `under` a tenant outside the scope is empty, not an error.
    dues_only = (await senior.data(LIST, {"c": "DUES_OVERDUE", "f": 100}))["reminders"]
    assert {e["node"]["cause"] for e in dues_only["edges"]} == {"DUES_OVERDUE"}
    assert global_id("Reminder", greeted[here.member_id].id) not in ids(dues_only)
    other_town, _ = await place(app, there.town)
    outside = (await senior.data(LIST, {"u": other_town}))["reminders"]
    assert outside == {"totalCount": 0, "edges": [], "pageInfo": outside["pageInfo"]}
    # A member reads its own there too, nobody else's.
    member = await gql.as_user(str(here.username))
    own = (await member.data(LIST, {"f": 100}))["reminders"]
    assert {e["node"]["member"]["id"] for e in own["edges"]} == {here.gid}
    # Without a token, nothing.
    error = await gql.anonymous().error(LIST)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_dues_ledger_is_read_by_admins_in_scope_and_the_member(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    me, other = await two_towns(app)
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(delete(DuesEntry).where(DuesEntry.member_id == me.member_id))
    for month, paid in (("2026-07", date(2026, 7, 3)), ("2026-08", None), ("2026-09", None)):
        await add(app, DuesEntry, member_id=me.member_id, month=month, amount=6.5,
                  paid_on=paid)  # fmt: skip
    own = await gql.as_user(str(me.username))
    page = (await own.data(LEDGER, {"m": me.gid, "f": 2}))["duesLedger"]
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"]
    assert [e["node"]["month"] for e in page["edges"]] == ["2026-09", "2026-08"]
    assert all(e["node"]["overdue"] for e in page["edges"])  # unpaid long past their grace
    rest = await own.data(LEDGER, {"m": me.gid, "f": 2, "a": page["pageInfo"]["endCursor"]})
    assert [e["node"] for e in rest["duesLedger"]["edges"]] == [
        {"month": "2026-07", "amount": 6.5, "paidOn": "2026-07-03", "overdue": False}
    ]
    assert not rest["duesLedger"]["pageInfo"]["hasNextPage"]
    # The admins above it read it; another town's admin and another member read nothing.
    assert (await gql.data(LEDGER, {"m": me.gid}))["duesLedger"]["totalCount"] == 3
    junior = await gql.as_user("admin." + "".join(me.path.strip("/").split("/")))
    assert (await junior.data(LEDGER, {"m": me.gid}))["duesLedger"]["totalCount"] == 3
    stranger = await gql.as_user(f"admin.{other.town}")
    assert (await stranger.data(LEDGER, {"m": me.gid}))["duesLedger"] == {
        "totalCount": 0,
        "edges": [],
        "pageInfo": {"hasNextPage": False, "endCursor": None},
    }
    neighbour = await gql.as_user(str(other.username))
    assert (await neighbour.data(LEDGER, {"m": me.gid}))["duesLedger"]["totalCount"] == 0
    error = await own.error(LEDGER, {"m": str(global_id("Branch", 1))})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "memberId"}


# -- writing ----------------------------------------------------------------------------------


async def test_travel_declaration_flow(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    me, other = await two_towns(app)
    member = await gql.as_user(str(me.username))
    today = local_today()
    trip = {
        "destination": " 马来西亚 ",
        "departsOn": (today + timedelta(days=10)).isoformat(),
        "returnsOn": (today + timedelta(days=17)).isoformat(),
    }
    made = (await member.data(DECLARE, {"i": trip}))["declareTravel"]
    assert made["status"] == "PENDING" and made["destination"] == "马来西亚"
    assert made["member"]["id"] == me.gid and made["decidedBy"] is None
    [entry] = await audited(app, "reminder.travel.declare")
    assert entry.principal == f"user:{me.username}" and entry.tenant_path == me.path

    # The admins of its subtree see it pending; another town's do not.
    senior = await gql.as_user(f"admin.{me.town}")
    pending = (await senior.data(DECLARATIONS, {"s": "PENDING"}))["travelDeclarations"]
    assert made["id"] in ids(pending)
    stranger = await gql.as_user(f"admin.{other.town}")
    assert made["id"] not in ids((await stranger.data(DECLARATIONS))["travelDeclarations"])
    assert made["id"] in ids((await member.data(DECLARATIONS))["travelDeclarations"])

    # Deciding: not by another town's admin, not by the member (no MEMBER write), once.
    for refused in (stranger, member):
        error = await refused.error(DECIDE, {"id": made["id"], "ok": True})
        assert error["extensions"]["code"] == "FORBIDDEN"
    decided = (await senior.data(DECIDE, {"id": made["id"], "ok": True}))["decideTravelDeclaration"]
    assert decided == {"id": made["id"], "status": "APPROVED", "decidedBy": f"user:admin.{me.town}"}
    error = await senior.error(DECIDE, {"id": made["id"], "ok": False})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "id"}
    assert len(await audited(app, "reminder.travel.decide")) == 1
    # An id that does not exist is refused like one out of reach.
    missing = str(global_id("TravelDeclaration", 999_999))
    assert (await senior.error(DECIDE, {"id": missing, "ok": True}))["extensions"][
        "code"
    ] == "FORBIDDEN"


async def test_declare_travel_validates_its_input(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    me = (await people(app, accounts=True))[0]
    member = await gql.as_user(str(me.username))
    today = local_today()
    seeded = await declarations_of(app, me.member_id)

    def trip(depart: int, back: int, where: str = "日本") -> dict[str, Any]:
        return {
            "i": {
                "destination": where,
                "departsOn": (today + timedelta(days=depart)).isoformat(),
                "returnsOn": (today + timedelta(days=back)).isoformat(),
            }
        }

    for variables, argument in (
        (trip(5, 3), "returnsOn"),
        (trip(-1, 3), "departsOn"),
        (trip(5, 400), "returnsOn"),
        (trip(5, 8, "   "), "destination"),
        (trip(5, 8, "远" * 101), "destination"),
    ):
        error = await member.error(DECLARE, variables)
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}
    # Admins are not members: they declare nothing.
    error = await gql.error(DECLARE, trip(5, 8))
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert await audited(app, "reminder.travel.declare") == []
    assert await declarations_of(app, me.member_id) == seeded


async def declarations_of(app: Any, member_id: int) -> list[Any]:
    async with app.state.runtime.engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    select(TravelDeclaration)
                    .where(TravelDeclaration.member_id == member_id)
                    .order_by(TravelDeclaration.id)
                )
            ).all()
        )


async def test_record_travel_validates_and_checks_scope(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    me, other = await two_towns(app)
    senior = await gql.as_user(f"admin.{me.town}")
    today = local_today()

    def body(member: Person, left: int, back: int | None) -> dict[str, Any]:
        return {
            "i": {
                "memberId": member.gid,
                "destination": "韩国",
                "departedOn": (today + timedelta(days=left)).isoformat(),
                "returnedOn": None if back is None else (today + timedelta(days=back)).isoformat(),
            }
        }

    for variables, argument in (
        (body(me, 1, None), "departedOn"),
        (body(me, -5, -7), "returnedOn"),
        (body(me, -5, 1), "returnedOn"),
    ):
        error = await senior.error(RECORD, variables)
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}
    wrong = body(me, -5, -2)
    wrong["i"]["memberId"] = str(global_id("Branch", 1))
    assert (await senior.error(RECORD, wrong))["extensions"]["argument"] == "memberId"
    # Another town's member, a member that does not exist, a member recording: refused.
    ghost = Person(999_999, "无名", "/", None)
    for client, who in ((senior, other), (senior, ghost)):
        assert (await client.error(RECORD, body(who, -5, -2)))["extensions"]["code"] == "FORBIDDEN"
    member = await gql.as_user(str(me.username))
    assert (await member.error(RECORD, body(me, -5, -2)))["extensions"]["code"] == "FORBIDDEN"
    # A trip under way (no return yet) is recorded, audited, and warned about.
    made = (await senior.data(RECORD, body(me, -3, None)))["recordTravel"]
    assert made["returnedOn"] is None
    [entry] = await audited(app, "reminder.travel.record")
    assert entry.tenant_path == me.path and entry.subject == str(parse_global_id(made["id"])[1])
    assert len(await keyed(app, Cause.TRAVEL_UNDECLARED, entry.subject)) == 1


async def test_record_dues_payment(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    me, other = await two_towns(app)
    senior = await gql.as_user(f"admin.{me.town}")
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(delete(DuesEntry).where(DuesEntry.member_id == me.member_id))
    await add(app, DuesEntry, member_id=me.member_id, month="2026-08", amount=9.0,
              paid_on=None)  # fmt: skip
    today = local_today()

    def pay(month: str, paid: date, amount: float | None = None) -> dict[str, Any]:
        return {"m": me.gid, "mo": month, "p": paid.isoformat(), "amt": amount}

    paid = (await senior.data(PAY, pay("2026-08", date(2026, 11, 2))))["recordDuesPayment"]
    assert paid["month"] == "2026-08" and paid["amount"] == 9.0
    assert paid["paidOn"] == "2026-11-02" and paid["overdue"] is False
    # A month the ledger does not hold needs the amount; then it is added, paid.
    this_month = month_of(today)
    error = await senior.error(PAY, pay(this_month, today))
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "amount"}
    added = (await senior.data(PAY, pay(this_month, today, 12.0)))["recordDuesPayment"]
    assert added["amount"] == 12.0 and added["paidOn"] == today.isoformat()
    for variables, argument in (
        (pay("2026-08", date(2026, 11, 3)), "month"),  # paid already
        (pay("2026-8", today, 1.0), "month"),
        (pay("2026-13", today, 1.0), "month"),
        (pay(month_of(today + timedelta(days=40)), today, 1.0), "month"),
        (pay("2026-01", today + timedelta(days=1), 1.0), "paidOn"),
        (pay("2026-01", today, -1.0), "amount"),
    ):
        error = await senior.error(PAY, variables)
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}
    entries = await audited(app, "reminder.dues.pay")
    assert [json.loads(e.detail)["month"] for e in entries] == ["2026-08", this_month]
    # Out of reach: another town's admin; a member (no MEMBER write); nothing written.
    stranger = await gql.as_user(f"admin.{other.town}")
    member = await gql.as_user(str(me.username))
    for client in (stranger, member):
        error = await client.error(PAY, pay("2026-07", date(2026, 7, 9), 9.0))
        assert error["extensions"]["code"] == "FORBIDDEN"
    ledger = (await member.data(LEDGER, {"m": me.gid}))["duesLedger"]
    assert [e["node"]["month"] for e in ledger["edges"]] == [this_month, "2026-08"]
