"""Property: whatever a demo account asks, it gets exactly its scope, no more and no less.

Hypothesis draws a viewer among all the demo accounts (the super admin, every town and village
admin, the member accounts) and a query over random objects of the demo district:

- `node(id:)` over a random handful of tenants, branches, members, activities (ids past the
  end included), with their to-one relations and nested connections;
- `tenants` / `branches` / `members` with a random `under` (none, any tenant, one that does not
  exist), `first`, `after` and, for members, a `search` cut from a real name;
- `Tenant.children` and `Branch.members` pages with random `first` / `after`, reached through
  `node` and through a list;
- `overview` with a random `under`.

Each answer is compared exactly with the oracle of tests/test_authz_matrix.py (the generator's
rows and the demo role bindings): nothing outside the viewer's scope is returned or counted,
everything inside that the query asks for is returned, and personal data is masked exactly where
the viewer may not read it.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schema.ids import cursor
from tests.conftest import GraphQLClient
from tests.test_authz_matrix import (
    ABSENT_PK,
    NODE_SELECTIONS,
    ORACLE,
    OVERVIEW,
    Viewer,
    check_member,
    check_node,
    gid,
    ok,
    pk_of,
    refused,
)

Row = dict[str, Any]

# Ids are drawn a little past the last row, so some name nothing.
PAST_END = 3
KINDS = ("Tenant", "Branch", "Member", "Activity")
LISTS = {"tenants": "Tenant", "branches": "Branch", "members": "Member"}

# One client is used for every example (hypothesis calls the test many times per fixture
# value); each example is one or two requests, so the budget stays around a few seconds.
EXAMPLES = 25
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

viewers = st.sampled_from(sorted(ORACLE.viewers)).map(lambda name: ORACLE.viewers[name])


def pks(kind: str) -> st.SearchStrategy[int]:
    return st.integers(0, max(ORACLE.table(kind)) + PAST_END)


def objects_near(viewer: Viewer, kind: str) -> st.SearchStrategy[int]:
    """Any id of `kind`, or one the viewer may see: in-scope objects are rare for a member, and
    the property is about both sides of the scope's edge."""
    inside = [pk for pk in sorted(ORACLE.table(kind)) if ORACLE.sees(viewer, kind, pk)]
    return st.one_of(pks(kind), st.sampled_from(inside)) if inside else pks(kind)


# `under`: none, any tenant of the district, or a tenant that does not exist.
unders = st.one_of(st.none(), pks("Tenant"), st.just(ABSENT_PK))
firsts = st.one_of(st.integers(0, 5), st.integers(0, 100))


def afters(kind: str) -> st.SearchStrategy[int | None]:
    return st.one_of(st.none(), pks(kind))


@st.composite
def needles(draw: st.DrawFn) -> str:
    """Part of a real member's name (a surname, a given name, a whole name...)."""
    name: str = draw(st.sampled_from(sorted({m["name"] for m in ORACLE.demo.members})))
    start = draw(st.integers(0, len(name) - 1))
    end = draw(st.integers(start + 1, len(name)))
    return name[start:end]


def tenant_id(pk: int | None) -> str | None:
    return None if pk is None else gid("Tenant", pk)


def cursor_of(pk: int | None) -> str | None:
    return None if pk is None else cursor(pk)


def check_page(got: Row, matching: list[int], first: int, after: int | None) -> list[int]:
    """A connection page against the ids that match over all pages: the page is the first
    `first` of them after `after`, totalCount counts them all. Returns the page's ids."""
    rest = [pk for pk in matching if after is None or pk > after]
    page = rest[:first]
    ids = [pk_of(edge["node"]["id"]) for edge in got["edges"]]
    assert ids == page
    assert got["totalCount"] == len(matching)
    assert got["pageInfo"] == {
        "hasNextPage": len(rest) > first,
        "endCursor": cursor_of(page[-1]) if page else None,
    }
    assert [edge["cursor"] for edge in got["edges"]] == [cursor(pk) for pk in page]
    return ids


async def as_viewer(client: GraphQLClient, viewer: Viewer) -> GraphQLClient:
    return await client.as_user(viewer.username)


# -- node ------------------------------------------------------------------------------------


@st.composite
def node_cases(draw: st.DrawFn) -> tuple[Viewer, list[tuple[str, int]]]:
    viewer = draw(viewers)
    objects = draw(
        st.lists(
            st.sampled_from(KINDS).flatmap(
                lambda kind: objects_near(viewer, kind).map(lambda pk: (kind, pk))
            ),
            min_size=1,
            max_size=8,
            unique=True,
        )
    )
    return viewer, objects


@PROPERTY
@given(case=node_cases())
async def test_node_reads_exactly_the_scope(
    client: GraphQLClient, case: tuple[Viewer, list[tuple[str, int]]]
) -> None:
    viewer, objects = case
    c = await as_viewer(client, viewer)
    query = (
        "{ "
        + " ".join(
            f'{kind[0]}{pk}: node(id: "{gid(kind, pk)}") {{ id {NODE_SELECTIONS[kind]} }}'
            for kind, pk in objects
        )
        + " }"
    )
    data = ok(await c.post(query))
    for kind, pk in objects:
        check_node(viewer, kind, pk, data[f"{kind[0]}{pk}"])


# -- lists -----------------------------------------------------------------------------------


@st.composite
def list_cases(draw: st.DrawFn) -> Row:
    name = draw(st.sampled_from(sorted(LISTS)))
    viewer = draw(viewers)
    # `under` near the viewer too: its own tenant or one below it narrows something real.
    own = ORACLE.tenant_at[viewer.path]["id"]
    below = [pk for pk in sorted(ORACLE.tenants) if ORACLE.sees(viewer, "Tenant", pk)]
    return {
        "name": name,
        "viewer": viewer,
        "under": draw(st.one_of(unders, st.just(own), st.sampled_from(below))),
        "first": draw(firsts),
        "after": draw(afters(LISTS[name])),
        "search": draw(st.one_of(st.none(), needles())) if name == "members" else None,
    }


