"""Red lecturers and their bookings, on SQLite and PostgreSQL: the register's scoping (a
reader's subtree and the tenants above it) checked against the seeded rows, registering and
editing with bad input named by field, booking rules, no double booking (also when many
requests race for one slot), accepting and declining by the lecturer's own account only,
cancelling, freed slots, the bookings' scoping, and the audit of every change."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from schema import lecturers as lecturer_schema
from schema.ids import global_id, parse_global_id
from server.audit.models import AuditEntry
from server.lecturers import service as lecturer_service
from server.lecturers.demo import lecturer_rows
from server.lecturers.models import Lecturer, LecturerBooking, LecturerSlotHold
from tenants.demo import DemoData, demo_accounts
from tenants.paths import ancestors, is_within
from tests.conftest import AS_OF, TEMPLATE_SEED, GraphQLClient
from tests.test_query_counts import statements

Json = dict[str, Any]

LECTURERS = """query($under: ID, $search: String, $active: Boolean, $first: Int, $after: String) {
  lecturers(under: $under, search: $search, active: $active, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id name title affiliation topics active account
                          tenant { code path } } } } }"""
LECTURER = "query($id: ID!) { lecturer(id: $id) { id name account tenant { code } } }"
REGISTER = """mutation($i: RegisterLecturerInput!) { registerLecturer(input: $i) {
  id name title affiliation topics bio active account tenant { code } } }"""
UPDATE = """mutation($id: ID!, $i: UpdateLecturerInput!) { updateLecturer(id: $id, input: $i) {
  id name topics active account } }"""
BOOKING_FIELDS = """id topic date slot status note bookedBy decidedBy branchId branchName
  tenant { code } lecturer { id name }"""
BOOK = f"""mutation($i: BookLecturerInput!) {{ bookLecturer(input: $i) {{ {BOOKING_FIELDS} }} }}"""
ACCEPT = f"""mutation($id: ID!, $note: String) {{ acceptLecturerBooking(id: $id, note: $note) {{
  {BOOKING_FIELDS} }} }}"""
DECLINE = f"""mutation($id: ID!, $note: String!) {{ declineLecturerBooking(id: $id, note: $note)
  {{ {BOOKING_FIELDS} }} }}"""
CANCEL = f"""mutation($id: ID!, $reason: String) {{ cancelLecturerBooking(id: $id, reason: $reason)
  {{ {BOOKING_FIELDS} }} }}"""
BOOKINGS = f"""query($under: ID, $lecturer: ID, $statuses: [LecturerBookingStatus!], $first: Int,
  $after: String) {{ lecturerBookings(under: $under, lecturerId: $lecturer, statuses: $statuses,
  first: $first, after: $after) {{ totalCount pageInfo {{ hasNextPage endCursor }}
  edges {{ node {{ {BOOKING_FIELDS} }} }} }} }}"""
MINE = f"""query($statuses: [LecturerBookingStatus!]) {{ myLecturerBookings(statuses: $statuses)
  {{ totalCount edges {{ node {{ {BOOKING_FIELDS} }} }} }} }}"""


# -- the oracle ---------------------------------------------------------------------------------


def seeded_lecturers(demo: DemoData) -> list[Json]:
    rows: list[Json] = lecturer_rows(demo, seed=TEMPLATE_SEED, as_of=AS_OF)[0][1]
    return rows


def seeded_bookings(demo: DemoData) -> list[Json]:
    rows: list[Json] = lecturer_rows(demo, seed=TEMPLATE_SEED, as_of=AS_OF)[1][1]
    return rows


def paths(demo: DemoData) -> dict[int, str]:
    return {t["id"]: t["path"] for t in demo.tenants}


def tenant_gid(demo: DemoData, code: str) -> str:
    return str(global_id("Tenant", next(t["id"] for t in demo.tenants if t["code"] == code)))


def branch_of(demo: DemoData, code: str) -> int:
    tenant = next(t["id"] for t in demo.tenants if t["code"] == code)
    return int(next(b["id"] for b in demo.branches if b["tenant_id"] == tenant))


def member_home(demo: DemoData, username: str) -> str:
    """The tenant path a demo member account is bound at (its branch's tenant)."""
    branch = {b["id"]: b["tenant_id"] for b in demo.branches}
    member = {m["id"]: m["branch_id"] for m in demo.members}
    ids = dict(demo_accounts(demo, seed=TEMPLATE_SEED))
    member_id = ids[username]
    assert member_id is not None
    return paths(demo)[branch[member[member_id]]]


def sees(path: str, root: str) -> bool:
    """The documented rule: the reader's subtree, and every tenant above it."""
    return is_within(path, root) or path in ancestors(root)


def lid(pk: int) -> str:
    return str(global_id("Lecturer", pk))


def pk(gid: str) -> int:
    return parse_global_id(gid)[1]


async def every_page(client: GraphQLClient, query: str, field: str, **variables: Any) -> list[Json]:
    """Every node of a list, following `after` three at a time; checks the page links."""
    nodes: list[Json] = []
    after = None
    total = None
    while True:
        page = (await client.data(query, {**variables, "first": 3, "after": after}))[field]
        total = page["totalCount"] if total is None else total
        assert page["totalCount"] == total
        nodes += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            assert len(nodes) == total
            return nodes
        after = page["pageInfo"]["endCursor"]


def in_days(n: int) -> str:
    return (date.today() + timedelta(days=n)).isoformat()


async def audit_details(app: Any, action: str) -> list[tuple[str, str | None, Json]]:
    async with app.state.runtime.engine.connect() as conn:
        rows = await conn.execute(
            select(AuditEntry.action, AuditEntry.subject, AuditEntry.detail)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.id)
        )
        return [(r.action, r.subject, json.loads(r.detail)) for r in rows]


