"""Members' personal data (Member.phone, Member.idNumber), on SQLite and PostgreSQL.

Proves: a super admin reads them unmasked, and each unmasked read leaves one
`member.read_sensitive` audit entry per tenant naming exactly the members shown, written
before the answer leaves; a village's junior admin reads them masked (first 3 and last 4 kept)
and leaves no such entry; a senior admin reads them unmasked in its own town only, even when it
holds a lower role elsewhere; a member reads its own unmasked. Also the masking functions,
short and odd inputs included.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from schema.ids import global_id, parse_global_id
from server.members.privacy import mask_id_number, mask_phone
from tenants.demo import DemoData
from tests.conftest import GraphQLClient

Row = dict[str, Any]
Message = MutableMapping[str, Any]

PHONE_MASKED = re.compile(r"\d{3}\*{4}\d{4}")
ID_MASKED = re.compile(r"\d{3}\*{11}\d{3}[\dX]")
MEMBERS = (
    "query($u: ID, $a: String) { members(under: $u, first: 100, after: $a) {"
    " pageInfo { hasNextPage endCursor } edges { node { id phone idNumber } } } }"
)
MEMBER = "query($id: ID!) { node(id: $id) { ... on Member { id phone idNumber } } }"


# -- helpers ----------------------------------------------------------------------------------


async def fetch(engine: AsyncEngine, sql: str, **params: Any) -> list[Row]:
    async with engine.connect() as conn:
        return [dict(row._mapping) for row in await conn.execute(text(sql), params)]


async def last_id(engine: AsyncEngine) -> int:
    [row] = await fetch(engine, "SELECT COALESCE(MAX(id), 0) AS n FROM audit_log")
    return int(row["n"])


async def sensitive_reads(engine: AsyncEngine, after: int) -> list[Row]:
    return await fetch(
        engine,
        "SELECT principal, tenant_path, detail FROM audit_log"
        " WHERE id > :after AND action = 'member.read_sensitive' ORDER BY id",
        after=after,
    )


def paths_of(demo: DemoData) -> dict[int, str]:
    """Member id -> the tenant path of its branch (where its personal data lives)."""
    tenant_path = {t["id"]: t["path"] for t in demo.tenants}
    branch_path = {b["id"]: tenant_path[b["tenant_id"]] for b in demo.branches}
    return {m["id"]: branch_path[m["branch_id"]] for m in demo.members}


def by_pk(demo: DemoData) -> dict[int, Row]:
    return {m["id"]: m for m in demo.members}


async def members(gql: GraphQLClient, under: int | None = None) -> dict[int, Row]:
    """Every member `gql` may read (under a tenant id), by primary key."""
    found: dict[int, Row] = {}
    after = None
    variables = {"u": None if under is None else global_id("Tenant", under)}
    while True:
        page = (await gql.data(MEMBERS, {**variables, "a": after}))["members"]
        for edge in page["edges"]:
            found[parse_global_id(edge["node"]["id"])[1]] = edge["node"]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


def is_unmasked(node: Row, member: Row) -> bool:
    return node["phone"] == member["phone"] and node["idNumber"] == member["id_number"]


def is_masked(node: Row, member: Row) -> bool:
    return (
        node["phone"] == mask_phone(member["phone"])
        and node["idNumber"] == mask_id_number(member["id_number"])
        and PHONE_MASKED.fullmatch(node["phone"]) is not None
        and ID_MASKED.fullmatch(node["idNumber"]) is not None
    )


def named(reads: list[Row]) -> dict[str, list[int]]:
    """tenant path -> the member ids its read_sensitive entries name."""
    result: dict[str, list[int]] = defaultdict(list)
    for read in reads:
        result[read["tenant_path"]] += json.loads(read["detail"])["members"]
    return dict(result)


def expected_reads(ids: set[int], paths: dict[int, str]) -> dict[str, list[int]]:
    result: dict[str, list[int]] = defaultdict(list)
    for pk in sorted(ids):
        result[paths[pk]].append(pk)
    return dict(result)


# -- super admin ------------------------------------------------------------------------------


async def test_super_admin_reads_unmasked_and_each_read_is_audited(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    gql, app = fresh
    engine = app.state.runtime.engine
    paths, rows = paths_of(demo), by_pk(demo)

    # One member: one entry naming it, though both fields were read (and the phone twice).
    one = demo.members[42]
    start = await last_id(engine)
    node = (
        await gql.data(
            "query($id: ID!) { node(id: $id) { ... on Member { phone idNumber again: phone } } }",
            {"id": global_id("Member", one["id"])},
        )
    )["node"]
    assert (node["phone"], node["again"], node["idNumber"]) == (
        one["phone"],
        one["phone"],
        one["id_number"],
    )
    reads = await sensitive_reads(engine, start)
    assert len(reads) == 1
    assert reads[0]["principal"] == "user:admin"
    assert reads[0]["tenant_path"] == paths[one["id"]]
    assert json.loads(reads[0]["detail"]) == {"members": [one["id"]]}

    # Every member of the district: one entry per tenant per page, naming each member read.
    start = await last_id(engine)
    seen = await members(gql)
    assert set(seen) == set(rows)
    assert all(is_unmasked(seen[pk], rows[pk]) for pk in seen)
    reads = await sensitive_reads(engine, start)
    assert {pk: sorted(ids) for pk, ids in named(reads).items()} == expected_reads(set(seen), paths)
    assert all(r["principal"] == "user:admin" for r in reads)

    # Reading no personal field reads nothing sensitive.
    start = await last_id(engine)
    await gql.data("{ members(first: 100) { edges { node { name } } } }")
    assert await sensitive_reads(engine, start) == []


async def test_the_sensitive_read_is_on_record_before_the_answer(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    gql, app = fresh
    engine = app.state.runtime.engine
    one = demo.members[7]
    start = await last_id(engine)
    on_record: list[list[Row]] = []

    def spying(send: Callable[[Message], Awaitable[None]]) -> Callable[[Message], Awaitable[None]]:
        async def send_and_look(message: Message) -> None:
            # The moment the answer starts to leave: what does the audit log hold already?
            if message["type"] == "http.response.start":
                on_record.append(await sensitive_reads(engine, start))
            await send(message)

        return send_and_look

    async def spy(scope: Any, receive: Any, send: Any) -> None:
        await app(scope, receive, spying(send))

    transport = httpx.ASGITransport(app=spy)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        node = (
            await GraphQLClient(http, gql.token).data(
                MEMBER, {"id": global_id("Member", one["id"])}
            )
        )["node"]
    assert node["phone"] == one["phone"]
    [before_answer] = on_record
    assert [json.loads(r["detail"]) for r in before_answer] == [{"members": [one["id"]]}]


# -- junior admin ------------------------------------------------------------------------------


async def test_junior_admin_reads_masked_and_leaves_no_entry(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    gql, app = fresh
    engine = app.state.runtime.engine
    rows, paths = by_pk(demo), paths_of(demo)
    junior = await gql.as_user("admin.d01t01v002")
    start = await last_id(engine)

    seen = await members(junior)
    assert seen and all(paths[pk] == "/d01/t01/v002/" for pk in seen)
    assert all(is_masked(seen[pk], rows[pk]) for pk in seen), seen
    one = next(iter(seen))
    node = (await junior.data(MEMBER, {"id": global_id("Member", one)}))["node"]
    assert is_masked(node, rows[one])
    assert await sensitive_reads(engine, start) == []


SHAPES = {
    # Every way the schema reaches a member's fields: the rule must hold on each path.
    "fragment": "query($u: ID) { members(under: $u, first: 100) { edges { node { ...P } } } }"
    " fragment P on Member { id phone idNumber }",
    "alias": "query($u: ID) { members(under: $u, first: 100) { edges { node {"
    " id phone: idNumber idNumber: phone } } } }",
    "nested": "query($u: ID) { branches(under: $u, first: 100) { edges { node {"
    " members(first: 100) { edges { node { id phone idNumber } } } } } } }",
    "node": "query($b: ID!) { node(id: $b) { ... on Branch { members(first: 100) {"
    " edges { node { id phone idNumber } } } } } }",
}


def _member_nodes(data: Any) -> list[Row]:
    """Every object with a phone in an answer, wherever it sits."""
    if isinstance(data, dict):
        if "phone" in data:
            return [data]
        return [node for value in data.values() for node in _member_nodes(value)]
    if isinstance(data, list):
        return [node for value in data for node in _member_nodes(value)]
    return []


async def test_every_query_shape_masks_alike(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    gql, app = fresh
    engine = app.state.runtime.engine
    rows = by_pk(demo)
    village = 5  # d01t01v002
    branch = next(b["id"] for b in demo.branches if b["tenant_id"] == village)
    variables = {"u": global_id("Tenant", village), "b": global_id("Branch", branch)}
    junior = await gql.as_user("admin.d01t01v002")
    for name, query in SHAPES.items():
        used = {k: v for k, v in variables.items() if f"${k}" in query}
        start = await last_id(engine)
        for viewer, check in ((junior, is_masked), (gql, is_unmasked)):
            nodes = _member_nodes(await viewer.data(query, used))
            assert nodes, name
            for node in nodes:
                if name == "alias":  # the aliases swap the two fields
                    node = {**node, "phone": node["idNumber"], "idNumber": node["phone"]}
                pk = parse_global_id(node["id"])[1]
                assert check(node, rows[pk]), (name, viewer.token == gql.token, node)
        # Only the super admin's reads are on record.
        reads = await sensitive_reads(engine, start)
        assert reads and {r["principal"] for r in reads} == {"user:admin"}, name


# -- senior admin ------------------------------------------------------------------------------


async def test_senior_admin_reads_unmasked_only_in_its_town(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    gql, app = fresh
    engine = app.state.runtime.engine
    rows, paths = by_pk(demo), paths_of(demo)
    # The senior admin of d01t01 also keeps a village of the other town, as a junior admin:
    # there it may read members, but their personal data only masked.
    await gql.data(
        'mutation($t: ID!) { grantRole(username: "admin.d01t01", role: JUNIOR_ADMIN,'
        " tenantId: $t) { role } }",
        {"t": global_id("Tenant", 8)},  # d01t02v005
    )
    senior = await gql.as_user("admin.d01t01")
    start = await last_id(engine)

    seen = await members(senior)
    town = {pk for pk in seen if paths[pk].startswith("/d01/t01/")}
    village = {pk for pk in seen if paths[pk] == "/d01/t02/v005/"}
    assert town and village and town | village == set(seen)
    assert town == {pk for pk in rows if paths[pk].startswith("/d01/t01/")}
    assert all(is_unmasked(seen[pk], rows[pk]) for pk in town)
    assert all(is_masked(seen[pk], rows[pk]) for pk in village)
    reads = await sensitive_reads(engine, start)
    assert {p: sorted(ids) for p, ids in named(reads).items()} == expected_reads(town, paths)
    assert all(r["principal"] == "user:admin.d01t01" for r in reads)

    # Elsewhere in the other town it reads nothing at all.
    stranger = next(pk for pk in rows if paths[pk] == "/d01/t02/v006/")
    found = await senior.data(MEMBER, {"id": global_id("Member", stranger)})
    assert found == {"node": None}


# -- member ------------------------------------------------------------------------------------


async def test_a_member_reads_its_own_unmasked(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    gql, app = fresh
    engine = app.state.runtime.engine
    rows, paths = by_pk(demo), paths_of(demo)
    member = await gql.as_user("m.23")
    start = await last_id(engine)

    seen = await members(member)
    assert list(seen) == [23]
    assert is_unmasked(seen[23], rows[23])
    reads = await sensitive_reads(engine, start)
    assert [(r["principal"], r["tenant_path"]) for r in reads] == [("user:m.23", paths[23])]
    assert json.loads(reads[0]["detail"]) == {"members": [23]}

    # A fellow member of its branch is not its to read.
    fellow = next(
        m["id"] for m in demo.members if m["branch_id"] == rows[23]["branch_id"] and m["id"] != 23
    )
    assert await member.data(MEMBER, {"id": global_id("Member", fellow)}) == {"node": None}


# -- masking ---------------------------------------------------------------------------------


def test_mask_phone() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("+8613812345678") == "+86*******5678"
    assert mask_phone("12345678") == "123*5678"
    # Too short to keep 7 characters and still hide something: all hidden.
    for short in ("", "1", "1234", "1234567"):
        assert mask_phone(short) == "*" * len(short)


def test_mask_id_number() -> None:
    assert mask_id_number("33100219870313001X") == "331***********001X"
    # Neither the region (digits 4-6) nor the birth date (7-14) shows.
    masked = mask_id_number("331002197210160013")
    assert masked[3:14] == "*" * 11 and "19721016" not in masked
    assert mask_id_number("331002721016001") == "331********6001"  # the old 15-digit form
    for short in ("", "X", "123456", "1234567"):
        assert mask_id_number(short) == "*" * len(short)


@given(st.text(max_size=40))
def test_masks_keep_the_length_and_at_most_7_characters(value: str) -> None:
    for mask in (mask_phone, mask_id_number):
        masked = mask(value)
        assert len(masked) == len(value)
        if len(value) < 8:
            assert masked == "*" * len(value)
        else:
            assert masked[:3] == value[:3] and masked[-4:] == value[-4:]
            assert masked[3:-4] == "*" * (len(value) - 7)