@PROPERTY
@given(case=list_cases())
async def test_lists_hold_exactly_the_scope(client: GraphQLClient, case: Row) -> None:
    name, viewer, kind = case["name"], case["viewer"], LISTS[case["name"]]
    c = await as_viewer(client, viewer)
    search = ", search: $s" if name == "members" else ""
    fields = "id phone idNumber" if name == "members" else "id"
    query = (
        f"query($u: ID, $n: Int, $a: String{', $s: String' if search else ''}) {{"
        f" {name}(under: $u, first: $n, after: $a{search}) {{ totalCount"
        f" pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {fields} }} }} }} }}"
    )
    variables: Row = {
        "u": tenant_id(case["under"]),
        "n": case["first"],
        "a": cursor_of(case["after"]),
    }
    if search:
        variables["s"] = case["search"]
    got = ok(await c.post(query, variables))[name]
    matching = ORACLE.visible(viewer, kind, case["under"], search=case["search"])
    check_page(got, matching, case["first"], case["after"])
    if name == "members":
        for edge in got["edges"]:
            check_member(viewer, edge["node"])


# -- nested connections ----------------------------------------------------------------------


@st.composite
def nested_cases(draw: st.DrawFn) -> Row:
    viewer = draw(viewers)
    return {
        "viewer": viewer,
        "tenant": draw(objects_near(viewer, "Tenant")),
        "branch": draw(objects_near(viewer, "Branch")),
        "under": draw(unders),
        "first": draw(firsts),
        "after": draw(afters("Tenant")),
        "member_first": draw(firsts),
        "member_after": draw(afters("Member")),
    }


PAGE_FIELDS = "totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } }"
NESTED = f"""query($t: ID!, $b: ID!, $u: ID, $f: Int, $a: String, $mf: Int, $ma: String) {{
  t: node(id: $t) {{ ... on Tenant {{ children(first: $f, after: $a) {{ {PAGE_FIELDS} }} }} }}
  b: node(id: $b) {{ ... on Branch {{ members(first: $mf, after: $ma) {{ {PAGE_FIELDS} }} }} }}
  tenants(under: $u, first: 100) {{ edges {{ node {{ id
    children(first: $f, after: $a) {{ {PAGE_FIELDS} }} }} }} }}
  branches(under: $u, first: 100) {{ edges {{ node {{ id
    members(first: $mf, after: $ma) {{ {PAGE_FIELDS} }} }} }} }}
}}"""


def children(viewer: Viewer, tenant: int) -> list[int]:
    return [k for k in ORACLE.children_of(tenant) if ORACLE.sees(viewer, "Tenant", k)]


def members_of(viewer: Viewer, branch: int) -> list[int]:
    return [
        m
        for m in sorted(ORACLE.members)
        if ORACLE.members[m]["branch_id"] == branch and ORACLE.sees(viewer, "Member", m)
    ]


@PROPERTY
@given(case=nested_cases())
async def test_nested_connections_hold_exactly_the_scope(client: GraphQLClient, case: Row) -> None:
    viewer = case["viewer"]
    c = await as_viewer(client, viewer)
    page, member_page = (case["first"], case["after"]), (case["member_first"], case["member_after"])
    data = ok(
        await c.post(
            NESTED,
            {
                "t": gid("Tenant", case["tenant"]),
                "b": gid("Branch", case["branch"]),
                "u": tenant_id(case["under"]),
                "f": page[0],
                "a": cursor_of(page[1]),
                "mf": member_page[0],
                "ma": cursor_of(member_page[1]),
            },
        )
    )
    # Through node: null when the parent is outside the scope, else its page of what's inside.
    if ORACLE.sees(viewer, "Tenant", case["tenant"]):
        check_page(data["t"]["children"], children(viewer, case["tenant"]), *page)
    else:
        assert data["t"] is None
    if ORACLE.sees(viewer, "Branch", case["branch"]):
        check_page(data["b"]["members"], members_of(viewer, case["branch"]), *member_page)
    else:
        assert data["b"] is None
    # Through a list: every parent in scope, each with its own page (one batched query).
    tenants = data["tenants"]["edges"]
    assert [pk_of(e["node"]["id"]) for e in tenants] == ORACLE.visible(
        viewer, "Tenant", case["under"]
    )
    for edge in tenants:
        check_page(edge["node"]["children"], children(viewer, pk_of(edge["node"]["id"])), *page)
    branches = data["branches"]["edges"]
    assert [pk_of(e["node"]["id"]) for e in branches] == ORACLE.visible(
        viewer, "Branch", case["under"]
    )
    for edge in branches:
        expected = members_of(viewer, pk_of(edge["node"]["id"]))
        check_page(edge["node"]["members"], expected, *member_page)


# -- overview --------------------------------------------------------------------------------


@PROPERTY
@given(viewer=viewers, under=unders)
async def test_overview_counts_exactly_the_scope(
    client: GraphQLClient, viewer: Viewer, under: int | None
) -> None:
    c = await as_viewer(client, viewer)
    body = await c.post(OVERVIEW, {"u": tenant_id(under)})
    if not ORACLE.may_overview(viewer):
        refused(body, "FORBIDDEN")
        return
    expected = ORACLE.overview(viewer, under)
    if expected is None:
        error = refused(body, "BAD_USER_INPUT")
        assert error["extensions"]["argument"] == "under"
    else:
        assert ok(body)["overview"] == expected
