"""`node(id:)` over the service modules' objects, on SQLite and PostgreSQL.

The contract: `node(id:)` resolves any object the viewer may see, and null for one out of its
scope exactly as for one that does not exist. For each kind (learning item, lecturer, live
class, service center, micro-wish, volunteer service, venue, cadre) node(id) must answer as the
kind's own single-object query does, viewer by viewer: the same fields (personal data masked
alike), null alike, and the same audit entries for an unmasked read. The planned executor
must answer node's abstract type as graphql-core does.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Select, func, select

from schema.executor import PlannedExecutionContext
from schema.ids import MAX_KEY, global_id, parse_global_id
from server.admin import create_partner
from server.app import create_app
from server.archives.models import Cadre
from server.audit.models import AuditEntry
from server.auth.models import User
from server.learning.models import LearningItem
from server.lecturers.models import Lecturer, LiveClass
from server.venues.models import Venue
from server.volunteering.models import MicroWish, ServiceCenter, VolunteerService
from tenants.demo import DemoData, demo_bindings
from tenants.models import Tenant
from tests.conftest import TEMPLATE_SEED, Databases, GraphQLClient, settings_for

Json = dict[str, Any]

HERE = "/d01/t01/v001/"  # where the objects under test are: a village of town t01
TOWN = "/d01/t01/"
OUTSIDE = "/d01/t02/"


@dataclass(frozen=True)
class Kind:
    name: str  # the GraphQL type, and the kind of its global ids
    field: str  # its own single-object query
    selection: str


KINDS = {
    k.name: k
    for k in (
        Kind(
            "LearningItem",
            "learningItem",
            "section title summary creditHours categories tags state publishedTo { id path } "
            "startsOn endsOn capacity enrolled items { id title } createdAt publishedAt",
        ),
        Kind(
            "Lecturer",
            "lecturer",
            "name title affiliation topics bio active tenant { id path } account createdAt "
            "updatedAt",
        ),
        Kind(
            "LiveClass",
            "liveClass",
            "title lecturer { id name account } host { id path } scheduledStart scheduledEnd "
            "startedAt endedAt status attendanceCount createdBy canHost canJoin",
        ),
        Kind(
            "ServiceCenter",
            "serviceCenter",
            "kind kindLabel name address phone tenantName tenant { id path } createdAt",
        ),
        Kind(
            "MicroWish",
            "microWish",
            "centerId centerName title description category deadline overdue state postedAt "
            "claimer { memberId name branchName } claimedByMe requesterName requesterPhone",
        ),
        Kind(
            "VolunteerService",
            "volunteerService",
            "centerId centerName title place startsAt endsAt capacity signedUp placesLeft state "
            "signedUpByMe",
        ),
        Kind(
            "Venue",
            "venue",
            "kind kindLabel name address capacity active openingHours { weekday opens closes } "
            "closedDates tenant { id path } createdAt updatedAt",
        ),
        Kind(
            "Cadre",
            "cadre",
            "name position rank unit tenant { id path } member { id name phone idNumber }",
        ),
    )
}


def dedicated_query(kind: Kind) -> str:
    return f"query($id: ID!) {{ one: {kind.field}(id: $id) {{ __typename id {kind.selection} }} }}"


def node_query(kind: Kind) -> str:
    return (
        "query($id: ID!) { one: node(id: $id) { __typename id "
        f"... on {kind.name} {{ {kind.selection} }} }} }}"
    )


# -- the module's own database ------------------------------------------------------------------


@dataclass
class World:
    client: GraphQLClient
    app: Any
    viewers: dict[str, GraphQLClient]  # role -> a client signed in as an account of that role
    usernames: dict[str, str]


def cast(demo: DemoData) -> dict[str, str]:
    """Demo accounts by role, relative to HERE: admins at three tiers above it, members in
    it and beside it, and an admin and a member of the other town."""
    members = [(u, p) for u, role, p in demo_bindings(demo, seed=TEMPLATE_SEED) if role == "MEMBER"]
    here = [u for u, p in members if p == HERE]
    return {
        "district": "admin",
        "town": "admin.d01t01",
        "village": "admin.d01t01v001",
        "member_here": here[0],
        "member_here_2": here[1],
        # In a sibling village: a member's scope is its branch's tenant subtree.
        "member_beside": next(
            u for u, p in members if p.startswith(TOWN) and p not in (TOWN, HERE)
        ),
        "outside_admin": "admin.d01t02",
        "outside_member": next(u for u, p in members if p.startswith(OUTSIDE)),
    }


@pytest.fixture(scope="module")
async def world(databases: Databases, workdir: Path, demo: DemoData) -> AsyncIterator[World]:
    """A copy of the seeded district for this module: its reads write audit entries, which
    the tests count, and it adds a draft item and a live class the demo data lacks."""
    app = create_app(settings_for(databases.copy(), workdir))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        client = await GraphQLClient(http).as_user("admin")
        usernames = cast(demo)
        viewers = {role: await client.as_user(name) for role, name in usernames.items()}
        village = viewers["village"]
        here_id = await tenant_gid(app, HERE)
        await village.data(
            """mutation($input: CreateLearningItemInput!) { createLearningItem(input: $input) {
              id state } }""",
            {
                "input": {
                    "tenantId": here_id,
                    "section": "COURSE",
                    "title": "村史讲习（草稿）",
                    "creditHours": 1.5,
                }
            },
        )
        lecturer = await first_id(app, select(Lecturer.id).join(Tenant).where(Tenant.path == HERE))
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
        await village.data(
            """mutation($input: ScheduleLiveClassInput!) { scheduleLiveClass(input: $input) {
              id } }""",
            {
                "input": {
                    "title": "空中课堂：村史",
                    "lecturerId": global_id("Lecturer", lecturer),
                    "hostTenantId": here_id,
                    "scheduledStart": start.isoformat(),
                    "scheduledEnd": (start + timedelta(hours=1)).isoformat(),
                }
            },
        )
        yield World(client, app, viewers, usernames)
    await app.state.runtime.close()


async def tenant_gid(app: Any, path: str) -> str:
    return str(
        global_id("Tenant", await first_id(app, select(Tenant.id).where(Tenant.path == path)))
    )


async def first_id(app: Any, stmt: Select[Any]) -> int:
    async with app.state.runtime.engine.connect() as conn:
        pk = await conn.scalar(stmt.order_by(stmt.selected_columns[0]).limit(1))
    assert pk is not None, f"no row for {stmt}"
    return int(pk)


async def object_at_here(app: Any, case: str) -> int:
    """The object of a case: the first of its kind at HERE (a cadre: one whose member has an
    account, so it can read its own file)."""
    at_here = Tenant.path == HERE
    statements: dict[str, Select[Any]] = {
        "LearningItem": select(LearningItem.id).where(
            LearningItem.tenant_path == HERE, LearningItem.state == "PUBLISHED"
        ),
        "LearningItem/draft": select(LearningItem.id).where(
            LearningItem.tenant_path == HERE, LearningItem.state == "DRAFT"
        ),
        "Lecturer": select(Lecturer.id).join(Tenant).where(at_here),
        "LiveClass": select(LiveClass.id).join(Tenant).where(at_here),
        "ServiceCenter": select(ServiceCenter.id).join(Tenant).where(at_here),
        "MicroWish": select(MicroWish.id)
        .join(ServiceCenter, ServiceCenter.id == MicroWish.center_id)
        .join(Tenant, Tenant.id == ServiceCenter.tenant_id)
        .where(at_here, MicroWish.state == "OPEN"),
        "VolunteerService": select(VolunteerService.id)
        .join(ServiceCenter, ServiceCenter.id == VolunteerService.center_id)
        .join(Tenant, Tenant.id == ServiceCenter.tenant_id)
        .where(at_here),
        "Venue": select(Venue.id).join(Tenant).where(at_here),
        "Cadre": select(Cadre.id)
        .join(Tenant)
        .join(User, User.member_id == Cadre.member_id)
        .where(at_here),
    }
    return await first_id(app, statements[case])


async def audit_mark(app: Any) -> int:
    async with app.state.runtime.engine.connect() as conn:
        return int(await conn.scalar(select(func.coalesce(func.max(AuditEntry.id), 0))))


async def audit_since(app: Any, mark: int) -> list[tuple[Any, ...]]:
    async with app.state.runtime.engine.connect() as conn:
        rows = await conn.execute(
            select(
                AuditEntry.principal,
                AuditEntry.action,
                AuditEntry.tenant_path,
                AuditEntry.subject,
                AuditEntry.detail,
            )
            .where(AuditEntry.id > mark)
            .order_by(AuditEntry.id)
        )
        return [(*r[:4], json.loads(r[4])) for r in rows]


@dataclass
class Answer:
    one: Json | None
    audit: list[tuple[Any, ...]]


async def ask(world: World, gql: GraphQLClient, query: str, gid: str) -> Answer:
    mark = await audit_mark(world.app)
    one = (await gql.data(query, {"id": gid}))["one"]
    return Answer(one, await audit_since(world.app, mark))


async def both_ways(
    world: World, gql: GraphQLClient, kind: Kind, gid: str
) -> tuple[Answer, Answer]:
    return await ask(world, gql, dedicated_query(kind), gid), await ask(
        world, gql, node_query(kind), gid
    )


# -- node(id) answers as the kind's own query ---------------------------------------------------

ADMINS_HERE = {"district", "town", "village"}
# Who sees each case's object: its kind's own rules, checked here so that the comparison below
# is not between two nulls.
SEEN_BY = {
    "LearningItem": ADMINS_HERE | {"member_here", "member_here_2"},
    "LearningItem/draft": ADMINS_HERE,  # admins who may write there
    "Lecturer": ADMINS_HERE | {"member_here", "member_here_2"},
    "LiveClass": ADMINS_HERE | {"member_here", "member_here_2"},
    "ServiceCenter": ADMINS_HERE | {"member_here", "member_here_2"},
    "MicroWish": ADMINS_HERE | {"member_here", "member_here_2"},
    "VolunteerService": ADMINS_HERE | {"member_here", "member_here_2"},
    "Venue": ADMINS_HERE | {"member_here", "member_here_2"},
    "Cadre": ADMINS_HERE | {"own"},  # a member reads its own file only
}


@pytest.mark.parametrize("case", sorted(SEEN_BY))
async def test_node_answers_as_the_dedicated_query(world: World, case: str) -> None:
    kind = KINDS[case.split("/")[0]]
    pk = await object_at_here(world.app, case)
    gid = str(global_id(kind.name, pk))
    viewers = dict(world.viewers)
    if kind.name == "Cadre":
        async with world.app.state.runtime.engine.connect() as conn:
            owner = await conn.scalar(
                select(User.username)
                .join(Cadre, Cadre.member_id == User.member_id)
                .where(Cadre.id == pk)
            )
        viewers = {role: gql for role, gql in viewers.items() if world.usernames[role] != owner}
        viewers["own"] = await world.client.as_user(owner)
    for role, gql in viewers.items():
        dedicated, node = await both_ways(world, gql, kind, gid)
        assert node.one == dedicated.one, role
        assert node.audit == dedicated.audit, role
        # Out of scope reads as absent, and leaves no refusal in the log either way.
        if role in SEEN_BY[case]:
            assert dedicated.one is not None and dedicated.one["__typename"] == kind.name, role
            assert dedicated.one["id"] == gid
        else:
            assert dedicated.one is None, role
            assert dedicated.audit == [], role


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_an_absent_id_is_null_both_ways(world: World, kind: str) -> None:
    gid = str(global_id(kind, MAX_KEY))
    for gql in (world.client, world.viewers["member_here"]):
        dedicated, node = await both_ways(world, gql, KINDS[kind], gid)
        assert dedicated.one is None and node.one is None
        assert dedicated.audit == node.audit == []


async def test_the_requesters_data_is_masked_and_audited_alike(world: World) -> None:
    kind = KINDS["MicroWish"]
    gid = str(global_id(kind.name, await object_at_here(world.app, "MicroWish")))
    # The town admin reads it unmasked (MEMBER read_sensitive there), audited per read.
    for answer in await both_ways(world, world.viewers["town"], kind, gid):
        assert answer.one is not None and "*" not in answer.one["requesterPhone"]
        assert [(a[0], a[1], a[3]) for a in answer.audit] == [
            ("user:admin.d01t01", "micro_wish.read_sensitive", str(parse_pk(gid)))
        ]
    # The village admin may see the wish but not the requester's data; nothing is logged.
    for answer in await both_ways(world, world.viewers["village"], kind, gid):
        assert answer.one is not None and "****" in answer.one["requesterPhone"]
        assert answer.one["requesterName"].endswith("某")
        assert answer.audit == []


async def test_the_claimer_reaches_the_requester_through_node_too(world: World) -> None:
    kind = KINDS["MicroWish"]
    center = await first_id(
        world.app, select(ServiceCenter.id).join(Tenant).where(Tenant.path == HERE)
    )
    posted = await world.viewers["village"].data(
        """mutation($input: MicroWishInput!) { postMicroWish(input: $input) { id } }""",
        {
            "input": {
                "centerId": global_id("ServiceCenter", center),
                "requesterName": "欧阳秀英",
                "requesterPhone": "13812345678",
                "title": "帮忙购买降压药",
                "category": "HEALTH",
            }
        },
    )
    gid = posted["postMicroWish"]["id"]
    member = world.viewers["member_here"]
    masked, masked_node = await both_ways(world, member, kind, gid)
    assert masked_node.one == masked.one and masked.one is not None
    assert masked.one["requesterPhone"] == "138****5678" and masked_node.audit == []
    await member.data("mutation($id: ID!) { claimMicroWish(id: $id) { id } }", {"id": gid})
    dedicated, node = await both_ways(world, member, kind, gid)
    assert node.one == dedicated.one and dedicated.one is not None
    assert (dedicated.one["requesterName"], dedicated.one["requesterPhone"]) == (
        "欧阳秀英",
        "13812345678",
    )
    assert dedicated.one["claimedByMe"] is True
    principal = f"user:{world.usernames['member_here']}"
    assert [(a[0], a[1]) for a in node.audit] == [(principal, "micro_wish.read_sensitive")]
    assert node.audit == dedicated.audit


async def test_the_cadres_member_data_is_masked_and_audited_alike(world: World) -> None:
    kind = KINDS["Cadre"]
    gid = str(global_id(kind.name, await object_at_here(world.app, "Cadre")))
    town = await both_ways(world, world.viewers["town"], kind, gid)
    for answer in town:
        assert answer.one is not None and "*" not in answer.one["member"]["phone"]
        assert [(a[1], a[4]) for a in answer.audit] == [
            ("member.read_sensitive", {"members": [parse_pk(answer.one["member"]["id"])]})
        ]
    # JUNIOR_ADMIN has no member read_sensitive: masked, and nothing logged.
    unmasked = town[0].one
    assert unmasked is not None
    for answer in await both_ways(world, world.viewers["village"], kind, gid):
        assert answer.one is not None and "*" in answer.one["member"]["phone"]
        assert answer.one["member"]["idNumber"] != unmasked["member"]["idNumber"]
        assert answer.audit == []


def parse_pk(gid: str) -> int:
    return parse_global_id(gid)[1]


async def test_an_unknown_kind_is_null_and_a_malformed_id_bad_input(world: World) -> None:
    venue = await object_at_here(world.app, "Venue")
    answer = await world.client.data(node_query(KINDS["Venue"]), {"id": global_id("Place", venue)})
    assert answer["one"] is None
    error = await world.client.error(node_query(KINDS["Venue"]), {"id": "not-an-id"})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "id"


async def test_a_principal_without_the_right_gets_null_from_node(world: World) -> None:
    """A partner key opens none of the service resources: their own queries refuse it
    (FORBIDDEN, audited), and node answers null, as for any object out of scope."""
    runtime = world.app.state.runtime
    made = await create_partner(
        runtime.engine, name="node-probe", tenant_code="d01t01", scopes=["read:tenants"]
    )
    await runtime.control.partners_changed()
    await runtime.control.policy_changed()
    partner = GraphQLClient(world.client.http, made.key)
    for case in sorted(KINDS):
        kind = KINDS[case]
        gid = str(global_id(kind.name, await object_at_here(world.app, case)))
        error = await partner.error(dedicated_query(kind), {"id": gid})
        assert error["extensions"]["code"] == "FORBIDDEN", case
        node = await ask(world, partner, node_query(kind), gid)
        assert node.one is None and node.audit == [], case
    # The key itself works: a tenant of its subtree resolves.
    here = await tenant_gid(world.app, HERE)
    assert (await partner.data("query($id: ID!) { node(id: $id) { id } }", {"id": here}))[
        "node"
    ] == {"id": here}


# -- the planned executor -----------------------------------------------------------------------


class CoreSpy:
    def __init__(self) -> None:
        self.calls = 0


@pytest.fixture
def core_spy(monkeypatch: pytest.MonkeyPatch) -> CoreSpy:
    # graphql-core runs every operation's root fields through this method; the plan does not.
    spy = CoreSpy()
    original = PlannedExecutionContext.execute_root_grouped_field_set

    def counting(self: PlannedExecutionContext, *args: Any, **kwargs: Any) -> Any:
        spy.calls += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PlannedExecutionContext, "execute_root_grouped_field_set", counting)
    return spy


async def run(gql: GraphQLClient, query: str, gid: str, *, planned: bool) -> Json:
    saved = PlannedExecutionContext.enabled
    PlannedExecutionContext.enabled = planned
    try:
        return await gql.post(query, {"id": gid})
    finally:
        PlannedExecutionContext.enabled = saved


async def test_the_planned_executor_resolves_node_on_a_venue(
    world: World, core_spy: CoreSpy
) -> None:
    gid = str(global_id("Venue", await object_at_here(world.app, "Venue")))
    query = "query($id: ID!) { node(id: $id) { ... on Venue { name } } }"
    core_spy.calls = 0
    planned = await run(world.client, query, gid, planned=True)
    served_by_plan = core_spy.calls == 0
    standard = await run(world.client, query, gid, planned=False)
    assert core_spy.calls >= 1  # the spy does see graphql-core when it runs
    assert planned == standard
    assert set(planned) == {"data"} and planned["data"]["node"]["name"]
    # node's abstract type is planned (AbstractPlan picks the concrete type per value).
    assert served_by_plan


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_the_planned_executor_answers_node_as_graphql_core(
    world: World, core_spy: CoreSpy, kind: str
) -> None:
    gid = str(global_id(kind, await object_at_here(world.app, kind)))
    for role in ("town", "member_here"):
        gql = world.viewers[role]
        planned = await run(gql, node_query(KINDS[kind]), gid, planned=True)
        standard = await run(gql, node_query(KINDS[kind]), gid, planned=False)
        assert planned == standard, role
        assert "errors" not in planned, planned
