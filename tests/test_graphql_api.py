"""The core read API against the seeded small district, checked against the generator's own
rows (an oracle independent of the SQL): lists, filters, `under`, search, pagination, node
lookups, nested connections and overview counts, with their errors."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schema.ids import cursor, global_id
from tenants.demo import DemoData
from tests.conftest import GraphQLClient

Row = dict[str, Any]


def tenant_path(demo: DemoData, tenant_id: int) -> str:
    return next(t["path"] for t in demo.tenants if t["id"] == tenant_id)


def branches_under(demo: DemoData, path: str) -> list[Row]:
    paths = {t["id"]: t["path"] for t in demo.tenants}
    return [b for b in demo.branches if paths[b["tenant_id"]].startswith(path)]


def members_under(demo: DemoData, path: str) -> list[Row]:
    branch_ids = {b["id"] for b in branches_under(demo, path)}
    return [m for m in demo.members if m["branch_id"] in branch_ids]


def town(demo: DemoData) -> Row:
    return next(t for t in demo.tenants if t["level"] == "TOWN")


async def test_tenants_by_level_and_under(client: GraphQLClient, demo: DemoData) -> None:
    data = await client.data("{ tenants(first: 100) { totalCount edges { node { code level } } } }")
    assert data["tenants"]["totalCount"] == len(demo.tenants)
    assert [e["node"]["code"] for e in data["tenants"]["edges"]] == [
        t["code"] for t in demo.tenants
    ]

    villages = await client.data("{ tenants(level: VILLAGE) { totalCount } }")
    assert villages["tenants"]["totalCount"] == sum(t["level"] == "VILLAGE" for t in demo.tenants)

    t = town(demo)
    under = await client.data(
        "query($u: ID) { tenants(under: $u) { totalCount edges { node { code } } } }",
        {"u": global_id("Tenant", t["id"])},
    )
    expected = [x["code"] for x in demo.tenants if x["path"].startswith(t["path"])]
    assert [e["node"]["code"] for e in under["tenants"]["edges"]] == expected
    assert under["tenants"]["totalCount"] == len(expected) > 1


async def test_branches_by_category_under_a_town(client: GraphQLClient, demo: DemoData) -> None:
    t = town(demo)
    for category in ("AGENCY", "NON_PUBLIC", "BUILDING", "RED_PROPERTY", "RURAL"):
        data = await client.data(
            "query($u: ID, $c: BranchCategory) { branches(under: $u, category: $c, first: 100)"
            " { totalCount edges { node { name category tenant { code } } } } }",
            {"u": global_id("Tenant", t["id"]), "c": category},
        )
        expected = [b for b in branches_under(demo, t["path"]) if b["category"] == category]
        got = data["branches"]
        assert got["totalCount"] == len(expected)
        assert [e["node"]["name"] for e in got["edges"]] == [b["name"] for b in expected]
        assert all(e["node"]["tenant"]["code"].startswith(t["code"]) for e in got["edges"])


async def test_members_under_a_village(client: GraphQLClient, demo: DemoData) -> None:
    village = next(t for t in demo.tenants if t["level"] == "VILLAGE")
    data = await client.data(
        "query($u: ID) { members(under: $u, first: 100) { totalCount edges { node { name } } } }",
        {"u": global_id("Tenant", village["id"])},
    )
    expected = members_under(demo, village["path"])
    assert data["members"]["totalCount"] == len(expected) > 0
    assert [e["node"]["name"] for e in data["members"]["edges"]] == [m["name"] for m in expected]


async def test_member_search(client: GraphQLClient, demo: DemoData) -> None:
    needle = demo.members[5]["name"][1:]  # part of a name, without the surname
    data = await client.data(
        "query($s: String) { members(search: $s, first: 100) { totalCount edges"
        " { node { name } } } }",
        {"s": f"  {needle} "},
    )
    expected = [m["name"] for m in demo.members if needle in m["name"]]
    assert [e["node"]["name"] for e in data["members"]["edges"]] == expected
    assert data["members"]["totalCount"] == len(expected) >= 1
    # LIKE wildcards are searched for literally, not as patterns.
    for wildcard in ("%", "_", "\\"):
        literal = await client.data(
            "query($s: String) { members(search: $s) { totalCount } }", {"s": wildcard}
        )
        assert literal["members"]["totalCount"] == 0
    blank = await client.data('{ members(search: "   ") { totalCount } }')
    assert blank["members"]["totalCount"] == len(demo.members)
    error = await client.error(
        "query($s: String) { members(search: $s) { totalCount } }", {"s": "x" * 51}
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_pages_walk_every_member_once(client: GraphQLClient, demo: DemoData) -> None:
    t = town(demo)
    seen: list[str] = []
    after = None
    for _ in range(100):
        data = await client.data(
            "query($u: ID, $a: String) { members(under: $u, first: 7, after: $a)"
            " { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }",
            {"u": global_id("Tenant", t["id"]), "a": after},
        )
        page = data["members"]
        ids = [e["node"]["id"] for e in page["edges"]]
        seen += ids
        if page["edges"]:
            assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        assert len(ids) == 7
        after = page["pageInfo"]["endCursor"]
    expected = [global_id("Member", m["id"]) for m in members_under(demo, t["path"])]
    assert seen == expected


async def test_first_defaults_and_bounds(client: GraphQLClient, demo: DemoData) -> None:
    default = await client.data("{ members { edges { cursor } pageInfo { hasNextPage } } }")
    assert len(default["members"]["edges"]) == 20
    assert default["members"]["pageInfo"]["hasNextPage"] is True
    empty = await client.data(
        "{ members(first: 0) { edges { cursor } pageInfo { hasNextPage endCursor } } }"
    )
    assert empty["members"] == {"edges": [], "pageInfo": {"hasNextPage": True, "endCursor": None}}
    full = await client.data("{ members(first: 100) { edges { cursor } } }")
    assert len(full["members"]["edges"]) == 100
    for bad in (101, -1):
        error = await client.error(
            "query($n: Int) { members(first: $n) { totalCount } }", {"n": bad}
        )
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "first" in error["message"]


@pytest.mark.parametrize(
    "after",
    ["not-base64!", "Y3Vyc29y", cursor(3)[:-2] + "??", global_id("Member", 3), cursor(2**31)],
    ids=["garbage", "no-value", "broken", "a-node-id", "past-32-bits"],
)
async def test_malformed_cursor_is_bad_input(client: GraphQLClient, after: str) -> None:
    error = await client.error(
        "query($a: String) { members(after: $a) { totalCount } }", {"a": after}
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "after"


async def test_node_resolves_every_type(client: GraphQLClient, demo: DemoData) -> None:
    activity = demo.activities[3]
    member = demo.members[10]
    query = """query($t: ID!, $b: ID!, $m: ID!, $a: ID!) {
      t: node(id: $t) { __typename id ... on Tenant { code level parent { code } } }
      b: node(id: $b) { __typename ... on Branch { name category establishedOn secretary } }
      m: node(id: $m) { __typename ... on Member { name gender birthDate joinedOn status
                                                   education branch { id } } }
      a: node(id: $a) { __typename ... on Activity { title kind attendance occurredAt
                                                     branch { id } } } }"""
    branch = demo.branches[2]
    village = demo.tenants[-1]
    data = await client.data(
        query,
        {
            "t": global_id("Tenant", village["id"]),
            "b": global_id("Branch", branch["id"]),
            "m": global_id("Member", member["id"]),
            "a": global_id("Activity", activity["id"]),
        },
    )
    parent = next(t for t in demo.tenants if t["id"] == village["parent_id"])
    assert data["t"] == {
        "__typename": "Tenant",
        "id": global_id("Tenant", village["id"]),
        "code": village["code"],
        "level": "VILLAGE",
        "parent": {"code": parent["code"]},
    }
    assert data["b"] == {
        "__typename": "Branch",
        "name": branch["name"],
        "category": branch["category"],
        "establishedOn": branch["established_on"].isoformat(),
        "secretary": branch["secretary"],
    }
    assert data["m"] == {
        "__typename": "Member",
        "name": member["name"],
        "gender": member["gender"],
        "birthDate": member["birth_date"].isoformat(),
        "joinedOn": member["joined_on"].isoformat(),
        "status": member["status"],
        "education": member["education"],
        "branch": {"id": global_id("Branch", member["branch_id"])},
    }
    assert data["a"]["title"] == activity["title"]
    assert data["a"]["kind"] == activity["kind"]
    assert datetime.fromisoformat(data["a"]["occurredAt"]) == activity["occurred_at"]
    assert data["a"]["branch"] == {"id": global_id("Branch", activity["branch_id"])}


@pytest.mark.parametrize("token", [global_id("Member", 10**9), global_id("Mystery", 1)])
async def test_unknown_node_is_null(client: GraphQLClient, token: str) -> None:
    assert await client.data("query($i: ID!) { node(id: $i) { id } }", {"i": token}) == {
        "node": None
    }


@pytest.mark.parametrize(
    "token",
    ["", "%%%", "TWVtYmVy", "TWVtYmVyOmFiYw==", "TWVtYmVyOi0x", global_id("Member", 2**31)],
    ids=["empty", "not-base64", "no-colon", "not-a-number", "negative", "past-32-bits"],
)
async def test_malformed_node_id_is_bad_input(client: GraphQLClient, token: str) -> None:
    error = await client.error("query($i: ID!) { node(id: $i) { id } }", {"i": token})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["path"] == ["node"]


async def test_under_narrows_and_never_errs_on_absent_tenants(client: GraphQLClient) -> None:
    absent = await client.data(
        "query($u: ID) { members(under: $u) { totalCount edges { cursor } } }",
        {"u": global_id("Tenant", 10**6)},
    )
    assert absent["members"] == {"totalCount": 0, "edges": []}
    wrong_kind = await client.error(
        "query($u: ID) { branches(under: $u) { totalCount } }", {"u": global_id("Member", 1)}
    )
    assert wrong_kind["extensions"] == {"code": "BAD_USER_INPUT", "argument": "under"}


async def test_nested_connections(client: GraphQLClient, demo: DemoData) -> None:
    district = demo.tenants[0]
    data = await client.data(
        "query($d: ID!) { node(id: $d) { ... on Tenant { children(first: 1) { totalCount"
        " edges { node { code children { totalCount } } } pageInfo { hasNextPage } } } } }",
        {"d": global_id("Tenant", district["id"])},
    )
    children = data["node"]["children"]
    towns = [t for t in demo.tenants if t["parent_id"] == district["id"]]
    assert children["totalCount"] == len(towns)
    assert children["pageInfo"]["hasNextPage"] is (len(towns) > 1)
    first_town = children["edges"][0]["node"]
    assert first_town["code"] == towns[0]["code"]
    assert first_town["children"]["totalCount"] == sum(
        t["parent_id"] == towns[0]["id"] for t in demo.tenants
    )

    branches = await client.data(
        "{ branches(first: 5) { edges { node { id members(first: 2) { totalCount"
        " edges { node { name branch { id } } } } } } } }"
    )
    for edge in branches["branches"]["edges"]:
        node = edge["node"]
        pk = int(next(b["id"] for b in demo.branches if global_id("Branch", b["id"]) == node["id"]))
        own = [m for m in demo.members if m["branch_id"] == pk]
        assert node["members"]["totalCount"] == len(own)
        assert [e["node"]["name"] for e in node["members"]["edges"]] == [m["name"] for m in own[:2]]
        assert all(e["node"]["branch"]["id"] == node["id"] for e in node["members"]["edges"])


def activities_today(demo: DemoData, path: str) -> int:
    zone = ZoneInfo("Asia/Shanghai")
    start = datetime.combine(datetime.now(zone).date(), time(0), tzinfo=zone)
    end = start + timedelta(days=1)
    branch_ids = {b["id"] for b in branches_under(demo, path)}
    return sum(
        a["branch_id"] in branch_ids and start <= a["occurred_at"] < end for a in demo.activities
    )


async def test_overview_counts(client: GraphQLClient, demo: DemoData) -> None:
    query = (
        "query($u: ID) { overview(under: $u) { tenant { code } branches members activitiesToday } }"
    )
    for tenant in (None, town(demo), demo.tenants[-1]):
        variables = {"u": global_id("Tenant", tenant["id"]) if tenant else None}
        path = tenant["path"] if tenant else "/"
        data = await client.data(query, variables)
        assert data["overview"] == {
            "tenant": {"code": (tenant or demo.tenants[0])["code"]},
            "branches": len(branches_under(demo, path)),
            "members": len(members_under(demo, path)),
            "activitiesToday": activities_today(demo, path),
        }
    error = await client.error(query, {"u": global_id("Tenant", 10**6)})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