async def audit_actions(app: Any, prefix: str) -> list[tuple[str, str | None, str]]:
    async with app.state.runtime.engine.connect() as conn:
        rows = await conn.execute(
            select(AuditEntry.action, AuditEntry.subject, AuditEntry.principal)
            .where(AuditEntry.action.like(prefix + "%"))
            .order_by(AuditEntry.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


# -- the register ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "root"),
    [
        ("admin", "/d01/"),
        ("admin.d01t01", "/d01/t01/"),
        ("admin.d01t02v006", "/d01/t02/v006/"),
        ("m.39", None),  # a member: its branch's tenant
        ("m.13", None),
    ],
)
async def test_readers_see_their_subtree_and_above(
    client: GraphQLClient, demo: DemoData, username: str, root: str | None
) -> None:
    reader = await client.as_user(username)
    root = root or member_home(demo, username)
    where = paths(demo)
    expected = sorted(r["id"] for r in seeded_lecturers(demo) if sees(where[r["tenant_id"]], root))
    nodes = await every_page(reader, LECTURERS, "lecturers")
    assert sorted(pk(n["id"]) for n in nodes) == expected
    assert [pk(n["id"]) for n in nodes] == sorted(pk(n["id"]) for n in nodes)  # id order
    assert all(sees(n["tenant"]["path"], root) for n in nodes)
    # Lecturers elsewhere are absent, one by one too.
    hidden = [r["id"] for r in seeded_lecturers(demo) if r["id"] not in expected]
    for lecturer in hidden[:3]:
        assert (await reader.data(LECTURER, {"id": lid(lecturer)}))["lecturer"] is None


async def test_under_search_and_active_narrow_the_register(
    client: GraphQLClient, demo: DemoData
) -> None:
    admin = await client.as_user("admin")
    where = paths(demo)
    under = await every_page(admin, LECTURERS, "lecturers", under=tenant_gid(demo, "d01t01v002"))
    assert sorted(pk(n["id"]) for n in under) == sorted(
        r["id"] for r in seeded_lecturers(demo) if sees(where[r["tenant_id"]], "/d01/t01/v002/")
    )
    topic = json.loads(seeded_lecturers(demo)[0]["topics"])[0]
    found = await every_page(admin, LECTURERS, "lecturers", search=topic)
    assert sorted(pk(n["id"]) for n in found) == sorted(
        r["id"] for r in seeded_lecturers(demo) if topic in json.loads(r["topics"])
    )
    assert all(topic in n["topics"] for n in found)
    # A wildcard is searched for, not obeyed.
    assert (await admin.data(LECTURERS, {"search": "%"}))["lecturers"]["totalCount"] == 0
    active = await every_page(admin, LECTURERS, "lecturers", active=True)
    assert len(active) == sum(1 for r in seeded_lecturers(demo) if r["active"])
    # A member does not see the linked account; the admin who may edit the lecturer does.
    [first] = [n for n in under if pk(n["id"]) == 1]
    assert first["account"] == "m.10"
    member = await client.as_user("m.83")
    one = (await member.data(LECTURER, {"id": lid(1)}))["lecturer"]
    assert one == {"id": lid(1), "name": first["name"], "account": None, "tenant": {"code": "d01"}}


async def test_admins_register_and_edit_in_their_subtree_only(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, app = fresh
    junior = await client.as_user("admin.d01t01v001")
    data = {
        "tenantId": tenant_gid(demo, "d01t01v001"),
        "name": " 王红 ",
        "title": "老党员",
        "affiliation": "村党支部",
        "topics": ["红色故事", "党史"],
        "bio": "退休教师",
        "account": "m.39",
    }
    made = (await junior.data(REGISTER, {"i": data}))["registerLecturer"]
    assert made["name"] == "王红" and made["topics"] == ["红色故事", "党史"]
    assert made["tenant"] == {"code": "d01t01v001"} and made["account"] == "m.39"
    assert made["active"] is True
    # The village's members see it; another town's do not.
    assert (await (await client.as_user("m.55")).data(LECTURER, {"id": made["id"]}))["lecturer"]
    assert not (await (await client.as_user("m.211")).data(LECTURER, {"id": made["id"]}))[
        "lecturer"
    ]
    # Elsewhere: the refusal an absent tenant gets.
    for code in ("d01t01v002", "d01t01", "d01"):
        error = await junior.error(REGISTER, {"i": {**data, "tenantId": tenant_gid(demo, code)}})
        assert error["extensions"]["code"] == "FORBIDDEN", code
    absent = await junior.error(
        REGISTER, {"i": {**data, "tenantId": str(global_id("Tenant", 999))}}
    )
    assert absent["extensions"]["code"] == "FORBIDDEN"
    assert absent["message"] == error["message"]
    # Members never register.
    member = await client.as_user("m.39")
    assert (await member.error(REGISTER, {"i": data}))["extensions"]["code"] == "FORBIDDEN"
    # Bad input names its field.
    for change, argument in [
        ({"name": " "}, "name"),
        ({"title": "x" * 101}, "title"),
        ({"topics": []}, "topics"),
        ({"topics": ["党史", "党史"]}, "topics"),
        ({"account": "nobody"}, "account"),
        ({"account": "m.10"}, "account"),  # linked to lecturer 1 already
        ({"tenantId": lid(1)}, "tenantId"),
    ]:
        error = await junior.error(REGISTER, {"i": {**data, **change}})
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}, change
    # Editing: the given fields replace the stored ones.
    edited = (
        await junior.data(
            UPDATE, {"id": made["id"], "i": {"topics": ["廉政教育"], "active": False}}
        )
    )["updateLecturer"]
    assert edited == {
        "id": made["id"],
        "name": "王红",
        "topics": ["廉政教育"],
        "active": False,
        "account": "m.39",
    }
    unlinked = await junior.data(UPDATE, {"id": made["id"], "i": {"account": ""}})
    assert unlinked["updateLecturer"]["account"] is None
    # A lecturer above the junior admin's village is not its to edit.
    error = await junior.error(UPDATE, {"id": lid(1), "i": {"name": "改名"}})
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert [(a, s) for a, s, _ in await audit_actions(app, "lecturer.")] == [
        ("lecturer.register", str(pk(made["id"]))),
        ("lecturer.update", str(pk(made["id"]))),
        ("lecturer.update", str(pk(made["id"]))),
    ]


async def test_an_account_lost_to_a_concurrent_link_is_bad_input(
    fresh: tuple[GraphQLClient, Any], demo: DemoData, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests may both pass the check that an account is free; the unique index then
    refuses the second, which must be BAD_USER_INPUT on `account` (not an internal error),
    leaving nothing behind."""
    client, app = fresh
    junior = await client.as_user("admin.d01t01v001")
    data = {
        "tenantId": tenant_gid(demo, "d01t01v001"),
        "name": "李明",
        "title": "老党员",
        "affiliation": "村党支部",
        "topics": ["党史"],
    }
    made = (await junior.data(REGISTER, {"i": data}))["registerLecturer"]
    error = await junior.error(REGISTER, {"i": {**data, "account": "m." + "9" * 64}})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "account"}

    async def passes(*_args: Any) -> None:
        """The check as the loser of the race saw it: the account still free."""

    monkeypatch.setattr(lecturer_service, "_check_account", passes)
    linked = "m.10"  # lecturer 1's
    for query, variables in [
        (REGISTER, {"i": {**data, "account": linked}}),
        (UPDATE, {"id": made["id"], "i": {"account": linked}}),
    ]:
        error = await junior.error(query, variables)
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "account"}
        assert "linked to another lecturer" in error["message"]
    assert (await junior.data(LECTURER, {"id": made["id"]}))["lecturer"]["account"] is None
    assert len(await audit_actions(app, "lecturer.")) == 1  # the first register only


async def test_two_edits_of_different_fields_at_once_both_stay(
    fresh: tuple[GraphQLClient, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edit stores the fields it was given, not the rest of the row as it read it: another
    edit committed between its read and its write is kept."""
    client, app = fresh
    admin = await client.as_user("admin")
    read = lecturer_schema._writable_lecturer

    async def read_then_renamed_meanwhile(*args: Any) -> Any:
        row = await read(*args)
        async with app.state.runtime.engine.begin() as conn:
            await conn.execute(update(Lecturer).where(Lecturer.id == 1).values(name="另一个名字"))
        return row

    monkeypatch.setattr(lecturer_schema, "_writable_lecturer", read_then_renamed_meanwhile)
    edited = (await admin.data(UPDATE, {"id": lid(1), "i": {"topics": ["廉政教育"]}}))[
        "updateLecturer"
    ]
    assert edited["name"] == "另一个名字" and edited["topics"] == ["廉政教育"]
    assert edited["account"] == "m.10"  # not given: kept as stored
    [(_, _, detail)] = [r for r in await audit_details(app, "lecturer.update") if r[1] == "1"]
    assert detail == {"fields": {"topics": json.dumps(["廉政教育"], ensure_ascii=False)}}


# -- booking -------------------------------------------------------------------------------------


def booking_input(demo: DemoData, lecturer: int, day: str, slot: str, **extra: Any) -> Json:
    value: Json = {
        "lecturerId": lid(lecturer),
        "tenantId": tenant_gid(demo, "d01t01v001"),
        "topic": "学习党的二十大精神",
        "date": day,
        "slot": slot,
    }
    value.update(extra)
    return {key: v for key, v in value.items() if v is not None}


async def test_booking_rules_and_no_double_booking(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, app = fresh
    junior = await client.as_user("admin.d01t01v001")
    day = in_days(50)  # the seeded bookings lie 3 to 40 days ahead
    made = (await junior.data(BOOK, {"i": booking_input(demo, 3, day, "MORNING")}))["bookLecturer"]
    assert made["status"] == "REQUESTED" and made["date"] == day and made["slot"] == "MORNING"
    assert made["tenant"] == {"code": "d01t01v001"} and made["lecturer"]["id"] == lid(3)
    assert made["bookedBy"] == "user:admin.d01t01v001"
    # The same slot again, from anyone: refused, naming the slot.
    senior = await client.as_user("admin.d01t01")
    for booker in (junior, senior):
        error = await booker.error(BOOK, {"i": booking_input(demo, 3, day, "MORNING")})
        assert error["extensions"] == {
            "code": "BAD_USER_INPUT",
            "argument": "slot",
            "conflict": True,
        }
    # Another slot, another day, another lecturer: free.
    await junior.data(BOOK, {"i": booking_input(demo, 3, day, "AFTERNOON")})
    await junior.data(BOOK, {"i": booking_input(demo, 3, in_days(51), "MORNING")})
    # For a branch: its tenant is the place.
    branch = branch_of(demo, "d01t01v001")
    by_branch = (
        await junior.data(
            BOOK,
            {
                "i": booking_input(
                    demo,
                    1,
                    day,
                    "MORNING",
                    tenantId=None,
                    branchId=str(global_id("Branch", branch)),
                )
            },
        )
    )["bookLecturer"]
    assert by_branch["tenant"] == {"code": "d01t01v001"}
    assert by_branch["branchId"] == str(global_id("Branch", branch))
    # Bad input names its field.
    for change, argument in [
        ({"date": (date.today() - timedelta(days=1)).isoformat()}, "date"),
        ({"date": in_days(400)}, "date"),
        ({"topic": ""}, "topic"),
        ({"branchId": str(global_id("Branch", branch))}, "tenantId"),  # both
        ({"tenantId": None}, "tenantId"),  # neither
        ({"lecturerId": str(global_id("Tenant", 1))}, "lecturerId"),
    ]:
        error = await junior.error(BOOK, {"i": booking_input(demo, 11, day, "EVENING", **change)})
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}, change
    # Out of reach: another village, or a lecturer the booker does not see (another town's).
    for change in (
        {"tenantId": tenant_gid(demo, "d01t01v002")},
        {"lecturerId": lid(7)},
        {"lecturerId": lid(999)},
    ):
        error = await junior.error(BOOK, {"i": booking_input(demo, 11, day, "EVENING", **change)})
        assert error["extensions"]["code"] == "FORBIDDEN", change
    # An inactive lecturer cannot be booked.
    admin = await client.as_user("admin")
    await admin.data(UPDATE, {"id": lid(11), "i": {"active": False}})
    error = await junior.error(BOOK, {"i": booking_input(demo, 11, day, "EVENING")})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "lecturerId"}
    assert len([a for a, _, _ in await audit_actions(app, "lecturer_booking.book")]) == 4


async def test_many_concurrent_bookings_of_one_slot_have_one_winner(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, app = fresh
    bookers = [await client.as_user(u) for u in ("admin", "admin.d01t01", "admin.d01t01v001")]
    day = in_days(45)
    bodies = await asyncio.gather(
        *(
            bookers[i % 3].post(BOOK, {"i": booking_input(demo, 9, day, "EVENING")})
            for i in range(24)
        )
    )
    won = [b for b in bodies if "errors" not in b]
    lost = [b for b in bodies if "errors" in b]
    assert len(won) == 1, bodies
    assert len(lost) == 23
    assert all(
        b["errors"][0]["extensions"]
        == {"code": "BAD_USER_INPUT", "argument": "slot", "conflict": True}
        for b in lost
    ), lost
    async with app.state.runtime.engine.connect() as conn:
        held = await conn.scalar(
            select(func.count())
            .select_from(LecturerSlotHold)
            .where(LecturerSlotHold.lecturer_id == 9)
        )
        stored = await conn.scalar(
            select(func.count())
            .select_from(LecturerBooking)
            .where(LecturerBooking.lecturer_id == 9)
        )
    seeded = sum(1 for b in seeded_bookings(demo) if b["lecturer_id"] == 9)
    assert held == seeded + 1 and stored == seeded + 1  # losers left no row behind
    assert len(await audit_actions(app, "lecturer_booking.book")) == 1


async def test_only_the_lecturer_accepts_or_declines_and_declining_frees_the_slot(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, app = fresh
    senior = await client.as_user("admin.d01t01")
    day = in_days(55)
    # Lecturer 1 (district) signs in as m.10.
    first = (
        await senior.data(
            BOOK, {"i": booking_input(demo, 1, day, "MORNING", tenantId=tenant_gid(demo, "d01t01"))}
        )
    )["bookLecturer"]
    lecturer = await client.as_user("m.10")
    mine = (await lecturer.data(MINE, {"statuses": ["REQUESTED"]}))["myLecturerBookings"]
    assert first["id"] in [e["node"]["id"] for e in mine["edges"]]
    seeded = [b for b in seeded_bookings(demo) if b["lecturer_id"] == 1]
    assert (await lecturer.data(MINE))["myLecturerBookings"]["totalCount"] == len(seeded) + 1
    # Nobody else's account decides: not the booker, not the district admin, not another
    # lecturer's account; each gets the refusal an absent booking gets.
    for other in ("admin.d01t01", "admin", "m.13", "m.39"):
        someone = await client.as_user(other)
        error = await someone.error(ACCEPT, {"id": first["id"]})
        assert error["extensions"]["code"] == "FORBIDDEN", other
        assert (await someone.data(MINE))["myLecturerBookings"]["totalCount"] == (
            sum(1 for b in seeded_bookings(demo) if b["lecturer_id"] == 2) if other == "m.13" else 0
        )
    absent = await lecturer.error(ACCEPT, {"id": str(global_id("LecturerBooking", 9999))})
    assert absent["extensions"]["code"] == "FORBIDDEN"
    # Declining needs a reason, and frees the slot.
    error = await lecturer.error(DECLINE, {"id": first["id"], "note": "  "})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "note"}
    declined = (await lecturer.data(DECLINE, {"id": first["id"], "note": "当天外出"}))[
        "declineLecturerBooking"
    ]
    assert declined["status"] == "DECLINED" and declined["note"] == "当天外出"
    assert declined["decidedBy"] == "user:m.10"
    again = (
        await senior.data(
            BOOK, {"i": booking_input(demo, 1, day, "MORNING", tenantId=tenant_gid(demo, "d01t01"))}
        )
    )["bookLecturer"]
    # A decided booking is not decided twice.
    error = await lecturer.error(ACCEPT, {"id": first["id"]})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "id"}
    accepted = (await lecturer.data(ACCEPT, {"id": again["id"], "note": "准时到"}))[
        "acceptLecturerBooking"
    ]
    assert accepted["status"] == "ACCEPTED" and accepted["note"] == "准时到"
    # An accepted booking still holds its slot; cancelling it frees it.
    error = await senior.error(
        BOOK, {"i": booking_input(demo, 1, day, "MORNING", tenantId=tenant_gid(demo, "d01t01"))}
    )
    assert error["extensions"]["argument"] == "slot"
    # Cancelling is for admins over the booking's place: not another town's.
    other_town = await client.as_user("admin.d01t02")
    error = await other_town.error(CANCEL, {"id": again["id"]})
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert (await lecturer.error(CANCEL, {"id": again["id"]}))["extensions"]["code"] == "FORBIDDEN"
    cancelled = (await senior.data(CANCEL, {"id": again["id"], "reason": "活动延期"}))[
        "cancelLecturerBooking"
    ]
    assert cancelled["status"] == "CANCELLED" and cancelled["note"] == "活动延期"
    error = await senior.error(CANCEL, {"id": again["id"]})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "id"}
    third = (
        await senior.data(
            BOOK, {"i": booking_input(demo, 1, day, "MORNING", tenantId=tenant_gid(demo, "d01t01"))}
        )
    )["bookLecturer"]
    assert third["status"] == "REQUESTED"
    assert [a for a, _, _ in await audit_actions(app, "lecturer_booking.")] == [
        "lecturer_booking.book",
        "lecturer_booking.decline",
        "lecturer_booking.book",
        "lecturer_booking.accept",
        "lecturer_booking.cancel",
        "lecturer_booking.book",
    ]


