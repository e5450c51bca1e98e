"""e-Learning, on SQLite and PostgreSQL: publishing within the admin's subtree only, what members
and admins see (district and own town/village items, not another town's), enrolment, progress
and completion rules with bad input naming the field, learning hours (the 365-day window), the
admin lists and their pagination and scope, the Vanguard Index's learning share on completion,
the recommendation ranking, a cohort's capacity under concurrent enrolments, and the audit
entries of every change."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select, update

from schema.ids import global_id, parse_global_id
from server.assessments import ratings
from server.assessments.models import MemberIndex
from server.audit.models import AuditEntry
from server.learning import recommend
from server.learning.demo import learning_rows
from server.learning.models import LearningEnrolment, LearningItem
from tenants.demo import DemoData, demo_accounts
from tests.conftest import AS_OF, TEMPLATE_SEED, GraphQLClient
from tests.test_query_counts import run

Json = dict[str, Any]

CREATE = """mutation($input: CreateLearningItemInput!) { createLearningItem(input: $input) {
  id title state section creditHours capacity enrolled categories tags
  publishedTo { code } items { id } } }"""
PUBLISH = "mutation($id: ID!) { publishLearningItem(id: $id) { id state publishedAt } }"
WITHDRAW = "mutation($id: ID!) { withdrawLearningItem(id: $id) { id state } }"
ITEMS = """query($under: ID, $section: LearningSection, $state: LearningItemState, $first: Int,
  $after: String) { learningItems(under: $under, section: $section, state: $state,
  first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
  edges { node { id title state section publishedTo { code } } } } }"""
ITEM = "query($id: ID!) { learningItem(id: $id) { id title items { id } } }"
ENROL = """mutation($i: ID!) { enrolLearning(itemId: $i) { id progress completed creditHours
  item { id enrolled } member { id } } }"""
PROGRESS = """mutation($i: ID!, $p: Int!) { recordLearningProgress(itemId: $i, percent: $p) {
  id progress completed completedAt creditHours } }"""
COMPLETE = """mutation($i: ID!) { completeLearning(itemId: $i) { id progress completed
  creditHours } }"""
MINE = """query($first: Int, $after: String, $completed: Boolean) { myLearning { hours normHours
  learningScore enrolments(first: $first, after: $after, completed: $completed) { totalCount
  pageInfo { hasNextPage endCursor } edges { node { id progress item { id } } } } } }"""
ENROLMENTS = """query($under: ID, $item: ID, $completed: Boolean, $first: Int, $after: String) {
  learningEnrolments(under: $under, itemId: $item, completed: $completed, first: $first,
  after: $after) { totalCount pageInfo { hasNextPage endCursor }
  edges { node { id progress member { id } item { id } } } } }"""
BY_MEMBER = """query($under: ID, $first: Int, $after: String) { learningHoursByMember(
  under: $under, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
  edges { node { member { id } hours completions meetsNorm } } } }"""
BY_BRANCH = """query($under: ID, $first: Int, $after: String) { learningHoursByBranch(
  under: $under, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
  edges { node { branch { id } members hours averageHours meetingNorm } } } }"""
RECOMMENDED = """query($first: Int) { recommendedLearning(first: $first) { score reasons
  item { id title section } } }"""


# -- the demo district's places and accounts --------------------------------------------------


@dataclass(frozen=True)
class Place:
    username: str
    member_id: int
    branch_id: int
    path: str
    code: str  # the member's tenant's code
    category: str


def members_by_place(demo: DemoData) -> list[Place]:
    tenants = {t["id"]: t for t in demo.tenants}
    branches = {b["id"]: b for b in demo.branches}
    members = {m["id"]: m for m in demo.members}
    found = []
    for username, member_id in demo_accounts(demo, seed=TEMPLATE_SEED):
        if member_id is None:
            continue
        branch = branches[members[member_id]["branch_id"]]
        tenant = tenants[branch["tenant_id"]]
        found.append(
            Place(
                username,
                member_id,
                branch["id"],
                tenant["path"],
                tenant["code"],
                branch["category"],
            )
        )
    return found


def tenant(demo: DemoData, code: str) -> Json:
    return next(t for t in demo.tenants if t["code"] == code)


def tid(demo: DemoData, code: str) -> str:
    return str(global_id("Tenant", tenant(demo, code)["id"]))


def village_member(demo: DemoData, town: str) -> Place:
    """A demo member account whose branch sits in a village of `town` (a town code)."""
    return next(p for p in members_by_place(demo) if p.code.startswith(town) and "v" in p.code)


def item_input(demo: DemoData, code: str, title: str, **extra: Any) -> Json:
    return {
        "tenantId": tid(demo, code),
        "section": "COURSE",
        "title": title,
        "creditHours": 4,
        "publish": True,
    } | extra


async def create(gql: GraphQLClient, demo: DemoData, code: str, title: str, **extra: Any) -> Json:
    made: Json = (await gql.data(CREATE, {"input": item_input(demo, code, title, **extra)}))[
        "createLearningItem"
    ]
    return made


async def catalogue_ids(gql: GraphQLClient, **variables: Any) -> set[str]:
    ids: set[str] = set()
    after = None
    while True:
        page = (await gql.data(ITEMS, {"first": 100, "after": after} | variables))["learningItems"]
        ids |= {e["node"]["id"] for e in page["edges"]}
        if not page["pageInfo"]["hasNextPage"]:
            return ids
        after = page["pageInfo"]["endCursor"]


def pk(node_id: str) -> int:
    return parse_global_id(node_id)[1]


async def audit_actions(app: Any, prefix: str) -> list[Any]:
    async with app.state.runtime.engine.connect() as conn:
        rows = await conn.execute(
            select(
                AuditEntry.action, AuditEntry.principal, AuditEntry.tenant_path, AuditEntry.detail
            )
            .where(AuditEntry.action.like(prefix + "%"))
            .order_by(AuditEntry.id)
        )
        return list(rows)


async def hours_in_db(app: Any, member_id: int) -> float:
    since = datetime.now(UTC) - timedelta(days=365)
    async with app.state.runtime.engine.connect() as conn:
        value = await conn.scalar(
            select(func.coalesce(func.sum(LearningEnrolment.credit_hours), 0.0)).where(
                LearningEnrolment.member_id == member_id,
                LearningEnrolment.completed_at > since,
            )
        )
    return float(value or 0.0)


def code_of(error: Json) -> str:
    return str(error["extensions"]["code"])


# -- publishing -------------------------------------------------------------------------------


async def test_admins_publish_within_their_subtree_only(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, app = fresh
    village = village_member(demo, "d01t01")
    other_village = next(
        t for t in demo.tenants if t["level"] == "VILLAGE" and t["code"] != village.code
    )
    junior = await client.as_user(f"admin.{village.code}")
    made = await create(junior, demo, village.code, "村里的党课", publish=False)
    assert (made["state"], made["publishedTo"]["code"]) == ("DRAFT", village.code)
    for code in ("d01t01", "d01", other_village["code"]):
        error = await junior.error(CREATE, {"input": item_input(demo, code, "越权")})
        assert code_of(error) == "FORBIDDEN", code
    senior = await client.as_user("admin.d01t01")
    assert (await create(senior, demo, "d01t01", "镇里的课"))["state"] == "PUBLISHED"
    assert code_of(await senior.error(CREATE, {"input": item_input(demo, "d01t02", "x")})) == (
        "FORBIDDEN"
    )
    # A member reads the catalogue but never publishes, not even at its own tenant.
    member = await client.as_user(village.username)
    error = await member.error(CREATE, {"input": item_input(demo, village.code, "x")})
    assert code_of(error) == "FORBIDDEN"
    # The draft is published by its admin, then withdrawn; a second withdrawal is bad input.
    assert (await junior.data(PUBLISH, {"id": made["id"]}))["publishLearningItem"]["state"] == (
        "PUBLISHED"
    )
    assert (await junior.data(WITHDRAW, {"id": made["id"]}))["withdrawLearningItem"]["state"] == (
        "WITHDRAWN"
    )
    error = await junior.error(WITHDRAW, {"id": made["id"]})
    assert (code_of(error), error["extensions"]["argument"]) == ("BAD_USER_INPUT", "id")
    # Another village's admin cannot touch it: the same refusal as for an absent item.
    stranger = await client.as_user(f"admin.{other_village['code']}")
    assert code_of(await stranger.error(PUBLISH, {"id": made["id"]})) == "FORBIDDEN"
    absent = str(global_id("LearningItem", 999_999))
    assert code_of(await stranger.error(PUBLISH, {"id": absent})) == "FORBIDDEN"

    entries = await audit_actions(app, "learning.item")
    assert [(e.action, e.principal) for e in entries] == [
        ("learning.item.create", f"user:admin.{village.code}"),
        ("learning.item.create", "user:admin.d01t01"),
        ("learning.item.publish", f"user:admin.{village.code}"),
        ("learning.item.withdraw", f"user:admin.{village.code}"),
    ]
    assert entries[0].tenant_path == village.path
    assert json.loads(entries[0].detail)["title"] == "村里的党课"


async def test_bad_input_names_the_field(fresh: tuple[GraphQLClient, Any], demo: DemoData) -> None:
    client, _app = fresh
    cases: list[tuple[Json, str]] = [
        ({"title": "  "}, "title"),
        ({"title": "长" * 121}, "title"),
        ({"creditHours": 0}, "creditHours"),
        ({"creditHours": 500}, "creditHours"),
        ({"tags": ["ok", ""]}, "tags"),
        ({"tags": [f"t{i}" for i in range(11)]}, "tags"),
        ({"capacity": 10}, "capacity"),
        ({"startsOn": "2026-01-01"}, "startsOn"),
        ({"itemIds": [str(global_id("LearningItem", 1))]}, "itemIds"),
        ({"section": "CLASS"}, "capacity"),
        ({"section": "CLASS", "capacity": 5}, "startsOn"),
        ({"section": "CLASS", "capacity": 5, "startsOn": "2026-03-01"}, "endsOn"),
        (
            {"section": "CLASS", "capacity": 5, "startsOn": "2026-03-01", "endsOn": "2026-02-01"},
            "endsOn",
        ),
        ({"tenantId": str(global_id("Member", 1))}, "tenantId"),
        ({"summary": "x" * 2001}, "summary"),
    ]
    for extra, argument in cases:
        error = await client.error(CREATE, {"input": item_input(demo, "d01", "课程") | extra})
        assert (code_of(error), error["extensions"].get("argument")) == (
            "BAD_USER_INPUT",
            argument,
        ), extra
    # A class holds only items that everyone who sees it sees: not a town's item in a
    # district class, and never another class.
    town_item = await create(client, demo, "d01t01", "镇课")
    klass = {"section": "CLASS", "capacity": 5, "startsOn": "2026-03-01", "endsOn": "2026-04-01"}
    for inside in (town_item["id"],):
        error = await client.error(
            CREATE, {"input": item_input(demo, "d01", "班", itemIds=[inside]) | klass}
        )
        assert error["extensions"]["argument"] == "itemIds"
    made = await create(client, demo, "d01t01", "镇班", itemIds=[town_item["id"]], **klass)
    assert [i["id"] for i in made["items"]] == [town_item["id"]]
    error = await client.error(
        CREATE, {"input": item_input(demo, "d01t01", "班中班", itemIds=[made["id"]]) | klass}
    )
    assert error["extensions"]["argument"] == "itemIds"
    # Nothing was stored by the refused attempts.
    async with _app.state.runtime.engine.connect() as conn:
        titles = (await conn.execute(select(LearningItem.title))).scalars().all()
    assert "课程" not in titles and "班" not in titles and "班中班" not in titles


# -- visibility -------------------------------------------------------------------------------


async def test_members_see_their_district_town_and_village_not_another_town(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, _app = fresh
    place = village_member(demo, "d01t01")
    sibling = next(
        t["code"]
        for t in demo.tenants
        if t["code"].startswith("d01t01v") and t["code"] != place.code
    )
    made = {
        key: (await create(client, demo, code, f"可见性-{key}"))["id"]
        for key, code in (
            ("district", "d01"),
            ("town", "d01t01"),
            ("village", place.code),
            ("sibling", sibling),
            ("other_town", "d01t02"),
        )
    }
    made["draft"] = (await create(client, demo, "d01t01", "可见性-草稿", publish=False))["id"]
    mine = set(made.values())

    member = await client.as_user(place.username)
    assert (await catalogue_ids(member)) & mine == {
        made["district"],
        made["town"],
        made["village"],
    }
    # The other town's admin sees the district's and its own, not the first town's.
    other = await client.as_user("admin.d01t02")
    assert (await catalogue_ids(other)) & mine == {made["district"], made["other_town"]}
    # The village admin sees above (district, town) and its own village, not the sibling's.
    junior = await client.as_user(f"admin.{place.code}")
    assert (await catalogue_ids(junior)) & mine == {
        made["district"],
        made["town"],
        made["village"],
    }
    # The town's admin sees its whole subtree, and the draft it may write.
    senior = await client.as_user("admin.d01t01")
    assert (await catalogue_ids(senior)) & mine == mine - {made["other_town"]}
    # `under` narrows to a subtree and what is published above it.
    assert (await catalogue_ids(client, under=tid(demo, place.code))) & mine == {
        made["district"],
        made["town"],
        made["village"],
    }
    # One item: null when not seen, refused when acted upon, like an absent one.
    assert (await member.data(ITEM, {"id": made["other_town"]}))["learningItem"] is None
    assert (await member.data(ITEM, {"id": made["draft"]}))["learningItem"] is None
    assert (await member.data(ITEM, {"id": made["town"]}))["learningItem"]["id"] == made["town"]
    for hidden in (made["other_town"], made["draft"], str(global_id("LearningItem", 999_999))):
        assert code_of(await member.error(ENROL, {"i": hidden})) == "FORBIDDEN"
    # Withdrawn items leave the members' catalogue.
    await client.data(WITHDRAW, {"id": made["town"]})
    assert made["town"] not in await catalogue_ids(member)
    assert code_of(await member.error(ENROL, {"i": made["town"]})) == "FORBIDDEN"


async def test_catalogue_pages(client: GraphQLClient) -> None:
    total = (await client.data(ITEMS, {"first": 0}))["learningItems"]["totalCount"]
    assert total >= 40  # the demo catalogue
    seen: list[str] = []
    after = None
    while True:
        page = (await client.data(ITEMS, {"first": 7, "after": after}))["learningItems"]
        assert page["totalCount"] == total
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == total
    assert [pk(i) for i in seen] == sorted((pk(i) for i in seen), reverse=True)
    books = (await client.data(ITEMS, {"section": "BOOK", "first": 100}))["learningItems"]
    assert books["totalCount"] == len(books["edges"]) > 0
    assert {e["node"]["section"] for e in books["edges"]} == {"BOOK"}
    error = await client.error(ITEMS, {"first": 101})
    assert error["extensions"]["argument"] == "first"


# -- enrolment, progress, completion, hours ----------------------------------------------------


async def test_enrol_progress_and_complete(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, app = fresh
    place = village_member(demo, "d01t01")
    course = await create(client, demo, "d01", "完成规则", creditHours=6.5)
    other = await create(client, demo, "d01", "未报名")
    member = await client.as_user(place.username)
    before = (await member.data(MINE))["myLearning"]
    assert before["hours"] == pytest.approx(await hours_in_db(app, place.member_id))

    first = (await member.data(ENROL, {"i": course["id"]}))["enrolLearning"]
    assert (first["progress"], first["completed"], first["creditHours"]) == (0, False, None)
    assert first["member"]["id"] == str(global_id("Member", place.member_id))
    again = (await member.data(ENROL, {"i": course["id"]}))["enrolLearning"]
    assert again["id"] == first["id"]  # idempotent: the same enrolment

    async def refused(query: str, variables: Json) -> str:
        error = await member.error(query, variables)
        assert code_of(error) == "BAD_USER_INPUT", error
        return str(error["extensions"]["argument"])

    assert await refused(PROGRESS, {"i": other["id"], "p": 10}) == "itemId"  # not enrolled
    assert await refused(PROGRESS, {"i": course["id"], "p": 101}) == "percent"
    assert await refused(PROGRESS, {"i": course["id"], "p": -1}) == "percent"
    assert await refused(PROGRESS, {"i": str(global_id("Tenant", 1)), "p": 5}) == "itemId"
    step = (await member.data(PROGRESS, {"i": course["id"], "p": 40}))["recordLearningProgress"]
    assert (step["progress"], step["completed"]) == (40, False)
    assert await refused(PROGRESS, {"i": course["id"], "p": 30}) == "percent"  # never goes back
    same = (await member.data(PROGRESS, {"i": course["id"], "p": 40}))["recordLearningProgress"]
    assert same["progress"] == 40
    done = (await member.data(COMPLETE, {"i": course["id"]}))["completeLearning"]
    assert (done["progress"], done["completed"], done["creditHours"]) == (100, True, 6.5)
    twice = (await member.data(COMPLETE, {"i": course["id"]}))["completeLearning"]
    assert twice == done
    assert await refused(PROGRESS, {"i": course["id"], "p": 50}) == "percent"

    after = (await member.data(MINE))["myLearning"]
    assert after["hours"] == pytest.approx(before["hours"] + 6.5)
    assert after["hours"] == pytest.approx(await hours_in_db(app, place.member_id))
    assert after["learningScore"] == pytest.approx(min(100.0, 100 * after["hours"] / 32), abs=0.01)
    assert after["normHours"] == 32
    # Withdrawing keeps the completion and its hours.
    await client.data(WITHDRAW, {"id": course["id"]})
    assert (await member.data(MINE))["myLearning"]["hours"] == pytest.approx(after["hours"])
    done_list = (await member.data(MINE, {"completed": True, "first": 100}))["myLearning"]
    assert course["id"] in {e["node"]["item"]["id"] for e in done_list["enrolments"]["edges"]}

    # Audited once each: one enrolment (not the repeat), one progress step, one completion.
    entries = [
        (e.action, json.loads(e.detail))
        for e in await audit_actions(app, "learning.")
        if e.action in ("learning.enrol", "learning.progress", "learning.complete")
    ]
    assert [(a, d["item"], d.get("to")) for a, d in entries] == [
        ("learning.enrol", pk(course["id"]), None),
        ("learning.progress", pk(course["id"]), 40),
        ("learning.complete", pk(course["id"]), 100),
    ]
    assert entries[-1][1]["credit_hours"] == 6.5
    # Only members enrol: an admin has no member record.
    assert code_of(await client.error(ENROL, {"i": other["id"]})) == "FORBIDDEN"


async def test_hours_count_the_last_365_days(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, app = fresh
    place = village_member(demo, "d01t02")
    old = await create(client, demo, "d01", "去年的课", creditHours=9)
    recent = await create(client, demo, "d01", "今年的课", creditHours=3)
    now = datetime.now(UTC)
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(
            insert(LearningEnrolment),
            [
                {
                    "item_id": pk(old["id"]),
                    "member_id": place.member_id,
                    "progress": 100,
                    "enrolled_at": now - timedelta(days=400),
                    "updated_at": now - timedelta(days=366),
                    "completed_at": now - timedelta(days=366),
                    "credit_hours": 9.0,
                },
                {
                    "item_id": pk(recent["id"]),
                    "member_id": place.member_id,
                    "progress": 100,
                    "enrolled_at": now - timedelta(days=30),
                    "updated_at": now - timedelta(days=364),
                    "completed_at": now - timedelta(days=364),
                    "credit_hours": 3.0,
                },
            ],
        )
        earlier = await conn.scalar(
            select(func.coalesce(func.sum(LearningEnrolment.credit_hours), 0.0)).where(
                LearningEnrolment.member_id == place.member_id,
                LearningEnrolment.completed_at > now - timedelta(days=365),
                LearningEnrolment.item_id.not_in([pk(old["id"]), pk(recent["id"])]),
            )
        )
    member = await client.as_user(place.username)
    hours = (await member.data(MINE))["myLearning"]["hours"]
    assert hours == pytest.approx(float(earlier) + 3.0)  # the 366-day-old 9 hours do not count


async def test_admin_lists_are_scoped_and_paginated(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, app = fresh
    place = village_member(demo, "d01t01")
    course = await create(client, demo, "d01", "管理列表")
    member = await client.as_user(place.username)
    enrolment = (await member.data(ENROL, {"i": course["id"]}))["enrolLearning"]
    await member.data(COMPLETE, {"i": course["id"]})

    def ids(page: Json) -> set[str]:
        return {e["node"]["id"] for e in page["edges"]}

    senior = await client.as_user("admin.d01t01")
    other = await client.as_user("admin.d01t02")
    query = {"item": course["id"], "first": 100}
    assert ids((await senior.data(ENROLMENTS, query))["learningEnrolments"]) == {enrolment["id"]}
    assert ids((await other.data(ENROLMENTS, query))["learningEnrolments"]) == set()
    assert (await other.data(ENROLMENTS, query))["learningEnrolments"]["totalCount"] == 0
    done = (await senior.data(ENROLMENTS, query | {"completed": False}))["learningEnrolments"]
    assert done["totalCount"] == 0
    # Members may not follow others' learning.
    assert code_of(await member.error(ENROLMENTS, {})) == "FORBIDDEN"
    assert code_of(await member.error(BY_MEMBER, {})) == "FORBIDDEN"

    # The town's enrolments page by page: every one once, newest first.
    total = (await senior.data(ENROLMENTS, {"first": 0}))["learningEnrolments"]["totalCount"]
    async with app.state.runtime.engine.connect() as conn:
        expected_total = await conn.scalar(
            select(func.count())
            .select_from(LearningEnrolment)
            .where(
                LearningEnrolment.member_id.in_(
                    [
                        m["id"]
                        for m in demo.members
                        if m["branch_id"] in town_branches(demo, "d01t01")
                    ]
                )
            )
        )
    assert total == expected_total > 1
    seen = await all_pages(senior, ENROLMENTS, "learningEnrolments", 4)
    assert len(seen) == len(set(seen)) == total

    # Hours per member: every member of the subtree, hours as in the database.
    members_total = len(
        [m for m in demo.members if m["branch_id"] in town_branches(demo, "d01t01")]
    )
    rows = await all_nodes(senior, BY_MEMBER, "learningHoursByMember", 9)
    assert len(rows) == members_total
    by_member = {pk(r["member"]["id"]): r for r in rows}
    assert by_member[place.member_id]["hours"] == pytest.approx(
        await hours_in_db(app, place.member_id)
    )
    for r in rows:
        assert r["meetsNorm"] == (r["hours"] >= 32)
    # Hours per branch: the sums of its members'.
    branches = await all_nodes(senior, BY_BRANCH, "learningHoursByBranch", 3)
    assert {pk(b["branch"]["id"]) for b in branches} == town_branches(demo, "d01t01")
    mine = next(b for b in branches if pk(b["branch"]["id"]) == place.branch_id)
    of_branch = [r for m, r in by_member.items() if member_branch(demo, m) == place.branch_id]
    assert mine["members"] == len(of_branch)
    assert mine["hours"] == pytest.approx(sum(r["hours"] for r in of_branch), abs=0.01)
    assert mine["meetingNorm"] == sum(r["meetsNorm"] for r in of_branch)
    # `under` narrows to one village.
    narrowed = await all_nodes(
        senior, BY_MEMBER, "learningHoursByMember", 50, under=tid(demo, place.code)
    )
    assert {pk(r["member"]["id"]) for r in narrowed} == {
        m["id"] for m in demo.members if m["branch_id"] in village_branches(demo, place.code)
    }
    # Another town's admin gets nothing of this town under it.
    assert (
        await all_nodes(other, BY_MEMBER, "learningHoursByMember", 50, under=tid(demo, place.code))
        == []
    )


def town_branches(demo: DemoData, code: str) -> set[int]:
    inside = {t["id"] for t in demo.tenants if t["code"].startswith(code)}
    return {b["id"] for b in demo.branches if b["tenant_id"] in inside}


def village_branches(demo: DemoData, code: str) -> set[int]:
    return {b["id"] for b in demo.branches if b["tenant_id"] == tenant(demo, code)["id"]}


def member_branch(demo: DemoData, member_id: int) -> int:
    return int(next(m["branch_id"] for m in demo.members if m["id"] == member_id))


async def all_pages(gql: GraphQLClient, query: str, field: str, size: int, **v: Any) -> list[str]:
    return [n["id"] for n in await all_nodes(gql, query, field, size, **v)]


async def all_nodes(gql: GraphQLClient, query: str, field: str, size: int, **v: Any) -> list[Json]:
    nodes: list[Json] = []
    after = None
    while True:
        page = (await gql.data(query, {"first": size, "after": after} | v))[field]
        nodes += [e["node"] for e in page["edges"]]
        assert len(page["edges"]) <= size
        if not page["pageInfo"]["hasNextPage"]:
            assert page["totalCount"] == len(nodes)
            return nodes
        after = page["pageInfo"]["endCursor"]


# -- the Vanguard Index ----------------------------------------------------------------------


async def test_completion_refreshes_the_vanguard_index(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, app = fresh
    places = members_by_place(demo)
    rated, unrated = places[0], places[1]
    course = await create(client, demo, "d01", "先锋指数", creditHours=8)
    now = datetime.now(UTC)
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(
            insert(MemberIndex).values(
                member_id=rated.member_id,
                value=0.6 * 80 + 0.2 * 50,
                assessment_score=80.0,
                activity_score=50.0,
                learning_score=0.0,
                campaign_id=None,
                updated_at=now - timedelta(days=1),
            )
        )
    for place in (rated, unrated):
        member = await client.as_user(place.username)
        await member.data(ENROL, {"i": course["id"]})
        await member.data(COMPLETE, {"i": course["id"]})
    hours = await hours_in_db(app, rated.member_id)
    assert hours >= 8
    learning = round(min(100.0, 100 * hours / 32), 2)
    async with app.state.runtime.engine.connect() as conn:
        rows = {r.member_id: r for r in await conn.execute(select(MemberIndex))}
    row = rows[rated.member_id]
    assert row.learning_score == pytest.approx(learning)
    assert row.value == pytest.approx(0.6 * 80 + 0.2 * 50 + 0.2 * learning, abs=0.01)
    assert (row.assessment_score, row.activity_score) == (80.0, 50.0)
    assert unrated.member_id not in rows  # learning alone never rates


def test_the_formula() -> None:
    assert ratings.learning_score_of(0) == 0
    assert ratings.learning_score_of(16) == 50
    assert ratings.learning_score_of(32) == 100
    assert ratings.learning_score_of(64) == 100  # capped
    assert ratings.vanguard(100, 100, 100) == 100
    assert ratings.vanguard(80, 50, 50) == pytest.approx(0.6 * 80 + 0.2 * 50 + 0.2 * 50)


# -- recommendations ---------------------------------------------------------------------------


def row(
    pk: int,
    section: str = "COURSE",
    categories: list[str] | None = None,
    tags: list[str] | None = None,
    published_days_ago: int = 300,
    **extra: Any,
) -> Any:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    values = {
        "id": pk,
        "section": section,
        "categories": json.dumps(categories or []),
        "tags": json.dumps(tags or [], ensure_ascii=False),
        "published_at": now - timedelta(days=published_days_ago),
        "ends_on": None,
        "capacity": None,
        "enrolled": 0,
    } | extra
    return SimpleNamespace(**values)


def test_recommendation_rule() -> None:
    now, today = datetime(2026, 6, 1, tzinfo=UTC), date(2026, 6, 1)
    candidates = [
        row(1),  # nothing: 0
        row(2, categories=["RURAL"]),  # +3
        row(3, categories=["AGENCY"]),  # other kind of branch: left out
        row(4, tags=["党史", "理论", "其他"]),  # +2 shared tags
        row(5, section="BOOK"),  # +1 favourite section
        row(6, published_days_ago=10),  # +0.5 new
        row(7, categories=["RURAL", "AGENCY"], tags=["党史"], section="BOOK"),  # 3+1+1
        row(8, section="CLASS", ends_on=date(2026, 5, 1), capacity=10),  # ended: out
        row(9, section="CLASS", ends_on=date(2026, 7, 1), capacity=2, enrolled=2),  # full: out
        row(10, section="CLASS", ends_on=date(2026, 7, 1), capacity=3, enrolled=2),  # 0
        row(11, published_days_ago=10),  # +0.5, ties with 6: by id
    ]
    completed = [("BOOK", ["党史"]), ("BOOK", ["理论"]), ("COURSE", [])]
    ranked = recommend.rank(candidates, category="RURAL", completed=completed, today=today, now=now)
    assert [(r.item.id, r.score) for r in ranked] == [
        (7, 5.0),
        (2, 3.0),
        (4, 2.0),
        (5, 1.0),
        (6, 0.5),
        (11, 0.5),
        (1, 0.0),
        (10, 0.0),
    ]
    assert ranked[0].reasons == ["适合本支部类别", "与已学内容相关：党史", "您常学的栏目：书籍"]
    # No completions: no favourite section, no shared tags; ties between sections go first in order.
    plain = recommend.rank(candidates, category="RURAL", completed=[], today=today, now=now)
    assert [r.item.id for r in plain][:3] == [2, 7, 6]
    assert recommend.favourite_section(["BOOK", "COURSE"]) == "COURSE"


async def test_recommendations_for_a_member(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, app = fresh
    place = village_member(demo, "d01t01")
    suits = await create(
        client, demo, "d01", "推荐-本类别", categories=[place.category], tags=["推荐测试"]
    )
    others = sorted(
        {"AGENCY", "NON_PUBLIC", "BUILDING", "RED_PROPERTY", "RURAL"} - {place.category}
    )
    excluded = await create(client, demo, "d01", "推荐-他类别", categories=others[:1])
    elsewhere = await create(client, demo, "d01t02", "推荐-他镇")
    member = await client.as_user(place.username)
    got = (await member.data(RECOMMENDED, {"first": 50}))["recommendedLearning"]
    ids = [r["item"]["id"] for r in got]
    assert suits["id"] in ids
    assert excluded["id"] not in ids and elsewhere["id"] not in ids
    scores = [r["score"] for r in got]
    assert scores == sorted(scores, reverse=True)
    mine = next(r for r in got if r["item"]["id"] == suits["id"])
    assert "适合本支部类别" in mine["reasons"] and "新上线" in mine["reasons"]
    assert mine["score"] >= 3.5
    # Nothing it has enrolled in (completed or not) is recommended.
    async with app.state.runtime.engine.connect() as conn:
        enrolled = set(
            (
                await conn.execute(
                    select(LearningEnrolment.item_id).where(
                        LearningEnrolment.member_id == place.member_id
                    )
                )
            ).scalars()
        )
    assert not enrolled & {pk(i) for i in ids}
    await member.data(ENROL, {"i": suits["id"]})
    again = (await member.data(RECOMMENDED, {"first": 50}))["recommendedLearning"]
    assert suits["id"] not in [r["item"]["id"] for r in again]
    assert len((await member.data(RECOMMENDED, {"first": 2}))["recommendedLearning"]) <= 2
    error = await member.error(RECOMMENDED, {"first": 51})
    assert error["extensions"]["argument"] == "first"
    assert code_of(await client.error(RECOMMENDED, {})) == "FORBIDDEN"  # no member record


# -- cohorts ------------------------------------------------------------------------------------


async def test_a_cohort_never_passes_its_capacity_under_concurrent_enrolments(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, app = fresh
    today = date.today()
    cohort = await create(
        client,
        demo,
        "d01",
        "并发班级",
        section="CLASS",
        capacity=3,
        startsOn=today.isoformat(),
        endsOn=(today + timedelta(days=30)).isoformat(),
    )
    places = members_by_place(demo)[:12]
    members = [await client.as_user(p.username) for p in places]
    bodies = await asyncio.gather(*(m.post(ENROL, {"i": cohort["id"]}) for m in members))
    won = [b for b in bodies if "errors" not in b]
    lost = [b["errors"][0]["extensions"] for b in bodies if "errors" in b]
    assert len(won) == 3
    assert [(e["code"], e["argument"], e["reason"]) for e in lost] == [
        ("BAD_USER_INPUT", "itemId", "CLASS_FULL")
    ] * 9
    async with app.state.runtime.engine.connect() as conn:
        enrolled = await conn.scalar(
            select(LearningItem.enrolled).where(LearningItem.id == pk(cohort["id"]))
        )
        rows = await conn.scalar(
            select(func.count())
            .select_from(LearningEnrolment)
            .where(LearningEnrolment.item_id == pk(cohort["id"]))
        )
    assert enrolled == rows == 3
    # The losers left no enrolment and no audit entry behind.
    enrols = [
        e
        for e in await audit_actions(app, "learning.enrol")
        if json.loads(e.detail)["item"] == pk(cohort["id"])
    ]
    assert len(enrols) == 3
    # A winner enrolling again is no new seat.
    winner = members[next(i for i, b in enumerate(bodies) if "errors" not in b)]
    again = (await winner.data(ENROL, {"i": cohort["id"]}))["enrolLearning"]
    assert again["item"]["enrolled"] == 3


async def test_an_ended_cohort_takes_no_enrolments(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, _app = fresh
    today = date.today()
    ended = await create(
        client,
        demo,
        "d01",
        "结业班级",
        section="CLASS",
        capacity=30,
        startsOn=(today - timedelta(days=60)).isoformat(),
        endsOn=(today - timedelta(days=2)).isoformat(),
    )
    member = await client.as_user(members_by_place(demo)[0].username)
    error = await member.error(ENROL, {"i": ended["id"]})
    assert (error["extensions"]["argument"], error["extensions"]["reason"]) == (
        "itemId",
        "CLASS_ENDED",
    )


# -- no N+1 ---------------------------------------------------------------------------------------

LISTS = {
    "catalogue": "query($n: Int) { learningItems(first: $n) { totalCount edges { node { id"
    " title publishedTo { code parent { code } } items { id title publishedTo { code } } } } } }",
    "enrolments": "query($n: Int) { learningEnrolments(first: $n) { totalCount edges { node {"
    " progress item { title items { id } } member { name branch { name } } } } } }",
    "hours by member": "query($n: Int) { learningHoursByMember(first: $n) { totalCount edges {"
    " node { hours member { name } } } } }",
    "hours by branch": "query($n: Int) { learningHoursByBranch(first: $n) { totalCount edges {"
    " node { hours branch { name } } } } }",
}


@pytest.mark.parametrize("name", LISTS)
async def test_lists_do_not_run_a_query_per_row(
    seeded: tuple[GraphQLClient, Any], name: str
) -> None:
    counts = [len(await run(seeded, LISTS[name], size)) for size in (1, 10, 100)]
    # A few statements (the page, its count, one batched load per relation, the cohorts' items
    # when the page holds a cohort), whatever the size: one per row would be 100 at the last.
    assert max(counts) <= 5, counts


# -- demo data ----------------------------------------------------------------------------------


async def test_the_seed_holds_the_demo_catalogue(
    seeded: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    _client, app = seeded
    expected = learning_rows(demo, seed=TEMPLATE_SEED, as_of=AS_OF)
    async with app.state.runtime.engine.connect() as conn:
        for table, rows in expected:
            assert await conn.scalar(select(func.count()).select_from(table)) == len(rows), table
        cohorts = (
            await conn.execute(
                select(LearningItem.enrolled, LearningItem.capacity).where(
                    LearningItem.section == "CLASS"
                )
            )
        ).all()
    items, _, enrolments = (rows for _, rows in expected)
    assert {i["section"] for i in items} == {"COURSE", "MICRO_CLASS", "TOPIC", "BOOK", "CLASS"}
    assert {i["tenant_path"].count("/") for i in items} == {2, 3, 4}  # district, towns, villages
    assert all(enrolled <= capacity for enrolled, capacity in cohorts)
    # Completions both inside and outside the 365-day window, and open enrolments.
    now = datetime.combine(AS_OF, datetime.min.time(), tzinfo=UTC)
    done = [e["completed_at"] for e in enrolments if e["completed_at"] is not None]
    assert any(d > now - timedelta(days=365) for d in done)
    assert any(d <= now - timedelta(days=365) for d in done)
    assert any(e["completed_at"] is None for e in enrolments)
    # Enrolments only in items their member sees.
    paths = {t["id"]: t["path"] for t in demo.tenants}
    branch_path = {b["id"]: paths[b["tenant_id"]] for b in demo.branches}
    member_path = {m["id"]: branch_path[m["branch_id"]] for m in demo.members}
    item_path = {i["id"]: i["tenant_path"] for i in items}
    assert all(member_path[e["member_id"]].startswith(item_path[e["item_id"]]) for e in enrolments)


async def test_one_member_enrolling_at_once_takes_one_seat(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, app = fresh
    today = date.today()
    cohort = await create(
        client,
        demo,
        "d01",
        "重复报名",
        section="CLASS",
        capacity=2,
        startsOn=today.isoformat(),
        endsOn=(today + timedelta(days=30)).isoformat(),
    )
    member = await client.as_user(members_by_place(demo)[0].username)
    bodies = await asyncio.gather(*(member.post(ENROL, {"i": cohort["id"]}) for _ in range(6)))
    assert all("errors" not in b for b in bodies), bodies
    assert len({b["data"]["enrolLearning"]["id"] for b in bodies}) == 1
    async with app.state.runtime.engine.connect() as conn:
        enrolled = await conn.scalar(
            select(LearningItem.enrolled).where(LearningItem.id == pk(cohort["id"]))
        )
    assert enrolled == 1
    enrols = [
        e
        for e in await audit_actions(app, "learning.enrol")
        if json.loads(e.detail)["item"] == pk(cohort["id"])
    ]
    assert len(enrols) == 1


async def test_hours_of_many_members_at_once(seeded: tuple[GraphQLClient, Any]) -> None:
    # A district-wide campaign asks for tens of thousands of members in one call (chunked).
    _client, app = seeded
    now = datetime.now(UTC)
    ids = list(range(1, 12_001))
    async with app.state.runtime.engine.connect() as conn:
        many = await ratings.learning_hours(conn, ids, now)
        learners = (
            await conn.execute(select(LearningEnrolment.member_id).distinct().limit(5))
        ).scalars()
        one_by_one = {m: (await ratings.learning_hours(conn, [m], now))[m] for m in learners}
    assert set(many) == set(ids)
    assert {m: many[m] for m in one_by_one} == one_by_one
    assert any(one_by_one.values())
    for member, hours in one_by_one.items():
        assert hours == pytest.approx(await hours_in_db(app, member))


# -- review: defects found in the second round --------------------------------------------------

FEED = """query($kinds: [FeedKind!], $first: Int) { feedEvents(kinds: $kinds, first: $first) {
  edges { node { kind title tenant { code } branch { id } payload } } } }"""


async def learning_events(gql: GraphQLClient) -> list[Json]:
    edges = (await gql.data(FEED, {"kinds": ["BRANCH_ACTIVITY"], "first": 100}))["feedEvents"]
    return [
        e["node"]
        for e in edges["edges"]
        if (e["node"]["payload"] or {}).get("source") == "learning_publish"
    ]


async def test_publishing_reaches_the_feed_once_at_the_items_tenant(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, _app = fresh
    senior = await client.as_user("admin.d01t01")
    at_once = await create(senior, demo, "d01t01", "新时代党的建设", section="BOOK")
    draft = await create(
        senior, demo, "d01t01", "基层治理微课", section="MICRO_CLASS", publish=False
    )
    assert await learning_events(client) == [
        {
            "kind": "BRANCH_ACTIVITY",
            "title": "发布学习内容：新时代党的建设",
            "tenant": {"code": "d01t01"},
            "branch": None,
            "payload": {
                "source": "learning_publish",
                "item": pk(at_once["id"]),
                "section": "BOOK",
                "section_label": "书籍",
                "title": "新时代党的建设",
            },
        }
    ]  # the draft is not published: no event
    await senior.data(PUBLISH, {"id": draft["id"]})
    events = await learning_events(client)
    assert [(e["title"], e["payload"]["item"], e["payload"]["section"]) for e in events] == [
        ("发布学习内容：基层治理微课", pk(draft["id"]), "MICRO_CLASS"),
        ("发布学习内容：新时代党的建设", pk(at_once["id"]), "BOOK"),
    ]
    # Scoped like every event: the town's admin sees its own, another town's does not.
    assert len(await learning_events(senior)) == 2
    assert await learning_events(await client.as_user("admin.d01t02")) == []
    # Withdrawing is no publication; a refused publication leaves no event.
    await senior.data(WITHDRAW, {"id": draft["id"]})
    await senior.error(WITHDRAW, {"id": draft["id"]})
    await senior.error(CREATE, {"input": item_input(demo, "d01t01", " ")})
    assert len(await learning_events(client)) == 2


async def test_a_draft_is_published_once_under_concurrent_requests(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, app = fresh
    draft = await create(client, demo, "d01t01", "并发发布", publish=False)
    bodies = await asyncio.gather(*(client.post(PUBLISH, {"id": draft["id"]}) for _ in range(6)))
    won = [b for b in bodies if "errors" not in b]
    lost = [b["errors"][0]["extensions"] for b in bodies if "errors" in b]
    assert len(won) == 1, bodies
    assert all((e["code"], e["argument"]) == ("BAD_USER_INPUT", "id") for e in lost), lost
    assert len(await audit_actions(app, "learning.item.publish")) == 1
    assert len(await learning_events(client)) == 1


async def test_a_class_shows_only_published_items_its_creator_sees(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, _app = fresh
    place = village_member(demo, "d01t01")
    district_draft = await create(client, demo, "d01", "区里的草稿", publish=False)
    sibling = next(
        t["code"]
        for t in demo.tenants
        if t["code"].startswith("d01t01v") and t["code"] != place.code
    )
    sibling_class = await create(
        client,
        demo,
        sibling,
        "邻村的班",
        section="CLASS",
        capacity=5,
        startsOn="2026-03-01",
        endsOn="2026-04-01",
    )
    junior = await client.as_user(f"admin.{place.code}")
    klass = {"section": "CLASS", "capacity": 5, "startsOn": "2026-03-01", "endsOn": "2026-04-01"}
    messages = set()
    for hidden in (
        district_draft["id"],  # another admin's draft, above the village: not for its eyes
        sibling_class["id"],  # a class it cannot see: refused like an absent item
        str(global_id("LearningItem", 999_999)),
    ):
        error = await junior.error(
            CREATE, {"input": item_input(demo, place.code, "村班", itemIds=[hidden]) | klass}
        )
        assert (code_of(error), error["extensions"]["argument"]) == ("BAD_USER_INPUT", "itemIds")
        messages.add(error["message"].replace(str(pk(hidden)), "N"))
    assert len(messages) == 1  # the same refusal whatever lies behind the id
    # Member's view of a village class: only published items.
    published = await create(client, demo, "d01", "区里的课")
    made = await create(junior, demo, place.code, "村班", itemIds=[published["id"]], **klass)
    member = await client.as_user(place.username)
    shown = (await member.data(ITEM, {"id": made["id"]}))["learningItem"]
    assert [i["id"] for i in shown["items"]] == [published["id"]]


async def test_a_withdrawn_item_is_absent_to_those_not_enrolled(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, _app = fresh
    enrolled, stranger = [await client.as_user(p.username) for p in members_by_place(demo)[:2]]
    course = await create(client, demo, "d01", "将撤回的课")
    await enrolled.data(ENROL, {"i": course["id"]})
    await client.data(WITHDRAW, {"id": course["id"]})
    # The enrolled member may finish it; to anyone else it is as absent as a missing item.
    step = (await enrolled.data(PROGRESS, {"i": course["id"], "p": 50}))["recordLearningProgress"]
    assert step["progress"] == 50
    for item in (course["id"], str(global_id("LearningItem", 999_999))):
        assert code_of(await stranger.error(PROGRESS, {"i": item, "p": 10})) == "FORBIDDEN"
        assert code_of(await stranger.error(COMPLETE, {"i": item})) == "FORBIDDEN"
    assert (await stranger.data(ITEM, {"id": course["id"]}))["learningItem"] is None


async def test_more_bad_input_is_refused_by_name(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, app = fresh
    member = await client.as_user(members_by_place(demo)[0].username)
    cases: list[tuple[Json, str]] = [
        # PostgreSQL stores no NUL in text: refused, not an internal error.
        ({"title": "党\x00课"}, "title"),
        ({"summary": "摘要\x00"}, "summary"),
        ({"tags": ["党史\x00"]}, "tags"),
        # Below the stored precision it would award 0 hours.
        ({"creditHours": 0.004}, "creditHours"),
        # Ids past the 32-bit columns: bad input, not an internal error.
        ({"tenantId": str(global_id("Tenant", 2**31))}, "tenantId"),
        (
            {
                "section": "CLASS",
                "capacity": 2,
                "startsOn": "2026-03-01",
                "endsOn": "2026-04-01",
                "itemIds": [str(global_id("LearningItem", 10**12))],
            },
            "itemIds",
        ),
    ]
    for extra, argument in cases:
        error = await client.error(CREATE, {"input": item_input(demo, "d01", "课程") | extra})
        assert (code_of(error), error["extensions"].get("argument")) == (
            "BAD_USER_INPUT",
            argument,
        ), extra
    huge = str(global_id("LearningItem", 2**40))
    for query, variables, argument in (
        (ITEM, {"id": huge}, "id"),
        (ENROL, {"i": huge}, "itemId"),
        (PROGRESS, {"i": huge, "p": 5}, "itemId"),
        (PUBLISH, {"id": huge}, "id"),
    ):
        error = await (client if query == PUBLISH else member).error(query, variables)
        assert (code_of(error), error["extensions"].get("argument")) == (
            "BAD_USER_INPUT",
            argument,
        ), query
    far = str(global_id("Tenant", 2**31))
    for query in (ITEMS, ENROLMENTS, BY_MEMBER, BY_BRANCH):
        error = await client.error(query, {"under": far})
        assert (code_of(error), error["extensions"].get("argument")) == (
            "BAD_USER_INPUT",
            "under",
        ), query
    smallest = await create(client, demo, "d01", "最短", creditHours=0.01)
    assert smallest["creditHours"] == 0.01
    async with app.state.runtime.engine.connect() as conn:
        titles = (await conn.execute(select(LearningItem.title))).scalars().all()
    assert "课程" not in titles


async def test_a_cohort_takes_no_progress_before_its_first_day(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, app = fresh
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the district's date
    cohort = await create(
        client,
        demo,
        "d01",
        "下月开班",
        section="CLASS",
        capacity=10,
        creditHours=12,
        startsOn=(today + timedelta(days=1)).isoformat(),
        endsOn=(today + timedelta(days=30)).isoformat(),
    )
    place = members_by_place(demo)[0]
    member = await client.as_user(place.username)
    await member.data(ENROL, {"i": cohort["id"]})  # enrolling ahead is fine
    for query, variables in (
        (COMPLETE, {"i": cohort["id"]}),
        (PROGRESS, {"i": cohort["id"], "p": 5}),
    ):
        error = await member.error(query, variables)
        assert (code_of(error), error["extensions"]["argument"], error["extensions"]["reason"]) == (
            "BAD_USER_INPUT",
            "itemId",
            "CLASS_NOT_STARTED",
        )
    before = await hours_in_db(app, place.member_id)
    # From its first day on, it is studied and completed as any item.
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(
            update(LearningItem).where(LearningItem.id == pk(cohort["id"])).values(starts_on=today)
        )
    done = (await member.data(COMPLETE, {"i": cohort["id"]}))["completeLearning"]
    assert (done["completed"], done["creditHours"]) == (True, 12.0)
    assert await hours_in_db(app, place.member_id) == pytest.approx(before + 12)
