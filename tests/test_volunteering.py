"""Volunteering, on SQLite and PostgreSQL: the demo's service centers (178 + 24 at district
scale), posting scope, the requester's masked personal data, the claim race (one winner), the
wish state machine and its refused moves, completion as a BRANCH_ACTIVITY of the claimer's
branch, rating, volunteer services' capacity under concurrent sign-ups, counts per center and
per subtree, scoping between towns (absent alike), pagination and audit."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from schema.ids import global_id, parse_global_id
from server.activities.models import Activity, ActivityKind
from server.audit.models import AuditEntry
from server.auth.models import User
from server.branches.models import Branch
from server.errors import BadUserInput
from server.feed.models import FeedEventRow
from server.members.models import Member
from server.volunteering import service
from server.volunteering.demo import center_rows, wish_and_service_rows
from server.volunteering.models import MicroWish, ServiceCenter, VolunteerService, VolunteerSignup
from server.volunteering.states import WISH_MOVES, WishState
from tenants.demo import DemoData, generate
from tenants.models import Tenant
from tests.conftest import AS_OF, TEMPLATE_SEED, GraphQLClient
from tests.test_query_counts import statements

Json = dict[str, Any]

CENTERS = """query($under: ID, $kind: ServiceCenterKind, $first: Int, $after: String) {
  serviceCenters(under: $under, kind: $kind, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id kind kindLabel name address phone tenantName } } } }"""
WISH_FIELDS = """id state stateLabel title category categoryLabel deadline centerId centerName
  requesterName requesterPhone claimedByMe claimer { memberId name branchName }
  completionNote rating ratingComment closeReason"""
POST = (
    f"""mutation($input: MicroWishInput!) {{ postMicroWish(input: $input) {{ {WISH_FIELDS} }} }}"""
)
CLAIM = f"mutation($id: ID!) {{ claimMicroWish(id: $id) {{ {WISH_FIELDS} }} }}"
RELEASE = f"mutation($id: ID!) {{ releaseMicroWish(id: $id) {{ {WISH_FIELDS} }} }}"
COMPLETE = f"""mutation($id: ID!, $note: String!) {{ completeMicroWish(id: $id, note: $note) {{
  {WISH_FIELDS} }} }}"""
RATE = f"""mutation($id: ID!, $r: Int!, $c: String!) {{ rateMicroWish(id: $id, rating: $r,
  comment: $c) {{ {WISH_FIELDS} }} }}"""
WITHDRAW = f"""mutation($id: ID!, $r: String!) {{ withdrawMicroWish(id: $id, reason: $r) {{
  {WISH_FIELDS} }} }}"""
CANCEL = f"""mutation($id: ID!, $r: String!) {{ cancelMicroWish(id: $id, reason: $r) {{
  {WISH_FIELDS} }} }}"""
WISH = f"query($id: ID!) {{ microWish(id: $id) {{ {WISH_FIELDS} }} }}"
WISHES = """query($under: ID, $center: ID, $states: [MicroWishState!], $first: Int,
  $after: String) { microWishes(under: $under, centerId: $center, states: $states,
  first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node { id state title } } } }"""
MY_WISHES = """{ myMicroWishes { totalCount edges { node { id state claimedByMe } } } }"""
SERVICE_FIELDS = """id state title capacity signedUp placesLeft signedUpByMe centerName"""
INITIATE = f"""mutation($input: VolunteerServiceInput!) {{ initiateVolunteerService(
  input: $input) {{ {SERVICE_FIELDS} }} }}"""
SIGN_UP = f"mutation($id: ID!) {{ signUpForVolunteerService(id: $id) {{ {SERVICE_FIELDS} }} }}"
UNSIGN = f"mutation($id: ID!) {{ withdrawVolunteerSignup(id: $id) {{ {SERVICE_FIELDS} }} }}"
COMPLETE_SERVICE = f"""mutation($id: ID!, $absent: [ID!]) {{ completeVolunteerService(id: $id,
  absent: $absent, note: "完成") {{ {SERVICE_FIELDS} }} }}"""
RATE_SERVICE = f"""mutation($id: ID!, $e: [VolunteerEvaluationInput!]!) {{
  rateVolunteerService(id: $id, evaluations: $e) {{ {SERVICE_FIELDS} }} }}"""
CANCEL_SERVICE = f"""mutation($id: ID!) {{ cancelVolunteerService(id: $id, reason: "下雨") {{
  {SERVICE_FIELDS} }} }}"""
PARTICIPANTS = """query($id: ID!, $first: Int, $after: String) { volunteerParticipants(
  serviceId: $id, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
  edges { node { memberId name attended rating ratingComment } } } }"""
STATS = """query($under: ID, $since: DateTime, $until: DateTime) { volunteeringStats(
  under: $under, since: $since, until: $until) {
  total { partyMassCenters communityCenters wishes { state count } services { state count }
          wishesCompleted servicesCompleted volunteersServed }
  perCenter(first: 100) { totalCount edges { node { center { id name }
    counts { partyMassCenters communityCenters wishes { state count } wishesCompleted
             services { state count } } } } } } }"""


# -- the demo's centers, without a database ------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
def test_the_district_has_178_party_mass_and_24_community_centers(seed: int) -> None:
    data = generate("district", seed=seed, as_of=date(2026, 1, 1))
    rows = center_rows(data, seed=seed, as_of=date(2026, 1, 1))
    assert Counter(r["kind"] for r in rows) == {"PARTY_MASS": 178, "COMMUNITY": 24}
    tenants = {t["id"]: t for t in data.tenants}
    assert {tenants[r["tenant_id"]]["level"] for r in rows} <= {"TOWN", "VILLAGE"}
    # Every town has its party-mass center; community centers are in residential communities.
    towns = {t["id"] for t in data.tenants if t["level"] == "TOWN"}
    assert towns <= {r["tenant_id"] for r in rows if r["kind"] == "PARTY_MASS"}
    assert all(
        tenants[r["tenant_id"]]["name"].endswith("社区") for r in rows if r["kind"] == "COMMUNITY"
    )
    # One center of a kind per tenant, ids 1..n, and the same rows from the same seed.
    assert len({(r["tenant_id"], r["kind"]) for r in rows}) == len(rows)
    assert [r["id"] for r in rows] == list(range(1, len(rows) + 1))
    assert center_rows(data, seed=seed, as_of=date(2026, 1, 1)) == rows


def test_the_small_district_scales_the_centers_down() -> None:
    data = generate("small", seed=TEMPLATE_SEED, as_of=AS_OF)
    rows = center_rows(data, seed=TEMPLATE_SEED, as_of=AS_OF)
    # 8 town and village points of the reference district's 243: 178 * 8/243 ≈ 6, 24 * 8/243 ≈ 1.
    assert Counter(r["kind"] for r in rows) == {"PARTY_MASS": 6, "COMMUNITY": 1}


def test_the_state_machine_table() -> None:
    assert {n: (m.sources, m.target) for n, m in WISH_MOVES.items()} == {
        "claim": (("OPEN",), "CLAIMED"),
        "release": (("CLAIMED",), "OPEN"),
        "complete": (("CLAIMED",), "COMPLETED"),
        "rate": (("COMPLETED",), "RATED"),
        "withdraw": (("OPEN", "CLAIMED"), "WITHDRAWN"),
        "cancel": (("OPEN", "CLAIMED"), "CANCELLED"),
    }
    # Terminal states: no move leaves them.
    for state in (WishState.RATED, WishState.WITHDRAWN, WishState.CANCELLED):
        assert all(state not in m.sources for m in WISH_MOVES.values())


# -- helpers over the app ------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    username: str
    member_id: int
    branch_id: int
    path: str


async def member_accounts(app: Any) -> list[Account]:
    async with app.state.runtime.engine.connect() as conn:
        rows = await conn.execute(
            select(User.username, User.member_id, Member.branch_id, Tenant.path)
            .join(Member, Member.id == User.member_id)
            .join(Branch, Branch.id == Member.branch_id)
            .join(Tenant, Tenant.id == Branch.tenant_id)
            .order_by(User.member_id)
        )
        return [Account(*r) for r in rows]


async def centers(app: Any) -> list[Any]:
    async with app.state.runtime.engine.connect() as conn:
        rows = await conn.execute(
            select(ServiceCenter.id, ServiceCenter.kind, ServiceCenter.name, Tenant.path)
            .join(Tenant, Tenant.id == ServiceCenter.tenant_id)
            .order_by(ServiceCenter.id)
        )
        return list(rows)


async def center_at(app: Any, path: str, kind: str = "PARTY_MASS") -> str:
    row = next(c for c in await centers(app) if c.path == path and c.kind == kind)
    return str(global_id("ServiceCenter", row.id))


async def count_rows(app: Any, model: Any) -> int:
    async with app.state.runtime.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(model)))


async def tenant_gid(app: Any, path: str) -> str:
    async with app.state.runtime.engine.connect() as conn:
        pk = await conn.scalar(select(Tenant.id).where(Tenant.path == path))
    return str(global_id("Tenant", pk))


async def audit_rows(app: Any, prefix: str) -> list[Any]:
    async with app.state.runtime.engine.connect() as conn:
        rows = await conn.execute(
            select(AuditEntry.principal, AuditEntry.action, AuditEntry.subject, AuditEntry.detail)
            .where(AuditEntry.action.startswith(prefix))
            .order_by(AuditEntry.id)
        )
        return list(rows)


def wish_input(center: str, **overrides: Any) -> Json:
    values: Json = {
        "centerId": center,
        "requesterName": "欧阳秀英",
        "requesterPhone": "13812345678",
        "title": "帮忙购买降压药",
        "description": "行动不便，需要每月代购药品",
        "category": "HEALTH",
    }
    return values | overrides


async def post(gql: GraphQLClient, center: str, **overrides: Any) -> Json:
    made: Json = (await gql.data(POST, {"input": wish_input(center, **overrides)}))["postMicroWish"]
    return made


def pk(gid: str) -> int:
    return parse_global_id(gid)[1]


def code_of(path: str) -> str:
    return path.strip("/").replace("/", "")


# -- centers -------------------------------------------------------------------------------------


async def test_seeded_centers_are_listed_within_scope(
    seeded: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, app = seeded
    expected = center_rows(demo, seed=TEMPLATE_SEED, as_of=AS_OF)
    listed = (await client.data(CENTERS, {"first": 100}))["serviceCenters"]
    assert listed["totalCount"] == len(expected) == 7
    assert [n["node"]["name"] for n in listed["edges"]] == [r["name"] for r in expected]
    assert Counter(e["node"]["kind"] for e in listed["edges"]) == {"PARTY_MASS": 6, "COMMUNITY": 1}
    labels = {e["node"]["kind"]: e["node"]["kindLabel"] for e in listed["edges"]}
    assert labels == {"PARTY_MASS": "党群服务中心", "COMMUNITY": "社区便民服务中心"}

    # Pages of three, by cursor, cover the list once.
    seen: list[str] = []
    after = None
    while True:
        page = (await client.data(CENTERS, {"first": 3, "after": after}))["serviceCenters"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [e["node"]["id"] for e in listed["edges"]]
    community = (await client.data(CENTERS, {"kind": "COMMUNITY"}))["serviceCenters"]
    assert community["totalCount"] == 1

    # A town admin: its town's subtree only.
    rows = await centers(app)
    town2 = await client.as_user("admin.d01t02")
    mine = (await town2.data(CENTERS, {"first": 100}))["serviceCenters"]
    assert {pk(e["node"]["id"]) for e in mine["edges"]} == {
        r.id for r in rows if r.path.startswith("/d01/t02/")
    }
    # A village member: its village's centers and its town's, nothing of the other town.
    accounts = await member_accounts(app)
    villager = next(a for a in accounts if a.path == "/d01/t01/v001/")
    gql = await client.as_user(villager.username)
    theirs = (await gql.data(CENTERS, {"first": 100}))["serviceCenters"]
    assert {pk(e["node"]["id"]) for e in theirs["edges"]} == {
        r.id for r in rows if r.path in ("/d01/t01/", "/d01/t01/v001/")
    }
    assert theirs["totalCount"] == len(theirs["edges"])
    # `under` asks for a subtree: the town's center above it is not in it.
    under = await tenant_gid(app, "/d01/t01/v001/")
    narrowed = (await gql.data(CENTERS, {"under": under}))["serviceCenters"]
    assert {pk(e["node"]["id"]) for e in narrowed["edges"]} == {
        r.id for r in rows if r.path == "/d01/t01/v001/"
    }
    # Out-of-sight lookups read as absent.
    other = next(r for r in rows if r.path.startswith("/d01/t02/"))
    one = "query($id: ID!) { serviceCenter(id: $id) { name } }"
    assert (await gql.data(one, {"id": global_id("ServiceCenter", other.id)}))[
        "serviceCenter"
    ] is None
    assert (await gql.data(one, {"id": global_id("ServiceCenter", 9999)}))["serviceCenter"] is None
    assert (await client.data(one, {"id": global_id("ServiceCenter", other.id)}))[
        "serviceCenter"
    ] == {"name": other.name}


async def test_admins_manage_centers_in_their_subtree(fresh: tuple[GraphQLClient, Any]) -> None:
    client, app = fresh
    create = """mutation($input: ServiceCenterInput!) { createServiceCenter(input: $input) {
      id kind name address phone tenantName } }"""
    town1 = await client.as_user("admin.d01t01")
    v003 = await tenant_gid(app, "/d01/t01/v003/")
    made = (
        await town1.data(
            create,
            {
                "input": {
                    "tenantId": v003,
                    "kind": "COMMUNITY",
                    "name": "沙洲村便民服务中心",
                    "address": "沙洲村1号",
                    "phone": "0576-88000001",
                }
            },
        )
    )["createServiceCenter"]
    assert made["tenantName"] == "沙洲村" and made["kind"] == "COMMUNITY"
    # Another town's village: refused, as is a tenant that does not exist.
    base = {"kind": "COMMUNITY", "name": "x", "address": "y", "phone": "0576-88000002"}
    for tenant in (await tenant_gid(app, "/d01/t02/v005/"), str(global_id("Tenant", 999))):
        error = await town1.error(create, {"input": base | {"tenantId": tenant}})
        assert error["extensions"]["code"] == "FORBIDDEN"
    # The district itself is no place for a center; bad fields are named.
    district = await tenant_gid(app, "/d01/")
    cases = [
        ({"tenantId": district}, "tenantId"),
        ({"tenantId": v003, "name": " "}, "name"),
        ({"tenantId": v003, "phone": "call me"}, "phone"),
        ({"tenantId": v003, "phone": "0576-8800-0001-2345-6"}, "phone"),
        ({"tenantId": v003, "address": "沙洲村\x001号"}, "address"),
        ({"tenantId": v003, "name": "沙洲村便民服务中心"}, "name"),  # taken
    ]
    for values, argument in cases:
        error = await client.error(create, {"input": base | values})
        assert error["extensions"]["code"] == "BAD_USER_INPUT", values
        assert error["extensions"]["argument"] == argument
    # A member may not manage centers at all.
    member = next(a for a in await member_accounts(app) if a.path.startswith("/d01/t01/"))
    gql = await client.as_user(member.username)
    error = await gql.error(create, {"input": base | {"tenantId": v003}})
    assert error["extensions"]["code"] == "FORBIDDEN"

    change = """mutation($id: ID!, $input: ServiceCenterChanges!) {
      updateServiceCenter(id: $id, input: $input) { name phone address } }"""
    changed = (await town1.data(change, {"id": made["id"], "input": {"phone": "0576-88000009"}}))[
        "updateServiceCenter"
    ]
    assert changed == {
        "name": "沙洲村便民服务中心",
        "phone": "0576-88000009",
        "address": "沙洲村1号",
    }
    town2 = await client.as_user("admin.d01t02")
    error = await town2.error(change, {"id": made["id"], "input": {"phone": "0576-88000010"}})
    assert error["extensions"]["code"] == "FORBIDDEN"
    entries = await audit_rows(app, "service_center.")
    assert [(e.principal, e.action) for e in entries] == [
        ("user:admin.d01t01", "service_center.create"),
        ("user:admin.d01t01", "service_center.update"),
    ]
    assert json.loads(entries[1].detail)["after"] == {"phone": "0576-88000009"}


# -- posting and masking -------------------------------------------------------------------------


async def test_posting_is_scoped_and_checked(fresh: tuple[GraphQLClient, Any]) -> None:
    client, app = fresh
    v001 = await center_at(app, "/d01/t01/v001/")
    v002 = await center_at(app, "/d01/t01/v002/")
    village = await client.as_user("admin.d01t01v001")
    async with app.state.runtime.engine.connect() as conn:
        before = await conn.scalar(select(func.count()).select_from(MicroWish))
    made = await post(village, v001, deadline=(AS_OF + timedelta(days=30)).isoformat())
    assert made["state"] == "OPEN" and made["stateLabel"] == "待认领"
    assert made["categoryLabel"] == "医疗健康" and made["centerId"] == v001
    # Another village's center, a center that does not exist: the same refusal.
    for center in (v002, str(global_id("ServiceCenter", 999))):
        error = await village.error(POST, {"input": wish_input(center)})
        assert error["extensions"]["code"] == "FORBIDDEN", center
    # Members take part, they do not post.
    member = next(a for a in await member_accounts(app) if a.path == "/d01/t01/v001/")
    error = await (await client.as_user(member.username)).error(POST, {"input": wish_input(v001)})
    assert error["extensions"]["code"] == "FORBIDDEN"

    cases = [
        ({"title": "  "}, "title"),
        ({"title": "长" * 201}, "title"),
        ({"requesterName": ""}, "requesterName"),
        ({"requesterPhone": "12ab"}, "requesterPhone"),
        ({"category": "MAGIC"}, "category"),
        ({"deadline": (AS_OF - timedelta(days=2)).isoformat()}, "deadline"),
        ({"centerId": str(global_id("Member", 1))}, "centerId"),
        ({"centerId": "not-an-id"}, "centerId"),
        # 17 digits but 21 characters with the dashes: more than the column holds.
        ({"requesterPhone": "0576-8800-0001-2345-6"}, "requesterPhone"),
        ({"requesterPhone": "１３８１２３４５６７８"}, "requesterPhone"),  # full-width digits
        # PostgreSQL stores no NUL in text.
        ({"title": "代购\x00药品"}, "title"),
        ({"description": "\x00"}, "description"),
    ]
    for values, argument in cases:
        error = await village.error(POST, {"input": wish_input(v001, **values)})
        assert error["extensions"]["code"] == "BAD_USER_INPUT", values
        assert error["extensions"]["argument"] == argument, values
    async with app.state.runtime.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(MicroWish)) == before + 1
    posted = await audit_rows(app, "micro_wish.post")
    assert len(posted) == 1 and posted[0].principal == "user:admin.d01t01v001"
    # The requester's personal data stays out of the log.
    assert "13812345678" not in posted[0].detail and "欧阳" not in posted[0].detail


async def test_the_requesters_data_is_masked_unless_the_viewer_may_read_it(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    client, app = fresh
    center = await center_at(app, "/d01/t01/v001/")
    village = await client.as_user("admin.d01t01v001")
    wish = await post(village, center)
    # The village admin may post but not read personal data unmasked (policy: JUNIOR_ADMIN has
    # no member read_sensitive); district and town admins may.
    assert (wish["requesterName"], wish["requesterPhone"]) == ("欧阳某", "138****5678")
    for username in ("admin", "admin.d01t01"):
        gql = await client.as_user(username)
        got = (await gql.data(WISH, {"id": wish["id"]}))["microWish"]
        assert (got["requesterName"], got["requesterPhone"]) == ("欧阳秀英", "13812345678")
    town2 = await client.as_user("admin.d01t02")
    assert (await town2.data(WISH, {"id": wish["id"]}))["microWish"] is None
    # A member sees it masked, until it claims the wish and has to reach the requester.
    member = next(a for a in await member_accounts(app) if a.path == "/d01/t01/v001/")
    gql = await client.as_user(member.username)
    seen = (await gql.data(WISH, {"id": wish["id"]}))["microWish"]
    assert (seen["requesterName"], seen["requesterPhone"]) == ("欧阳某", "138****5678")
    claimed = (await gql.data(CLAIM, {"id": wish["id"]}))["claimMicroWish"]
    assert (claimed["requesterName"], claimed["requesterPhone"]) == ("欧阳秀英", "13812345678")
    done = (await gql.data(COMPLETE, {"id": wish["id"], "note": "已送达"}))["completeMicroWish"]
    assert done["requesterPhone"] == "138****5678"  # served: masked again
    reads = await audit_rows(app, "micro_wish.read_sensitive")
    assert sorted(r.principal for r in reads) == sorted(
        ["user:admin", "user:admin.d01t01", f"user:{member.username}"]
    )
    assert all(r.subject == str(pk(wish["id"])) for r in reads)


# -- the claim race ------------------------------------------------------------------------------


async def test_concurrent_claims_have_exactly_one_winner(fresh: tuple[GraphQLClient, Any]) -> None:
    client, app = fresh
    center = await center_at(app, "/d01/t01/")
    wish = await post(await client.as_user("admin.d01t01"), center)
    # Every member of the town's subtree sees its town center's wishes.
    claimers = [a for a in await member_accounts(app) if a.path.startswith("/d01/t01/")]
    assert len(claimers) >= 10
    clients = [await client.as_user(a.username) for a in claimers]
    bodies = await asyncio.gather(*(c.post(CLAIM, {"id": wish["id"]}) for c in clients))
    won = [b for b in bodies if "errors" not in b]
    lost = [b["errors"][0] for b in bodies if "errors" in b]
    assert len(won) == 1 and len(lost) == len(claimers) - 1
    for error in lost:
        assert error["extensions"] == {
            "code": "BAD_USER_INPUT",
            "argument": "id",
            "state": "CLAIMED",
        } | {k: v for k, v in error["extensions"].items() if k not in ("code", "argument", "state")}
        assert "CLAIMED" in error["message"]
    winner = claimers[bodies.index(won[0])]
    async with app.state.runtime.engine.connect() as conn:
        row = (
            await conn.execute(
                select(MicroWish.state, MicroWish.claimer_id).where(MicroWish.id == pk(wish["id"]))
            )
        ).one()
    assert (row.state, row.claimer_id) == ("CLAIMED", winner.member_id)
    claims = await audit_rows(app, "micro_wish.claim")
    assert [json.loads(c.detail)["member"] for c in claims] == [winner.member_id]


async def test_claims_on_separate_transactions_leave_one_claimer(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    """The service's conditional UPDATE itself, with every claim in its own transaction held
    open a moment after claiming: on PostgreSQL the others wait on the row lock and then find
    the row no longer OPEN; on SQLite they wait for the one writer."""
    client, app = fresh
    wish = await post(await client.as_user("admin.d01t01"), await center_at(app, "/d01/t01/"))
    claimers = [a for a in await member_accounts(app) if a.path.startswith("/d01/t01/")]
    engine = app.state.runtime.engine
    async with engine.connect() as conn:
        row = await service.wish(conn, pk(wish["id"]))
    assert row is not None

    async def attempt(account: Account) -> int | BadUserInput:
        try:
            async with engine.begin() as conn:
                await service.claim_wish(
                    conn,
                    row=row,
                    member_id=account.member_id,
                    actor=f"user:{account.username}",
                    client=None,
                    now=datetime.now(UTC),
                )
                await asyncio.sleep(0.05)  # keep the lock while the others try
            return account.member_id
        except BadUserInput as refused:
            return refused

    results = await asyncio.gather(*(attempt(a) for a in claimers))
    winners = [r for r in results if isinstance(r, int)]
    assert len(winners) == 1
    refusals = [r for r in results if isinstance(r, BadUserInput)]
    assert len(refusals) == len(claimers) - 1
    assert {r.extensions["state"] for r in refusals} == {"CLAIMED"}
    async with engine.connect() as conn:
        assert (await service.wish(conn, pk(wish["id"]))).claimer_id == winners[0]  # type: ignore[union-attr]


# -- the state machine ---------------------------------------------------------------------------


async def test_wish_moves_and_refused_moves(fresh: tuple[GraphQLClient, Any]) -> None:
    client, app = fresh
    center = await center_at(app, "/d01/t01/")
    admin = await client.as_user("admin.d01t01")
    wish = await post(admin, center)
    wid = wish["id"]
    members = [a for a in await member_accounts(app) if a.path.startswith("/d01/t01/")]
    one, two = (
        await client.as_user(members[0].username),
        await client.as_user(members[1].username),
    )

    async def refused(gql: GraphQLClient, query: str, variables: Json, state: str) -> None:
        error = await gql.error(query, variables)
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert error["extensions"]["state"] == state and error["extensions"]["argument"] == "id"
        assert state in error["message"]

    # OPEN: nothing to release, complete or rate.
    await refused(one, RELEASE, {"id": wid}, "OPEN")
    await refused(one, COMPLETE, {"id": wid, "note": "x"}, "OPEN")
    await refused(admin, RATE, {"id": wid, "r": 5, "c": ""}, "OPEN")
    claimed = (await one.data(CLAIM, {"id": wid}))["claimMicroWish"]
    assert claimed["state"] == "CLAIMED" and claimed["claimedByMe"] is True
    assert claimed["claimer"]["memberId"] == str(global_id("Member", members[0].member_id))
    # Others see who claimed it by surname only; the center's admin in full.
    seen = (await two.data(WISH, {"id": wid}))["microWish"]
    assert seen["claimedByMe"] is False and seen["claimer"]["name"].endswith("某")
    full = (await admin.data(WISH, {"id": wid}))["microWish"]["claimer"]["name"]
    assert full == claimed["claimer"]["name"] and not full.endswith("某")
    await refused(two, CLAIM, {"id": wid}, "CLAIMED")
    # Only the claimer releases or completes it.
    for query, variables in ((RELEASE, {"id": wid}), (COMPLETE, {"id": wid, "note": "x"})):
        error = await two.error(query, variables)
        assert error["extensions"]["code"] == "FORBIDDEN"
    released = (await one.data(RELEASE, {"id": wid}))["releaseMicroWish"]
    assert released["state"] == "OPEN" and released["claimer"] is None
    (await two.data(CLAIM, {"id": wid}))["claimMicroWish"]
    error = await two.error(COMPLETE, {"id": wid, "note": "  "})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "note"} | {
        k: v for k, v in error["extensions"].items() if k not in ("code", "argument")
    }
    done = (await two.data(COMPLETE, {"id": wid, "note": "药已送到"}))["completeMicroWish"]
    assert done["state"] == "COMPLETED" and done["completionNote"] == "药已送到"
    await refused(two, COMPLETE, {"id": wid, "note": "again"}, "COMPLETED")
    await refused(admin, WITHDRAW, {"id": wid, "r": "no"}, "COMPLETED")
    # The rating: 1-5, recorded by the center's admin for the requester; members may not.
    for bad in (0, 6):
        error = await admin.error(RATE, {"id": wid, "r": bad, "c": ""})
        assert (error["extensions"]["code"], error["extensions"]["argument"]) == (
            "BAD_USER_INPUT",
            "rating",
        )
    assert (await two.error(RATE, {"id": wid, "r": 5, "c": ""}))["extensions"]["code"] == (
        "FORBIDDEN"
    )
    rated = (await admin.data(RATE, {"id": wid, "r": 5, "c": "非常感谢"}))["rateMicroWish"]
    assert (rated["state"], rated["rating"], rated["ratingComment"]) == ("RATED", 5, "非常感谢")
    await refused(admin, RATE, {"id": wid, "r": 4, "c": ""}, "RATED")
    await refused(admin, CANCEL, {"id": wid, "r": "x"}, "RATED")

    # Withdrawn from OPEN, cancelled from CLAIMED; neither moves again.
    other = await post(admin, center, title="陪同就医")
    withdrawn = (await admin.data(WITHDRAW, {"id": other["id"], "r": "家属已解决"}))[
        "withdrawMicroWish"
    ]
    assert (withdrawn["state"], withdrawn["closeReason"]) == ("WITHDRAWN", "家属已解决")
    await refused(one, CLAIM, {"id": other["id"]}, "WITHDRAWN")
    third = await post(admin, center, title="修理水管")
    await one.data(CLAIM, {"id": third["id"]})
    cancelled = (await admin.data(CANCEL, {"id": third["id"], "r": "重复发布"}))["cancelMicroWish"]
    assert cancelled["state"] == "CANCELLED"
    await refused(one, COMPLETE, {"id": third["id"], "note": "x"}, "CANCELLED")
    error = await admin.error(CANCEL, {"id": third["id"], "r": " "})
    assert error["extensions"]["argument"] == "reason"

    # A wish past its deadline is no longer claimed.
    late = await post(
        admin, center, title="送春联", deadline=(AS_OF + timedelta(days=2)).isoformat()
    )
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(
            update(MicroWish)
            .where(MicroWish.id == pk(late["id"]))
            .values(deadline=AS_OF - timedelta(days=2))
        )
    error = await one.error(CLAIM, {"id": late["id"]})
    assert (error["extensions"]["code"], error["extensions"]["argument"]) == (
        "BAD_USER_INPUT",
        "id",
    )
    assert "deadline" in error["message"]

    mine = (await two.data(MY_WISHES))["myMicroWishes"]
    async with app.state.runtime.engine.connect() as conn:
        claimed_by_two = await conn.scalar(
            select(func.count())
            .select_from(MicroWish)
            .where(MicroWish.claimer_id == members[1].member_id)
        )
    assert mine["totalCount"] == claimed_by_two  # the demo's and this one
    assert {"id": wid, "state": "RATED", "claimedByMe": True} in [e["node"] for e in mine["edges"]]
    assert all(e["node"]["claimedByMe"] for e in mine["edges"])
    actions = [(e.action, e.subject) for e in await audit_rows(app, "micro_wish.")]
    expected = [
        "micro_wish.post",
        "micro_wish.claim",
        "micro_wish.release",
        "micro_wish.claim",
        "micro_wish.complete",
        "micro_wish.rate",
    ]
    assert [a for a, s in actions if s == str(pk(wid)) and a in expected] == expected
    assert ("micro_wish.withdraw", str(pk(other["id"]))) in actions
    assert ("micro_wish.cancel", str(pk(third["id"]))) in actions


async def test_completion_is_a_branch_activity_of_the_claimers_branch(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    client, app = fresh
    center = await center_at(app, "/d01/t01/")
    wish = await post(await client.as_user("admin.d01t01"), center, title="为独居老人买菜")
    # A village member claims the town center's wish: its own branch gets the activity.
    member = next(a for a in await member_accounts(app) if a.path.startswith("/d01/t01/v"))
    gql = await client.as_user(member.username)
    async with app.state.runtime.engine.connect() as conn:
        before = await conn.scalar(select(func.max(FeedEventRow.id)))
    await gql.data(CLAIM, {"id": wish["id"]})
    await gql.data(COMPLETE, {"id": wish["id"], "note": "已送菜上门"})
    async with app.state.runtime.engine.connect() as conn:
        activity = (
            await conn.execute(
                select(
                    Activity.id,
                    Activity.branch_id,
                    Activity.kind,
                    Activity.title,
                    Activity.attendance,
                )
                .join(MicroWish, MicroWish.activity_id == Activity.id)
                .where(MicroWish.id == pk(wish["id"]))
            )
        ).one()
        events = (
            await conn.execute(
                select(FeedEventRow.kind, FeedEventRow.tenant_path, FeedEventRow.payload)
                .where(FeedEventRow.id > (before or 0))
                .order_by(FeedEventRow.id)
            )
        ).all()
    assert activity.branch_id == member.branch_id
    assert activity.kind == ActivityKind.VOLUNTEER_SERVICE and activity.attendance == 1
    assert "为独居老人买菜" in activity.title
    branch_events = [e for e in events if e.kind == "BRANCH_ACTIVITY"]
    assert len(branch_events) == 1
    payload = json.loads(branch_events[0].payload)
    assert payload["branch"]["id"] == member.branch_id
    assert payload["data"] == {
        "activity": activity.id,
        "kind": "VOLUNTEER_SERVICE",
        "attendance": 1,
    }
    assert branch_events[0].tenant_path == member.path
    assert [e.subject for e in await audit_rows(app, "activity.record")] == [str(activity.id)]


# -- volunteer services --------------------------------------------------------------------------


def service_input(center: str, capacity: int, **overrides: Any) -> Json:
    start = datetime.now(UTC) - timedelta(hours=1)
    values: Json = {
        "centerId": center,
        "title": "海边清洁志愿服务",
        "category": "ENVIRONMENT",
        "place": "海门沙滩",
        "startsAt": start.isoformat(),
        "endsAt": (start + timedelta(hours=3)).isoformat(),
        "capacity": capacity,
    }
    return values | overrides


async def test_service_capacity_holds_under_concurrent_sign_ups(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    client, app = fresh
    center = await center_at(app, "/d01/t01/")
    admin = await client.as_user("admin.d01t01")
    made = (await admin.data(INITIATE, {"input": service_input(center, 3)}))[
        "initiateVolunteerService"
    ]
    assert (made["state"], made["capacity"], made["signedUp"]) == ("OPEN", 3, 0)
    members = [a for a in await member_accounts(app) if a.path.startswith("/d01/t01/")][:8]
    clients = [await client.as_user(a.username) for a in members]
    bodies = await asyncio.gather(*(c.post(SIGN_UP, {"id": made["id"]}) for c in clients))
    ok = [i for i, b in enumerate(bodies) if "errors" not in b]
    assert len(ok) == 3
    for b in bodies:
        if "errors" in b:
            assert b["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
            assert "full" in b["errors"][0]["message"]
    async with app.state.runtime.engine.connect() as conn:
        taken = select(func.count()).select_from(VolunteerSignup)
        assert await conn.scalar(taken.where(VolunteerSignup.service_id == pk(made["id"]))) == 3
    first = clients[ok[0]]
    # Signed up already; withdrawing frees the place for someone else.
    error = await first.error(SIGN_UP, {"id": made["id"]})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    left = (await first.data(UNSIGN, {"id": made["id"]}))["withdrawVolunteerSignup"]
    assert (left["signedUp"], left["placesLeft"], left["signedUpByMe"]) == (2, 1, False)
    error = await first.error(UNSIGN, {"id": made["id"]})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    late = next(i for i in range(len(members)) if i not in ok)
    joined = (await clients[late].data(SIGN_UP, {"id": made["id"]}))["signUpForVolunteerService"]
    assert (joined["signedUp"], joined["signedUpByMe"]) == (3, True)

    # Done: one absent; each branch of the volunteers gets an activity.
    volunteers = [members[i] for i in [*ok[1:], late]]
    absent = volunteers[0]
    listed = (await admin.data(PARTICIPANTS, {"id": made["id"], "first": 2}))[
        "volunteerParticipants"
    ]
    assert listed["totalCount"] == 3 and listed["pageInfo"]["hasNextPage"] is True
    error = await clients[0].error(PARTICIPANTS, {"id": made["id"]})
    assert error["extensions"]["code"] == "FORBIDDEN"
    bad = await admin.error(
        COMPLETE_SERVICE, {"id": made["id"], "absent": [str(global_id("Member", 99999))]}
    )
    assert bad["extensions"]["argument"] == "absent"
    done = (
        await admin.data(
            COMPLETE_SERVICE,
            {"id": made["id"], "absent": [str(global_id("Member", absent.member_id))]},
        )
    )["completeVolunteerService"]
    assert done["state"] == "COMPLETED"
    error = await clients[late].error(UNSIGN, {"id": made["id"]})
    assert error["extensions"]["state"] == "COMPLETED"
    async with app.state.runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(Activity.branch_id, Activity.attendance, Activity.kind)
                .join(VolunteerSignup, VolunteerSignup.activity_id == Activity.id)
                .distinct()
            )
        ).all()
    served = Counter(v.branch_id for v in volunteers[1:])
    assert {(r.branch_id, r.attendance) for r in rows} == set(served.items())
    assert {r.kind for r in rows} == {ActivityKind.VOLUNTEER_SERVICE}

    # Evaluation: attendees only, 1-5.
    e = [
        {"memberId": str(global_id("Member", v.member_id)), "rating": 5, "comment": "好"}
        for v in volunteers[1:]
    ]
    for wrong in (
        [{"memberId": str(global_id("Member", absent.member_id)), "rating": 4}],
        [e[0] | {"rating": 9}],
    ):
        error = await admin.error(RATE_SERVICE, {"id": made["id"], "e": wrong})
        assert error["extensions"]["argument"] == "evaluations", wrong
    rated = (await admin.data(RATE_SERVICE, {"id": made["id"], "e": e}))["rateVolunteerService"]
    assert rated["state"] == "RATED"
    people = (await admin.data(PARTICIPANTS, {"id": made["id"]}))["volunteerParticipants"]
    by_member = {p["node"]["memberId"]: p["node"] for p in people["edges"]}
    assert by_member[str(global_id("Member", absent.member_id))]["attended"] is False
    assert by_member[str(global_id("Member", absent.member_id))]["rating"] is None
    assert {by_member[x["memberId"]]["rating"] for x in e} == {5}
    assert (await admin.error(CANCEL_SERVICE, {"id": made["id"]}))["extensions"]["state"] == "RATED"
    actions = [a.action for a in await audit_rows(app, "volunteer_service.")]
    assert Counter(actions) == {
        "volunteer_service.initiate": 1,
        "volunteer_service.sign_up": 4,
        "volunteer_service.withdraw_signup": 1,
        "volunteer_service.complete": 1,
        "volunteer_service.rate": 1,
    }


async def test_service_inputs_and_refusals(fresh: tuple[GraphQLClient, Any]) -> None:
    client, app = fresh
    center = await center_at(app, "/d01/t01/")
    admin = await client.as_user("admin.d01t01")
    now = datetime.now(UTC)
    cases: list[tuple[Json, str]] = [
        ({"capacity": 0}, "capacity"),
        ({"title": ""}, "title"),
        ({"place": ""}, "place"),
        ({"category": "NOPE"}, "category"),
        ({"startsAt": (now - timedelta(days=30)).isoformat()}, "startsAt"),
        ({"endsAt": (now - timedelta(days=1)).isoformat()}, "endsAt"),
        ({"startsAt": "2030-01-01T10:00:00"}, "startsAt"),
    ]
    for values, argument in cases:
        error = await admin.error(INITIATE, {"input": service_input(center, 5) | values})
        assert error["extensions"]["code"] == "BAD_USER_INPUT", values
        assert error["extensions"]["argument"] == argument, values
    ahead = now + timedelta(days=3)
    later = (
        await admin.data(
            INITIATE,
            {
                "input": service_input(
                    center,
                    5,
                    startsAt=ahead.isoformat(),
                    endsAt=(ahead + timedelta(hours=2)).isoformat(),
                )
            },
        )
    )["initiateVolunteerService"]
    # Not yet taken place: it cannot be done.
    error = await admin.error(COMPLETE_SERVICE, {"id": later["id"]})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    town2 = await client.as_user("admin.d01t02")
    assert (await town2.error(CANCEL_SERVICE, {"id": later["id"]}))["extensions"]["code"] == (
        "FORBIDDEN"
    )
    cancelled = (await admin.data(CANCEL_SERVICE, {"id": later["id"]}))["cancelVolunteerService"]
    assert cancelled["state"] == "CANCELLED"
    member = next(a for a in await member_accounts(app) if a.path.startswith("/d01/t01/"))
    error = await (await client.as_user(member.username)).error(SIGN_UP, {"id": later["id"]})
    assert (error["extensions"]["code"], error["extensions"]["state"]) == (
        "BAD_USER_INPUT",
        "CANCELLED",
    )
    # A town-2 member does not see the town-1 service: absent alike.
    outsider = next(a for a in await member_accounts(app) if a.path.startswith("/d01/t02/"))
    gql = await client.as_user(outsider.username)
    for sid in (later["id"], str(global_id("VolunteerService", 9999))):
        error = await gql.error(SIGN_UP, {"id": sid})
        assert error["extensions"]["code"] == "FORBIDDEN"
    one = "query($id: ID!) { volunteerService(id: $id) { id } }"
    assert (await gql.data(one, {"id": later["id"]}))["volunteerService"] is None
    listed = "{ volunteerServices(first: 100) { totalCount edges { node { id centerName } } } }"
    theirs = (await gql.data(listed))["volunteerServices"]
    assert later["id"] not in [e["node"]["id"] for e in theirs["edges"]]
    assert theirs["totalCount"] == len(theirs["edges"])
    ours = (await admin.data(listed))["volunteerServices"]
    assert later["id"] in [e["node"]["id"] for e in ours["edges"]]


# -- scoping, pagination, counts -----------------------------------------------------------------


async def test_a_member_of_town_a_cannot_see_or_claim_a_wish_of_town_b(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    client, app = fresh
    wish = await post(await client.as_user("admin.d01t01"), await center_at(app, "/d01/t01/"))
    outsider = next(a for a in await member_accounts(app) if a.path.startswith("/d01/t02/"))
    gql = await client.as_user(outsider.username)
    absent = str(global_id("MicroWish", 99999))
    assert (await gql.data(WISH, {"id": wish["id"]}))["microWish"] is None
    assert (await gql.data(WISH, {"id": absent}))["microWish"] is None
    listed = (await gql.data(WISHES, {"first": 100}))["microWishes"]
    assert wish["id"] not in [e["node"]["id"] for e in listed["edges"]]
    assert listed["totalCount"] == len(listed["edges"])
    # What it does see lies in its own town.
    async with app.state.runtime.engine.connect() as conn:
        paths = {
            row.id: row.path
            for row in await conn.execute(
                select(MicroWish.id, Tenant.path)
                .join(ServiceCenter, ServiceCenter.id == MicroWish.center_id)
                .join(Tenant, Tenant.id == ServiceCenter.tenant_id)
            )
        }
    assert all(paths[pk(e["node"]["id"])].startswith("/d01/t02/") for e in listed["edges"])
    there, nowhere = (
        await gql.error(CLAIM, {"id": wish["id"]}),
        await gql.error(CLAIM, {"id": absent}),
    )
    assert there["extensions"]["code"] == nowhere["extensions"]["code"] == "FORBIDDEN"
    assert there["message"] == nowhere["message"]
    async with app.state.runtime.engine.connect() as conn:
        assert (
            await conn.scalar(select(MicroWish.state).where(MicroWish.id == pk(wish["id"])))
            == "OPEN"
        )
    # An admin without a member record claims nothing.
    error = await client.error(CLAIM, {"id": wish["id"]})
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_wishes_page_newest_first(fresh: tuple[GraphQLClient, Any]) -> None:
    client, app = fresh
    admin = await client.as_user("admin.d01t01")
    center = await center_at(app, "/d01/t01/v001/")
    base = (await admin.data(WISHES, {"center": center}))["microWishes"]["totalCount"]
    base_open = (await admin.data(WISHES, {"center": center, "states": ["OPEN"]}))["microWishes"][
        "totalCount"
    ]
    made = [await post(admin, center, title=f"心愿{i}") for i in range(5)]
    ids: list[str] = []
    after = None
    while True:
        page = (await admin.data(WISHES, {"center": center, "first": 2, "after": after}))[
            "microWishes"
        ]
        assert page["totalCount"] == base + 5
        ids += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # Newest first, each once: this test's five, then the demo's.
    assert ids[:5] == [m["id"] for m in reversed(made)]
    assert len(ids) == len(set(ids)) == base + 5
    assert [pk(i) for i in ids] == sorted((pk(i) for i in ids), reverse=True)
    error = await admin.error(WISHES, {"first": 101})
    assert error["extensions"]["argument"] == "first"
    error = await admin.error(WISHES, {"after": "garbage"})
    assert error["extensions"]["argument"] == "after"
    # Filters: a center, states.
    await admin.data(CANCEL, {"id": made[0]["id"], "r": "重复"})
    open_ = (await admin.data(WISHES, {"center": center, "states": ["OPEN"]}))["microWishes"]
    assert open_["totalCount"] == base_open + 4
    assert {e["node"]["state"] for e in open_["edges"]} == {"OPEN"}
    other = await center_at(app, "/d01/t01/v001/", "COMMUNITY")
    elsewhere = (await admin.data(WISHES, {"center": other, "first": 100}))["microWishes"]
    assert not {m["id"] for m in made} & {e["node"]["id"] for e in elsewhere["edges"]}


async def test_counts_per_center_and_per_subtree(fresh: tuple[GraphQLClient, Any]) -> None:
    client, app = fresh
    t1, t2 = await client.as_user("admin.d01t01"), await client.as_user("admin.d01t02")
    c_town1 = await center_at(app, "/d01/t01/")
    c_v001 = await center_at(app, "/d01/t01/v001/")
    c_town2 = await center_at(app, "/d01/t02/")
    accounts = await member_accounts(app)
    a2 = next(a for a in accounts if a.path.startswith("/d01/t02/"))
    m1 = await client.as_user(next(a for a in accounts if a.path.startswith("/d01/t01/")).username)
    m2 = await client.as_user(a2.username)

    def states(counts: Json, key: str = "wishes") -> Counter[str]:
        return Counter({s["state"]: s["count"] for s in counts[key]})

    def per_center(stats: Json) -> dict[str, Json]:
        return {e["node"]["center"]["id"]: e["node"]["counts"] for e in stats["perCenter"]["edges"]}

    # The demo's wishes and services are counted too: compare with the counts before.
    started = datetime.now(UTC)
    all_before = (await client.data(STATS))["volunteeringStats"]
    town1_before = (await t1.data(STATS))["volunteeringStats"]
    member_before = (await m2.data(STATS))["volunteeringStats"]["total"]
    assert sum(states(all_before["total"]).values()) == await count_rows(app, MicroWish)

    # Town 1: at its own center one OPEN, one COMPLETED; at v001 one CLAIMED, one CANCELLED.
    await post(t1, c_town1)
    done = await post(t1, c_town1)
    await m1.data(CLAIM, {"id": done["id"]})
    await m1.data(COMPLETE, {"id": done["id"], "note": "ok"})
    claimed = await post(t1, c_v001)
    await m1.data(CLAIM, {"id": claimed["id"]})
    gone = await post(t1, c_v001)
    await t1.data(CANCEL, {"id": gone["id"], "r": "重复"})
    # Town 2: one RATED wish and a completed service with one volunteer.
    rated = await post(t2, c_town2)
    await m2.data(CLAIM, {"id": rated["id"]})
    await m2.data(COMPLETE, {"id": rated["id"], "note": "ok"})
    await t2.data(RATE, {"id": rated["id"], "r": 4, "c": ""})
    svc = (await t2.data(INITIATE, {"input": service_input(c_town2, 2)}))[
        "initiateVolunteerService"
    ]
    await m2.data(SIGN_UP, {"id": svc["id"]})
    await t2.data(COMPLETE_SERVICE, {"id": svc["id"]})

    stats = (await client.data(STATS))["volunteeringStats"]
    total, before = stats["total"], all_before["total"]
    assert (total["partyMassCenters"], total["communityCenters"]) == (6, 1)
    assert states(total) - states(before) == {
        "OPEN": 1,
        "COMPLETED": 1,
        "CLAIMED": 1,
        "CANCELLED": 1,
        "RATED": 1,
    }
    assert states(total, "services") - states(before, "services") == {"COMPLETED": 1}
    assert total["wishesCompleted"] - before["wishesCompleted"] == 2
    assert total["servicesCompleted"] - before["servicesCompleted"] == 1
    assert total["volunteersServed"] - before["volunteersServed"] == 1
    # The per-center counts add up to the subtree's.
    assert sum((states(c) for c in per_center(stats).values()), Counter()) == states(total)

    # Town 1's admin counts its subtree only; `under` narrows the district admin the same way.
    town1 = (await t1.data(STATS))["volunteeringStats"]
    under = await tenant_gid(app, "/d01/t01/")
    assert (await client.data(STATS, {"under": under}))["volunteeringStats"] == town1
    assert states(town1["total"]) - states(town1_before["total"]) == {
        "OPEN": 1,
        "COMPLETED": 1,
        "CLAIMED": 1,
        "CANCELLED": 1,
    }
    assert town1["total"]["wishesCompleted"] - town1_before["total"]["wishesCompleted"] == 1
    assert town1["total"]["servicesCompleted"] == town1_before["total"]["servicesCompleted"]
    per, per_before = per_center(town1), per_center(town1_before)
    in_town1 = [c for c in await centers(app) if c.path.startswith("/d01/t01/")]
    assert town1["perCenter"]["totalCount"] == len(per) == len(in_town1)
    assert states(per[c_town1]) - states(per_before[c_town1]) == {"OPEN": 1, "COMPLETED": 1}
    assert per[c_town1]["wishesCompleted"] - per_before[c_town1]["wishesCompleted"] == 1
    assert per[c_town1]["partyMassCenters"] == 1 and per[c_town1]["communityCenters"] == 0
    assert states(per[c_v001]) - states(per_before[c_v001]) == {"CLAIMED": 1, "CANCELLED": 1}
    assert per[c_v001]["wishesCompleted"] == per_before[c_v001]["wishesCompleted"]
    assert c_town2 not in per
    # The district admin counts each of town 1's centers as town 1's admin does, and the two
    # towns' subtrees add up to the district's (centers sit at towns and villages only).
    district_per = per_center(stats)
    assert {c: district_per[c] for c in per} == per
    town2 = (await t2.data(STATS))["volunteeringStats"]
    assert states(town1["total"]) + states(town2["total"]) == states(total)
    for key in ("partyMassCenters", "communityCenters", "wishesCompleted", "servicesCompleted"):
        assert town1["total"][key] + town2["total"][key] == total[key], key
    assert town1["perCenter"]["totalCount"] + town2["perCenter"]["totalCount"] == 7
    # The period: nothing was completed after today.
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    later = (await client.data(STATS, {"since": tomorrow}))["volunteeringStats"]["total"]
    assert (later["wishesCompleted"], later["servicesCompleted"]) == (0, 0)
    assert states(later) == states(total)  # states are as of now, whatever the period
    # Since the test started: exactly its completions (the demo's lie before the seed's day).
    now_ = (await client.data(STATS, {"since": started.isoformat()}))["volunteeringStats"]["total"]
    assert (now_["wishesCompleted"], now_["servicesCompleted"]) == (2, 1)
    error = await client.error(STATS, {"since": tomorrow, "until": tomorrow})
    assert error["extensions"]["argument"] == "until"
    # A member counts what its own subtree holds: the town-2 wish only if it sits at the town.
    member_total = (await m2.data(STATS))["volunteeringStats"]["total"]
    grown = states(member_total) - states(member_before)
    assert grown == (Counter({"RATED": 1}) if a2.path == "/d01/t02/" else Counter())


async def test_statements_do_not_grow_with_the_page(fresh: tuple[GraphQLClient, Any]) -> None:
    client, app = fresh
    admin = await client.as_user("admin.d01t01")
    center = await center_at(app, "/d01/t01/")
    members = [a for a in await member_accounts(app) if a.path.startswith("/d01/t01/")]
    member = await client.as_user(members[0].username)
    for i in range(6):
        wish = await post(admin, center, title=f"心愿{i}")
        await (await client.as_user(members[i].username)).data(CLAIM, {"id": wish["id"]})
        made = (await admin.data(INITIATE, {"input": service_input(center, 3)}))[
            "initiateVolunteerService"
        ]
        if i % 2:
            await member.data(SIGN_UP, {"id": made["id"]})
    queries = [
        (
            admin,
            "query($n: Int) { microWishes(first: $n) { totalCount edges { node {"
            " requesterName requesterPhone claimer { name branchName } } } } }",
        ),
        (
            member,
            "query($n: Int) { volunteerServices(first: $n) { totalCount edges { node {"
            " signedUpByMe placesLeft } } } }",
        ),
        (
            admin,
            "query($n: Int) { serviceCenters(first: $n) { totalCount edges { node {"
            " name tenant { name } } } } }",
        ),
        (
            client,
            "query($n: Int) { volunteeringStats { total { wishesCompleted }"
            " perCenter(first: $n) { totalCount edges { node { center { name tenant { code } }"
            " counts { wishes { count } } } } } } }",
        ),
    ]
    for gql, query in queries:
        counts = []
        for size in (1, 6):
            with statements(app) as seen:
                assert await gql.data(query, {"n": size})
            counts.append(len(seen))
        assert counts[0] == counts[1], (query, counts)


# -- review: the feed, deadlines, statements, demo times -----------------------------------------

FEED = """query($kinds: [FeedKind!]) { feedEvents(kinds: $kinds, first: 5) { edges { node {
  kind title tenant { path } branch { id } payload } } } }"""


async def feed_rows(app: Any) -> int:
    return await count_rows(app, FeedEventRow)


async def test_posting_a_wish_and_initiating_a_service_reach_the_feed(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    client, app = fresh
    town1 = await client.as_user("admin.d01t01")
    center = await center_at(app, "/d01/t01/v001/")
    before = await feed_rows(app)
    # Refused posts reach nothing.
    await town1.error(POST, {"input": wish_input(center, title=" ")})
    await (await client.as_user("admin.d01t02")).error(POST, {"input": wish_input(center)})
    assert await feed_rows(app) == before
    wish = await post(town1, center, deadline=(AS_OF + timedelta(days=9)).isoformat())
    assert await feed_rows(app) == before + 1
    newest = (await client.data(FEED, {"kinds": ["BRANCH_ACTIVITY"]}))["feedEvents"]["edges"][0]
    assert newest["node"] == {
        "kind": "BRANCH_ACTIVITY",
        "title": "微心愿：帮忙购买降压药",
        "tenant": {"path": "/d01/t01/v001/"},
        "branch": None,
        "payload": {
            "source": "micro_wish",
            "wish": pk(wish["id"]),
            "center": pk(center),
            "category": "HEALTH",
            "deadline": (AS_OF + timedelta(days=9)).isoformat(),
        },
    }
    # Nothing of the requester: not the name, the surname or the phone, masked or not.
    text = json.dumps(newest, ensure_ascii=False)
    assert not any(p in text for p in ("欧阳", "秀英", "138", "5678"))
    # The village's own admin sees it in its feed; the other town's admin does not.
    village = await client.as_user("admin.d01t01v001")
    assert (await village.data(FEED, {"kinds": ["BRANCH_ACTIVITY"]}))["feedEvents"]["edges"][
        0
    ] == newest
    town2 = await client.as_user("admin.d01t02")
    theirs = (await town2.data(FEED, {"kinds": ["BRANCH_ACTIVITY"]}))["feedEvents"]["edges"]
    assert newest not in theirs

    town_center = await center_at(app, "/d01/t01/")
    made = (await town1.data(INITIATE, {"input": service_input(town_center, 12)}))[
        "initiateVolunteerService"
    ]
    assert await feed_rows(app) == before + 2
    node = (await client.data(FEED, {"kinds": ["BRANCH_ACTIVITY"]}))["feedEvents"]["edges"][0][
        "node"
    ]
    assert (node["title"], node["tenant"], node["branch"]) == (
        "志愿服务：海边清洁志愿服务",
        {"path": "/d01/t01/"},
        None,
    )
    assert node["payload"]["source"] == "volunteer_service"
    assert (node["payload"]["service"], node["payload"]["capacity"]) == (pk(made["id"]), 12)
    assert node["payload"]["starts_at"].endswith("+00:00")


OVERDUE = """query($center: ID) { microWishes(centerId: $center, first: 100) { edges { node {
  id state deadline overdue } } } }"""


async def test_a_wish_past_its_deadline_is_overdue_and_no_longer_claimable(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    """The rule: a wish OPEN or CLAIMED after its deadline's day (Asia/Shanghai) reads as
    `overdue`; its state does not change. It cannot be claimed; its claimer may still complete
    it, the center withdraws or cancels it."""
    client, app = fresh
    admin = await client.as_user("admin.d01t01")
    center = await center_at(app, "/d01/t01/")
    members = [a for a in await member_accounts(app) if a.path.startswith("/d01/t01/")]
    one, two = (
        await client.as_user(members[0].username),
        await client.as_user(members[1].username),
    )
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    due_today = await post(admin, center, title="今天截止", deadline=today.isoformat())
    waiting = await post(admin, center, title="等待", deadline=today.isoformat())
    serving = await post(admin, center, title="服务中", deadline=today.isoformat())
    served = await post(admin, center, title="已完成", deadline=today.isoformat())
    for wish in (serving, served):
        await one.data(CLAIM, {"id": wish["id"]})
    await one.data(COMPLETE, {"id": served["id"], "note": "ok"})
    # The deadlines pass (yesterday in the district's time zone).
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(
            update(MicroWish)
            .where(MicroWish.id.in_([pk(w["id"]) for w in (waiting, serving, served)]))
            .values(deadline=today - timedelta(days=1))
        )

    async def flags() -> dict[str, tuple[str, bool]]:
        edges = (await admin.data(OVERDUE, {"center": center}))["microWishes"]["edges"]
        return {e["node"]["id"]: (e["node"]["state"], e["node"]["overdue"]) for e in edges}

    seen = await flags()
    assert seen[due_today["id"]] == ("OPEN", False)  # its last day: still claimable
    assert seen[waiting["id"]] == ("OPEN", True)
    assert seen[serving["id"]] == ("CLAIMED", True)
    assert seen[served["id"]] == ("COMPLETED", False)
    assert (await two.data(WISH.replace("id state", "id overdue state"), {"id": waiting["id"]}))[
        "microWish"
    ]["overdue"] is True
    error = await two.error(CLAIM, {"id": waiting["id"]})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "id", "overdue": True} | {
        k: v for k, v in error["extensions"].items() if k not in ("code", "argument", "overdue")
    }
    assert "deadline" in error["message"]
    assert (await two.data(CLAIM, {"id": due_today["id"]}))["claimMicroWish"]["state"] == "CLAIMED"
    # The claimer still completes an overdue wish; the center withdraws a waiting one.
    await one.data(COMPLETE, {"id": serving["id"], "note": "迟到的完成"})
    await admin.data(WITHDRAW, {"id": waiting["id"], "r": "已过期"})
    seen = await flags()
    assert seen[serving["id"]] == ("COMPLETED", False)
    assert seen[waiting["id"]] == ("WITHDRAWN", False)


async def test_rating_a_service_takes_as_many_statements_for_one_volunteer_as_for_three(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    client, app = fresh
    admin = await client.as_user("admin.d01t01")
    center = await center_at(app, "/d01/t01/")
    members = [a for a in await member_accounts(app) if a.path.startswith("/d01/t01/")][:3]
    made = []
    for _ in range(2):
        svc = (await admin.data(INITIATE, {"input": service_input(center, 5)}))[
            "initiateVolunteerService"
        ]
        for m in members:
            await (await client.as_user(m.username)).data(SIGN_UP, {"id": svc["id"]})
        await admin.data(COMPLETE_SERVICE, {"id": svc["id"]})
        made.append(svc["id"])
    evaluations = [
        {"memberId": str(global_id("Member", m.member_id)), "rating": 4, "comment": "好"}
        for m in members
    ]
    counts = []
    for sid, given in zip(made, (evaluations[:1], evaluations), strict=True):
        with statements(app) as seen:
            rated = await admin.data(RATE_SERVICE, {"id": sid, "e": given})
        assert rated["rateVolunteerService"]["state"] == "RATED"
        counts.append(len(seen))
    assert counts[0] == counts[1], counts
    people = (await admin.data(PARTICIPANTS, {"id": made[1]}))["volunteerParticipants"]
    assert {(p["node"]["rating"], p["node"]["ratingComment"]) for p in people["edges"]} == {
        (4, "好")
    }


def test_demo_times_lie_in_the_districts_office_hours() -> None:
    data = generate("small", seed=TEMPLATE_SEED, as_of=AS_OF)
    rows = center_rows(data, seed=TEMPLATE_SEED, as_of=AS_OF)
    wishes, services, _ = wish_and_service_rows(data, rows, seed=TEMPLATE_SEED, as_of=AS_OF)
    assert wishes and services
    local = ZoneInfo("Asia/Shanghai")
    for moment in [w["posted_at"] for w in wishes] + [s["starts_at"] for s in services]:
        assert 8 <= moment.astimezone(local).hour <= 17, moment


async def test_moments_out_of_the_calendar_are_bad_input(fresh: tuple[GraphQLClient, Any]) -> None:
    """An offset that shifts year 1 or 9999 out of the calendar in UTC is the caller's
    mistake, named, not an internal error."""
    client, app = fresh
    admin = await client.as_user("admin.d01t01")
    center = await center_at(app, "/d01/t01/")
    for variables, argument in (
        ({"since": "0001-01-01T00:00:00+08:00"}, "since"),
        ({"until": "9999-12-31T23:59:59-10:00"}, "until"),
    ):
        error = await admin.error(STATS, variables)
        assert (error["extensions"]["code"], error["extensions"]["argument"]) == (
            "BAD_USER_INPUT",
            argument,
        )
    start = datetime.now(UTC) + timedelta(days=1)
    for values, argument in (
        ({"startsAt": "0001-01-01T00:00:00+08:00"}, "startsAt"),
        ({"endsAt": "9999-12-31T23:59:59-10:00"}, "endsAt"),
        ({"endsAt": (start + timedelta(days=400)).isoformat()}, "endsAt"),
    ):
        variables = {"input": service_input(center, 5, startsAt=start.isoformat()) | values}
        error = await admin.error(INITIATE, variables)
        assert (error["extensions"]["code"], error["extensions"]["argument"]) == (
            "BAD_USER_INPUT",
            argument,
        ), values


async def test_sign_ups_close_when_the_service_has_ended(fresh: tuple[GraphQLClient, Any]) -> None:
    """Whoever is signed up when a service is completed counts as having served: a sign-up
    after the end would be credit for nothing."""
    client, app = fresh
    admin = await client.as_user("admin.d01t01")
    center = await center_at(app, "/d01/t01/")
    members = [a for a in await member_accounts(app) if a.path.startswith("/d01/t01/")]
    one, two = (
        await client.as_user(members[0].username),
        await client.as_user(members[1].username),
    )
    start = datetime.now(UTC) - timedelta(hours=3)
    over = (await admin.data(INITIATE, {"input": service_input(center, 5)}))[
        "initiateVolunteerService"
    ]
    await two.data(SIGN_UP, {"id": over["id"]})
    # A service over already is no service to initiate; this one ends (time passes).
    late = service_input(
        center, 5, startsAt=start.isoformat(), endsAt=(start + timedelta(hours=2)).isoformat()
    )
    assert (await admin.error(INITIATE, {"input": late}))["extensions"]["argument"] == "endsAt"
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(
            update(VolunteerService)
            .where(VolunteerService.id == pk(over["id"]))
            .values(ends_at=start + timedelta(hours=2))
        )
    for gql, query in ((one, SIGN_UP), (two, UNSIGN)):
        error = await gql.error(query, {"id": over["id"]})
        assert (error["extensions"]["code"], error["extensions"]["argument"]) == (
            "BAD_USER_INPUT",
            "id",
        )
        assert "ended" in error["message"]
    error = await one.error(SIGN_UP, {"id": over["id"]})
    assert (error["extensions"]["code"], error["extensions"]["argument"]) == (
        "BAD_USER_INPUT",
        "id",
    )
    assert "ended" in error["message"]
    async with app.state.runtime.engine.connect() as conn:
        taken = select(func.count()).select_from(VolunteerSignup)
        assert await conn.scalar(taken.where(VolunteerSignup.service_id == pk(over["id"]))) == 1
    # Its admin completes it with whoever had signed up.
    done = (await admin.data(COMPLETE_SERVICE, {"id": over["id"]}))["completeVolunteerService"]
    assert (done["state"], done["signedUp"]) == ("COMPLETED", 1)
    # A full service tells the member who holds its place so, not that it is full.
    small = (await admin.data(INITIATE, {"input": service_input(center, 1)}))[
        "initiateVolunteerService"
    ]
    await one.data(SIGN_UP, {"id": small["id"]})
    again = await one.error(SIGN_UP, {"id": small["id"]})
    assert "already signed up" in again["message"]
    assert "full" in (await two.error(SIGN_UP, {"id": small["id"]}))["message"]