ACTIVITY = """{ feedEvents(kinds: [BRANCH_ACTIVITY], first: 100) { edges { node {
  title payload tenant { code } branch { id name } } } } }"""


async def booking_events(reader: GraphQLClient) -> list[Json]:
    """The lecturer-booking events of the feed's history the reader sees, oldest first."""
    edges = (await reader.data(ACTIVITY))["feedEvents"]["edges"]
    nodes = [
        e["node"] for e in edges if (e["node"]["payload"] or {}).get("source") == "lecturer_booking"
    ]
    return nodes[::-1]


async def test_an_accepted_booking_reaches_the_feed(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, _app = fresh
    junior = await client.as_user("admin.d01t01v001")
    day = in_days(60)
    branch = branch_of(demo, "d01t01v001")
    for_branch = (
        await junior.data(
            BOOK,
            {
                "i": booking_input(
                    demo,
                    1,
                    day,
                    "MORNING",
                    tenantId=None,
                    branchId=str(global_id("Branch", branch)),
                )
            },
        )
    )["bookLecturer"]
    for_tenant = (await junior.data(BOOK, {"i": booking_input(demo, 2, day, "EVENING")}))[
        "bookLecturer"
    ]
    declined = (await junior.data(BOOK, {"i": booking_input(demo, 1, day, "EVENING")}))[
        "bookLecturer"
    ]
    assert await booking_events(junior) == []  # a request is not news
    first, second = await client.as_user("m.10"), await client.as_user("m.13")  # lecturers 1, 2
    await first.data(DECLINE, {"id": declined["id"], "note": "另有安排"})
    await first.data(ACCEPT, {"id": for_branch["id"]})
    await second.data(ACCEPT, {"id": for_tenant["id"]})
    await first.error(ACCEPT, {"id": for_branch["id"]})  # refused: no second event
    await junior.data(CANCEL, {"id": for_tenant["id"]})
    events = await booking_events(junior)
    names = {1: for_branch["lecturer"]["name"], 2: for_tenant["lecturer"]["name"]}
    assert [(e["title"], e["tenant"], e["branch"] and e["branch"]["id"]) for e in events] == [
        (
            f"红色讲师预约：{names[1]} · 学习党的二十大精神",
            {"code": "d01t01v001"},
            str(global_id("Branch", branch)),
        ),
        (f"红色讲师预约：{names[2]} · 学习党的二十大精神", {"code": "d01t01v001"}, None),
    ]
    assert events[0]["payload"] == {
        "source": "lecturer_booking",
        "booking": pk(for_branch["id"]),
        "lecturer": 1,
        "date": day,
        "slot": "MORNING",
    }
    # The command center above sees them; another town does not.
    assert await booking_events(await client.as_user("admin")) == events
    assert await booking_events(await client.as_user("admin.d01t02")) == []


@pytest.mark.parametrize(
    ("username", "root"),
    [("admin", "/d01/"), ("admin.d01t02", "/d01/t02/"), ("admin.d01t01v001", "/d01/t01/v001/")],
)
async def test_bookings_are_listed_where_they_are_for(
    client: GraphQLClient, demo: DemoData, username: str, root: str
) -> None:
    reader = await client.as_user(username)
    where = paths(demo)
    expected = [b for b in seeded_bookings(demo) if is_within(where[b["tenant_id"]], root)]
    nodes = await every_page(reader, BOOKINGS, "lecturerBookings")
    assert sorted(pk(n["id"]) for n in nodes) == sorted(b["id"] for b in expected)
    assert [pk(n["id"]) for n in nodes] == sorted((pk(n["id"]) for n in nodes), reverse=True)
    accepted = await every_page(reader, BOOKINGS, "lecturerBookings", statuses=["ACCEPTED"])
    assert sorted(pk(n["id"]) for n in accepted) == sorted(
        b["id"] for b in expected if b["status"] == "ACCEPTED"
    )
    one = expected[0]["lecturer_id"] if expected else 1
    by_lecturer = await every_page(reader, BOOKINGS, "lecturerBookings", lecturer=lid(one))
    assert sorted(pk(n["id"]) for n in by_lecturer) == sorted(
        b["id"] for b in expected if b["lecturer_id"] == one
    )


async def test_list_arguments_are_checked(client: GraphQLClient) -> None:
    admin = await client.as_user("admin")
    for query, variables, argument in [
        (LECTURERS, {"first": 101}, "first"),
        (LECTURERS, {"after": "nonsense"}, "after"),
        (LECTURERS, {"under": lid(1)}, "under"),
        (LECTURERS, {"search": "x" * 51}, "search"),
        (BOOKINGS, {"lecturer": str(global_id("Tenant", 1))}, "lecturerId"),
        (LECTURER, {"id": "garbage"}, "id"),
    ]:
        error = await admin.error(query, variables)
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}, variables
    anonymous = client.anonymous()
    assert (await anonymous.error(LECTURERS))["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "query",
    [
        "query($n: Int) { lecturers(first: $n) { totalCount edges { node { name topics"
        " tenant { code parent { code } } } } } }",
        "query($n: Int) { lecturerBookings(first: $n) { totalCount edges { node { topic"
        " lecturer { name tenant { code } } tenant { code parent { code } } } } } }",
    ],
)
async def test_lists_run_the_same_statements_whatever_their_size(
    seeded: tuple[GraphQLClient, Any], query: str
) -> None:
    client, app = seeded
    admin = await client.as_user("admin")
    counts = []
    for size in (1, 3, 100):
        with statements(app) as seen:
            data = await admin.data(query, {"n": size})
        assert next(iter(data.values()))["edges"]
        counts.append(len(seen))
    # The page, its count, the lecturers of a page of bookings, the tenants' parents (none
    # for a page of the district's own): one statement each, never one per row.
    assert max(counts) <= 4 and counts[1] == counts[2], counts
