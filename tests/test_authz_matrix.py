"""The authorization matrix: every kind of viewer x every kind of target x every operation.

Viewers are demo accounts of each role (SUPER_ADMIN, SENIOR_ADMIN, JUNIOR_ADMIN, a MEMBER bound
at a village and one bound at a town) and an anonymous caller. Targets are tenants placed
relative to the viewer: no target (the whole scope), its own tenant, a child and a grandchild
of it, a sibling, a child of the sibling, its parent, and a tenant id that does not exist.
Operations are every query and mutation of the schema: the three lists (with `under`,
`search`, `totalCount`, every page), `node` for each type over every object of the target's
subtree (with their to-one and nested to-many relations), `overview`, `auditLog`, `me`,
`grantRole`, `revokeRole`, `logout`.

Every expectation is computed from the generator's rows and the demo role bindings (the Oracle
below), never from the server, and compared exactly. What this proves:

- without a principal everything but `login` and `refreshToken` is UNAUTHENTICATED;
- each role reads exactly its scope: nothing outside it is returned, counted or nested, and
  nothing inside it is missing; objects outside read as absent (null, empty, zero), never as
  FORBIDDEN; `under` narrows and never widens;
- phone and ID numbers are unmasked exactly where the role may read them;
- `overview` is FORBIDDEN to members, `auditLog` to everyone but the super admin;
- grants and revocations are refused with the right code, existence of tenants does not leak,
  and a successful grant (on a private database) changes what the grantee sees at once.

The Oracle is imported by tests/test_authz_scope_property.py too.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schema.ids import global_id
from tenants.demo import DemoData, demo_bindings, generate
from tests.conftest import AS_OF, TEMPLATE_SEED, GraphQLClient

Row = dict[str, Any]
Body = dict[str, Any]

ADMIN_TIER = {"SUPER_ADMIN": 1, "SENIOR_ADMIN": 2, "JUNIOR_ADMIN": 3}
LEVEL_OF_ROLE = {"SUPER_ADMIN": "DISTRICT", "SENIOR_ADMIN": "TOWN", "JUNIOR_ADMIN": "VILLAGE"}
# Roles that may read phone and ID numbers unmasked over their whole subtree (policy.csv).
SENSITIVE_ROLES = {"SUPER_ADMIN", "SENIOR_ADMIN"}
ABSENT_PK = 10**6
ZONE = ZoneInfo("Asia/Shanghai")  # EHOME_TIMEZONE's default, which the tests don't override
PAGE = 50  # small enough that the district's members take several pages


# -- the oracle ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """A demo account as the spec sees it: its role bindings, and its member record if any."""

    username: str
    bindings: tuple[tuple[str, str], ...]  # (role, tenant path)
    member_id: int | None = None
    branch_id: int | None = None

    @property
    def role(self) -> str:
        return self.bindings[0][0]

    @property
    def path(self) -> str:
        return self.bindings[0][1]

    def with_binding(self, role: str, path: str) -> Viewer:
        return replace(self, bindings=(*self.bindings, (role, path)))


class Oracle:
    """What each viewer may see of the demo district, computed from the generator's rows."""

    def __init__(self, demo: DemoData, *, seed: int = TEMPLATE_SEED) -> None:
        self.demo = demo
        self.tenants: dict[int, Row] = {t["id"]: t for t in demo.tenants}
        self.tenant_at: dict[str, Row] = {t["path"]: t for t in demo.tenants}
        self.branches: dict[int, Row] = {b["id"]: b for b in demo.branches}
        self.members: dict[int, Row] = {m["id"]: m for m in demo.members}
        self.activities: dict[int, Row] = {a["id"]: a for a in demo.activities}
        self.viewers: dict[str, Viewer] = {}
        for username, role, path in demo_bindings(demo, seed=seed):
            member_id = int(username.removeprefix("m.")) if role == "MEMBER" else None
            branch_id = None if member_id is None else self.members[member_id]["branch_id"]
            self.viewers[username] = Viewer(username, ((role, path),), member_id, branch_id)

    # -- the rows ---------------------------------------------------------------------------

    def table(self, kind: str) -> dict[int, Row]:
        return {
            "Tenant": self.tenants,
            "Branch": self.branches,
            "Member": self.members,
            "Activity": self.activities,
        }[kind]

    def branch_of(self, kind: str, pk: int) -> int | None:
        """The branch an object belongs to (a branch is its own)."""
        if kind == "Branch":
            return pk
        if kind in ("Member", "Activity"):
            branch: int = self.table(kind)[pk]["branch_id"]
            return branch
        return None

    def path_of(self, kind: str, pk: int) -> str | None:
        """The tenant path an object lies at; None when there is no such object."""
        if pk not in self.table(kind):
            return None
        if kind == "Tenant":
            path: str = self.tenants[pk]["path"]
            return path
        branch = self.branch_of(kind, pk)
        assert branch is not None
        tenant_path: str = self.tenants[self.branches[branch]["tenant_id"]]["path"]
        return tenant_path

    def children_of(self, tenant_id: int) -> list[int]:
        return [t["id"] for t in self.demo.tenants if t["parent_id"] == tenant_id]

    # -- the spec ---------------------------------------------------------------------------

    def sees(self, viewer: Viewer, kind: str, pk: int) -> bool:
        """May the viewer read this object? Admins: their subtrees. A member: the tenants of its
        subtree, its own branch and that branch's activities, its own record."""
        path = self.path_of(kind, pk)
        if path is None:
            return False
        for role, root in viewer.bindings:
            if not path.startswith(root):
                continue
            if role != "MEMBER" or kind == "Tenant":
                return True
            if kind == "Member" and pk == viewer.member_id:
                return True
            if kind in ("Branch", "Activity") and self.branch_of(kind, pk) == viewer.branch_id:
                return True
        return False

    def under_path(self, viewer: Viewer, under: int | None) -> str | None:
        """The subtree `under` narrows to: None when it names nothing the viewer may see
        (which must read exactly like a tenant that does not exist)."""
        if under is None:
            return "/"
        if not self.sees(viewer, "Tenant", under):
            return None
        path: str = self.tenants[under]["path"]
        return path

    def visible(
        self, viewer: Viewer, kind: str, under: int | None = None, search: str | None = None
    ) -> list[int]:
        """The ids a list of `kind` must return (in id order), narrowed by `under`/`search`."""
        within = self.under_path(viewer, under)
        if within is None:
            return []
        return [
            pk
            for pk in sorted(self.table(kind))
            if self.sees(viewer, kind, pk)
            and (self.path_of(kind, pk) or "").startswith(within)
            and (search is None or search in self.members[pk]["name"])
        ]

    def unmasked(self, viewer: Viewer, member_id: int) -> bool:
        """May the viewer read this member's phone and ID number unmasked?"""
        path = self.path_of("Member", member_id) or ""
        return any(
            (role in SENSITIVE_ROLES and path.startswith(root))
            or (role == "MEMBER" and member_id == viewer.member_id)
            for role, root in viewer.bindings
        )

    def may_overview(self, viewer: Viewer) -> bool:
        return any(role in ADMIN_TIER for role, _ in viewer.bindings)

    def may_audit(self, viewer: Viewer) -> bool:
        return any(role in ("SUPER_ADMIN", "AUDITOR") for role, _ in viewer.bindings)

    def grant_outcome(self, viewer: Viewer, role: str, tenant_id: int) -> str | None:
        """None when the viewer may grant (or revoke) `role` at the tenant, else the error code.

        Refusal comes first (FORBIDDEN: another's subtree, a tier not below one's own, a tenant
        that does not exist), then the level check (BAD_USER_INPUT), so a refusal tells nothing
        about tenants outside the granter's subtree."""
        tenant = self.tenants.get(tenant_id)
        if tenant is None:
            return "FORBIDDEN"
        tiers = [
            ADMIN_TIER[r]
            for r, root in viewer.bindings
            if r in ADMIN_TIER and tenant["path"].startswith(root)
        ]
        if not tiers or ADMIN_TIER[role] <= min(tiers):
            return "FORBIDDEN"
        if LEVEL_OF_ROLE[role] != tenant["level"]:
            return "BAD_USER_INPUT"
        return None

    def tenant_ref(self, viewer: Viewer, tenant_id: int | None) -> Row | None:
        """What `{ id }` of a to-one tenant relation reads: null when the viewer may not."""
        if tenant_id is None or not self.sees(viewer, "Tenant", tenant_id):
            return None
        return {"id": str(global_id("Tenant", tenant_id))}

    def activities_today(self, path: str) -> int:
        start = datetime.combine(datetime.now(ZONE).date(), time(0), tzinfo=ZONE)
        end = start + timedelta(days=1)
        return sum(
            (self.path_of("Activity", a["id"]) or "").startswith(path)
            and start <= a["occurred_at"] < end
            for a in self.demo.activities
        )

    def overview(self, viewer: Viewer, under: int | None) -> Row | None:
        """The overview the viewer must get (`under` None: its own tenant), None when no tenant
        in its scope matches."""
        if under is None:
            tops = sorted({root for role, root in viewer.bindings if role in ADMIN_TIER})
            if len(tops) != 1:
                return None
            under = self.tenant_at[tops[0]]["id"]
        path = self.under_path(viewer, under)
        if path is None:
            return None
        return {
            "tenant": {
                "code": self.tenants[under]["code"],
                # The top of the viewer's scope has no parent it may see.
                "parent": self.tenant_ref(viewer, self.tenants[under]["parent_id"]),
            },
            "branches": len(self.visible(viewer, "Branch", under)),
            "members": len(self.visible(viewer, "Member", under)),
            "activitiesToday": self.activities_today(path),
        }


# Built at import: the matrix is parametrized from it. test_oracle_matches_the_seeded_rows
# checks it is the `demo` fixture's data.
ORACLE = Oracle(generate("small", seed=TEMPLATE_SEED, as_of=AS_OF))


def masked(value: str) -> str:
    """What a masked phone or ID number looks like: the first 3 and last 4 characters kept."""
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def gid(kind: str, pk: int) -> str:
    return str(global_id(kind, pk))


def pk_of(token: str) -> int:
    """The primary key in a global id (ids are compared as pks: shorter failure messages)."""
    return int(base64.b64decode(token).decode().partition(":")[2])


# -- answers ---------------------------------------------------------------------------------


def ok(body: Body) -> Row:
    assert "errors" not in body, body["errors"]
    data: Row = body["data"]
    return data


def refused(body: Body, code: str) -> Row:
    """The first error, which must carry `code`; the refused field must not leak data."""
    errors = body.get("errors")
    assert errors, f"expected {code}, got {body}"
    assert errors[0]["extensions"]["code"] == code, errors[0]
    data = body.get("data") or {}
    assert all(value is None for value in data.values()), f"data next to {code}: {data}"
    error: Row = errors[0]
    return error


async def walk(
    c: GraphQLClient, name: str, selection: str, under: str | None = None
) -> tuple[list[Row], int]:
    """Every node of a root connection, page by page, and its totalCount (which must be the
    same on every page)."""
    query = (
        f"query($u: ID, $n: Int, $a: String) {{ {name}(under: $u, first: $n, after: $a)"
        f" {{ totalCount pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {selection}"
        " } } } }"
    )
    nodes: list[Row] = []
    totals: set[int] = set()
    after = None
    for _ in range(50):
        page = ok(await c.post(query, {"u": under, "n": PAGE, "a": after}))[name]
        totals.add(page["totalCount"])
        nodes += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        assert len(page["edges"]) == PAGE
        after = page["pageInfo"]["endCursor"]
    assert len(totals) == 1, f"totalCount changed between pages: {totals}"
    return nodes, totals.pop()


# -- targets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A tenant placed relative to the viewer (`pk` None: no `under` at all)."""

    label: str
    pk: int | None

    @property
    def id(self) -> str | None:
        return None if self.pk is None else gid("Tenant", self.pk)

    @property
    def path(self) -> str | None:
        """The subtree the target names; "/" for no target, None for an absent tenant."""
        if self.pk is None:
            return "/"
        tenant = ORACLE.tenants.get(self.pk)
        return None if tenant is None else str(tenant["path"])

    def subtree(self, kind: str) -> list[int]:
        """Every object of `kind` in the target's subtree, whoever may see it."""
        path = self.path
        if path is None:
            return [ABSENT_PK]  # an id that names nothing
        return [
            pk
            for pk in sorted(ORACLE.table(kind))
            if (ORACLE.path_of(kind, pk) or "").startswith(path)
        ]


def targets_of(viewer: Viewer) -> dict[str, Target]:
    own = ORACLE.tenant_at[viewer.path]
    children = ORACLE.children_of(own["id"])
    found = {"none": Target("none", None), "own": Target("own", own["id"])}
    if children:
        found["own-child"] = Target("own-child", children[0])
        grandchildren = ORACLE.children_of(children[0])
        if grandchildren:  # the super admin's village: SENIOR_ADMIN there is at a wrong level
            found["own-grandchild"] = Target("own-grandchild", grandchildren[0])
    if own["parent_id"] is not None:
        siblings = [t for t in ORACLE.children_of(own["parent_id"]) if t != own["id"]]
        if siblings:
            found["sibling"] = Target("sibling", siblings[0])
            nephews = ORACLE.children_of(siblings[0])
            if nephews:
                found["sibling-child"] = Target("sibling-child", nephews[0])
        found["parent"] = Target("parent", own["parent_id"])
    found["absent"] = Target("absent", ABSENT_PK)
    return found


def pick_viewer(role: str, level: str) -> str:
    """The first demo account with this role bound at a tenant of this level."""
    return next(
        v.username
        for v in ORACLE.viewers.values()
        if v.role == role and ORACLE.tenant_at[v.path]["level"] == level
    )


VIEWERS: dict[str, str | None] = {
    "SUPER_ADMIN": pick_viewer("SUPER_ADMIN", "DISTRICT"),
    "SENIOR_ADMIN": pick_viewer("SENIOR_ADMIN", "TOWN"),
    # Not the first village: its sibling then comes before it in id order.
    "JUNIOR_ADMIN": [
        v.username
        for v in ORACLE.viewers.values()
        if v.role == "JUNIOR_ADMIN" and ORACLE.tenant_at[v.path]["level"] == "VILLAGE"
    ][1],
    # A member at a village sees one branch among several in its subtree; one at a town sees
    # the town's villages as tenants but none of their branches.
    "MEMBER@village": pick_viewer("MEMBER", "VILLAGE"),
    "MEMBER@town": pick_viewer("MEMBER", "TOWN"),
    "anonymous": None,
}


# -- operations ------------------------------------------------------------------------------

Run = Callable[[GraphQLClient, Viewer | None, Target], Awaitable[None]]


@dataclass(frozen=True)
class Op:
    name: str
    run: Run
    # Whether it runs without a tenant too (`under` null); `tenantId` is required.
    takes_none: bool = True
    # Skip the cases for which this says False (successful grants: they'd change shared data).
    applies: Callable[[Viewer | None, Target], bool] = field(default=lambda v, t: True)


def gate(viewer: Viewer | None, allowed: Callable[[Viewer], bool] | None = None) -> str | None:
    """The error a field must answer before reading anything, or None."""
    if viewer is None:
        return "UNAUTHENTICATED"
    if allowed is not None and not allowed(viewer):
        return "FORBIDDEN"
    return None


async def op_tenants(c: GraphQLClient, v: Viewer | None, t: Target) -> None:
    # Each tenant's parent and children count too: nested reads stay in scope.
    body = await c.post("query($u: ID) { tenants(under: $u) { totalCount } }", {"u": t.id})
    if code := gate(v):
        refused(body, code)
        return
    assert v is not None
    nodes, total = await walk(c, "tenants", "id parent { id } children { totalCount }", t.id)
    expected = ORACLE.visible(v, "Tenant", t.pk)
    assert [pk_of(n["id"]) for n in nodes] == expected
    assert total == len(expected)
    for node in nodes:
        tenant = ORACLE.tenants[pk_of(node["id"])]
        assert node["parent"] == ORACLE.tenant_ref(v, tenant["parent_id"])
        assert node["children"]["totalCount"] == sum(
            ORACLE.sees(v, "Tenant", k) for k in ORACLE.children_of(tenant["id"])
        )


async def op_branches(c: GraphQLClient, v: Viewer | None, t: Target) -> None:
    body = await c.post("query($u: ID) { branches(under: $u) { totalCount } }", {"u": t.id})
    if code := gate(v):
        refused(body, code)
        return
    assert v is not None
    nodes, total = await walk(
        c,
        "branches",
        "id tenant { id } members(first: 100) { totalCount edges { node { id } } }",
        t.id,
    )
    expected = ORACLE.visible(v, "Branch", t.pk)
    assert [pk_of(n["id"]) for n in nodes] == expected
    assert total == len(expected)
    for node in nodes:
        branch = ORACLE.branches[pk_of(node["id"])]
        assert node["tenant"] == {"id": gid("Tenant", branch["tenant_id"])}
        # Branch.members: only the members the viewer may see (a member: itself).
        own = [m for m in sorted(ORACLE.members) if ORACLE.members[m]["branch_id"] == branch["id"]]
        seen = [m for m in own if ORACLE.sees(v, "Member", m)]
        assert [pk_of(e["node"]["id"]) for e in node["members"]["edges"]] == seen
        assert node["members"]["totalCount"] == len(seen)


def check_member(v: Viewer, node: Row) -> None:
    member = ORACLE.members[pk_of(node["id"])]
    unmasked = ORACLE.unmasked(v, member["id"])
    for key, column in (("phone", "phone"), ("idNumber", "id_number")):
        raw = member[column]
        assert node[key] == (raw if unmasked else masked(raw)), (v.username, member["id"], key)


async def op_members(c: GraphQLClient, v: Viewer | None, t: Target) -> None:
    body = await c.post("query($u: ID) { members(under: $u) { totalCount } }", {"u": t.id})
    if code := gate(v):
        refused(body, code)
        return
    assert v is not None
    nodes, total = await walk(c, "members", "id phone idNumber branch { id }", t.id)
    expected = ORACLE.visible(v, "Member", t.pk)
    assert [pk_of(n["id"]) for n in nodes] == expected
    assert total == len(expected)
    for node in nodes:
        check_member(v, node)
        member = ORACLE.members[pk_of(node["id"])]
        assert node["branch"] == {"id": gid("Branch", member["branch_id"])}


def needles(v: Viewer | None, t: Target) -> list[str]:
    """Searches worth making in the target: the full name of a member the viewer may not see
    (it must not be found), the commonest surname there, and the viewer's own name."""
    names = [ORACLE.members[m]["name"] for m in t.subtree("Member") if m in ORACLE.members]
    found: list[str] = []
    if v is not None:
        hidden = [
            ORACLE.members[m]["name"]
            for m in t.subtree("Member")
            if m in ORACLE.members and not ORACLE.sees(v, "Member", m)
        ]
        found += hidden[:1]
        if v.member_id is not None:
            found.append(ORACLE.members[v.member_id]["name"])
    if names:
        surnames = [n[0] for n in names]
        found.append(max(sorted(set(surnames)), key=surnames.count))
    return found or ["王"]


async def op_search(c: GraphQLClient, v: Viewer | None, t: Target) -> None:
    for needle in needles(v, t):
        body = await c.post(
            "query($u: ID, $s: String) { members(under: $u, search: $s, first: 100)"
            " { totalCount edges { node { id name } } } }",
            {"u": t.id, "s": needle},
        )
        if code := gate(v):
            refused(body, code)
            return
        assert v is not None
        got = ok(body)["members"]
        expected = ORACLE.visible(v, "Member", t.pk, search=needle)
        assert [pk_of(e["node"]["id"]) for e in got["edges"]] == expected, needle
        assert got["totalCount"] == len(expected), needle


# node(id:) over every object of the target's subtree, in one query of aliases; each selects
# its to-one relations and nested connections too.
NODE_SELECTIONS = {
    "Tenant": "... on Tenant { code parent { id } children(first: 100)"
    " { totalCount edges { node { id } } } }",
    "Branch": "... on Branch { tenant { id parent { id } } members(first: 100)"
    " { totalCount edges { node { id } } } }",
    "Member": "... on Member { phone idNumber branch { id tenant { id } } }",
    "Activity": "... on Activity { branch { id tenant { id } } }",
}


def check_node(v: Viewer, kind: str, pk: int, node: Row | None) -> None:
    if not ORACLE.sees(v, kind, pk):
        assert node is None, f"{v.username} reads {kind} {pk} outside its scope: {node}"
        return
    assert node is not None, f"{v.username} cannot read {kind} {pk} in its scope"
    assert node["id"] == gid(kind, pk)
    if kind == "Tenant":
        parent = ORACLE.tenants[pk]["parent_id"]
        assert node["parent"] == ORACLE.tenant_ref(v, parent)
        children = [k for k in ORACLE.children_of(pk) if ORACLE.sees(v, "Tenant", k)]
        assert [pk_of(e["node"]["id"]) for e in node["children"]["edges"]] == children
        assert node["children"]["totalCount"] == len(children)
    elif kind == "Branch":
        tenant = ORACLE.tenants[ORACLE.branches[pk]["tenant_id"]]
        assert node["tenant"]["id"] == gid("Tenant", tenant["id"])
        parent = tenant["parent_id"]
        assert node["tenant"]["parent"] == ORACLE.tenant_ref(v, parent)
        members = [
            m
            for m in sorted(ORACLE.members)
            if ORACLE.members[m]["branch_id"] == pk and ORACLE.sees(v, "Member", m)
        ]
        assert [pk_of(e["node"]["id"]) for e in node["members"]["edges"]] == members
        assert node["members"]["totalCount"] == len(members)
    else:
        if kind == "Member":
            check_member(v, node)
        branch = ORACLE.branches[ORACLE.table(kind)[pk]["branch_id"]]
        assert node["branch"] == {
            "id": gid("Branch", branch["id"]),
            "tenant": {"id": gid("Tenant", branch["tenant_id"])},
        }


def node_op(kind: str) -> Run:
    async def run(c: GraphQLClient, v: Viewer | None, t: Target) -> None:
        pks = t.subtree(kind)
        query = (
            "{ "
            + " ".join(
                f'n{pk}: node(id: "{gid(kind, pk)}") {{ id {NODE_SELECTIONS[kind]} }}' for pk in pks
            )
            + " }"
        )
        body = await c.post(query)
        if code := gate(v):
            refused(body, code)
            return
        assert v is not None
        data = ok(body)
        for pk in pks:
            check_node(v, kind, pk, data[f"n{pk}"])

    return run


OVERVIEW = (
    "query($u: ID) { overview(under: $u) { tenant { code parent { id } } branches members"
    " activitiesToday } }"
)


async def op_overview(c: GraphQLClient, v: Viewer | None, t: Target) -> None:
    body = await c.post(OVERVIEW, {"u": t.id})
    if code := gate(v, ORACLE.may_overview):
        refused(body, code)
        return
    assert v is not None
    expected = ORACLE.overview(v, t.pk)
    if expected is None:
        error = refused(body, "BAD_USER_INPUT")
        assert error["message"] == "no tenant in your scope matches `under`"
        assert error["extensions"]["argument"] == "under"
        return
    assert ok(body)["overview"] == expected


async def op_audit(c: GraphQLClient, v: Viewer | None, t: Target) -> None:
    body = await c.post(
        "query($u: ID) { auditLog(under: $u, first: 100)"
        " { totalCount edges { node { id tenant { path } } } } }",
        {"u": t.id},
    )
    if code := gate(v, ORACLE.may_audit):
        refused(body, code)
        return
    assert v is not None
    log = ok(body)["auditLog"]
    within = ORACLE.under_path(v, t.pk)
    if within is None:
        assert log == {"totalCount": 0, "edges": []}
        return
    # The log grows as tests run; what matters is that every entry is about the subtree.
    assert log["totalCount"] >= len(log["edges"])
    for edge in log["edges"]:
        assert edge["node"]["tenant"] is not None
        assert edge["node"]["tenant"]["path"].startswith(within), edge


ME = (
    "{ me { username kind scopes grants { role tenant { path } }"
    " roles { role tenant { path parent { id } } } } }"
)


async def op_me(c: GraphQLClient, v: Viewer | None, t: Target) -> None:
    body = await c.post(ME)
    if code := gate(v):
        refused(body, code)
        return
    assert v is not None
    me = ok(body)["me"]
    bindings = sorted(v.bindings, key=by_path)
    assert me == {
        "username": v.username,
        "kind": "user",
        "scopes": [],
        "grants": [{"role": r, "tenant": {"path": p}} for r, p in bindings if r in ADMIN_TIER],
        # One's own tenants show, but not what lies above them.
        "roles": [
            {
                "role": r,
                "tenant": {
                    "path": p,
                    "parent": ORACLE.tenant_ref(v, ORACLE.tenant_at[p]["parent_id"]),
                },
            }
            for r, p in bindings
        ],
    }


def by_path(binding: tuple[str, str]) -> tuple[str, str]:
    return binding[1], binding[0]


async def login(c: GraphQLClient, username: str) -> Row:
    """A new session of its own (not the cached token other tests use)."""
    body = await c.anonymous().post(
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p)"
        " { accessToken refreshToken viewer { username } } }",
        {"u": username, "p": "pw-demo"},
    )
    payload: Row = ok(body)["login"]
    assert payload["viewer"] == {"username": username}
    return payload


async def op_logout(c: GraphQLClient, v: Viewer | None, t: Target) -> None:
    if v is None:
        refused(await c.post("mutation { logout }"), "UNAUTHENTICATED")
        # login and refreshToken are the two fields open without a principal.
        tokens = await login(c, pick_viewer("JUNIOR_ADMIN", "VILLAGE"))
        body = await c.post(
            "mutation($r: String!) { refreshToken(refreshToken: $r) { accessToken } }",
            {"r": tokens["refreshToken"]},
        )
        session = GraphQLClient(c.http, ok(body)["refreshToken"]["accessToken"])
        assert ok(await session.post("mutation { logout }")) == {"logout": True}
        return
    session = GraphQLClient(c.http, (await login(c, v.username))["accessToken"])
    assert ok(await session.post("{ me { username } }")) == {"me": {"username": v.username}}
    assert ok(await session.post("mutation { logout }")) == {"logout": True}
    refused(await session.post("{ me { username } }"), "UNAUTHENTICATED")
    # Only that session ended: the viewer's other session still works.
    assert ok(await c.post("{ me { username } }")) == {"me": {"username": v.username}}


GRANT_USER = "m." + str(next(v.member_id for v in ORACLE.viewers.values() if v.member_id))


def grant_op(mutation: str, role: str) -> Op:
    async def run(c: GraphQLClient, v: Viewer | None, t: Target) -> None:
        assert t.pk is not None
        body = await c.post(
            f"mutation($u: String!, $r: AdminRole!, $t: ID!) {{ {mutation}(username: $u,"
            " role: $r, tenantId: $t)"
            + (" { role tenant { id } } }" if mutation == "grantRole" else " }"),
            {"u": GRANT_USER, "r": role, "t": t.id},
        )
        if code := gate(v):
            refused(body, code)
            return
        assert v is not None
        code = ORACLE.grant_outcome(v, role, t.pk)
        assert code is not None  # successful ones are not run here (see `applies`)
        error = refused(body, code)
        if code == "BAD_USER_INPUT":
            assert error["extensions"]["argument"] == "tenantId"

    def applies(v: Viewer | None, t: Target) -> bool:
        # A grant that would succeed changes the shared database: test_grant_* do those.
        return v is None or t.pk is None or ORACLE.grant_outcome(v, role, t.pk) is not None

    name = f"{'grant' if mutation == 'grantRole' else 'revoke'}-{role.split('_')[0].lower()}"
    return Op(name, run, takes_none=False, applies=applies)


OPS: list[Op] = [
    Op("tenants", op_tenants),
    Op("branches", op_branches),
    Op("members", op_members),
    Op("search", op_search),
    *(Op(f"node-{kind.lower()}", node_op(kind)) for kind in NODE_SELECTIONS),
    Op("overview", op_overview),
    Op("auditLog", op_audit),
    # me and logout take no tenant: they run once per viewer.
    Op("me", op_me, applies=lambda v, t: t.pk is None),
    Op("logout", op_logout, applies=lambda v, t: t.pk is None),
    grant_op("grantRole", "SENIOR_ADMIN"),
    grant_op("grantRole", "JUNIOR_ADMIN"),
    grant_op("revokeRole", "SENIOR_ADMIN"),
    grant_op("revokeRole", "JUNIOR_ADMIN"),
]
OPS_BY_NAME = {op.name: op for op in OPS}


def cases() -> Iterator[Any]:
    for label, username in VIEWERS.items():
        viewer = None if username is None else ORACLE.viewers[username]
        # Anonymous: one target of each kind is enough, it must not get anywhere.
        targets = targets_of(viewer or ORACLE.viewers[str(VIEWERS["SUPER_ADMIN"])])
        if viewer is None:
            targets = {k: v for k, v in targets.items() if k in ("none", "own")}
        for target in targets.values():
            for op in OPS:
                if target.pk is None and not op.takes_none:
                    continue
                if not op.applies(viewer, target):
                    continue
                yield pytest.param(label, target, op.name, id=f"{label}-{target.label}-{op.name}")


@pytest.mark.parametrize(("label", "target", "op"), list(cases()))
async def test_matrix(client: GraphQLClient, label: str, target: Target, op: str) -> None:
    username = VIEWERS[label]
    c = client.anonymous() if username is None else await client.as_user(username)
    await OPS_BY_NAME[op].run(c, None if username is None else ORACLE.viewers[username], target)


def test_oracle_matches_the_seeded_rows(demo: DemoData) -> None:
    # The matrix is parametrized from ORACLE, built at import: it must be the fixture's data.
    assert ORACLE.demo.tenants == demo.tenants
    assert ORACLE.demo.branches == demo.branches
    assert ORACLE.demo.members == demo.members
    assert ORACLE.demo.activities == demo.activities
    # Every role and target kind the spec names is in the matrix.
    labels = {(p.values[0], p.values[1].label) for p in cases()}
    for role in ("SENIOR_ADMIN", "JUNIOR_ADMIN", "MEMBER@village", "MEMBER@town"):
        for target in ("none", "own", "sibling", "parent", "absent"):
            assert (role, target) in labels


# -- refusals and audit entries, beyond the matrix ---------------------------------------------


GRANT = (
    "mutation($u: String!, $r: AdminRole!, $t: ID!) { grantRole(username: $u, role: $r,"
    " tenantId: $t) { role } }"
)
REVOKE = (
    "mutation($u: String!, $r: AdminRole!, $t: ID!) { revokeRole(username: $u, role: $r,"
    " tenantId: $t) }"
)


@pytest.mark.parametrize("label", [k for k, v in VIEWERS.items() if v is not None])
async def test_refusals_do_not_tell_whether_a_tenant_exists(
    client: GraphQLClient, label: str
) -> None:
    """A tenant out of reach and one that does not exist are refused with the same error."""
    viewer = ORACLE.viewers[str(VIEWERS[label])]
    c = await client.as_user(viewer.username)
    out_of_reach = [
        t.pk
        for t in targets_of(viewer).values()
        if t.pk in ORACLE.tenants and ORACLE.grant_outcome(viewer, "JUNIOR_ADMIN", t.pk)
    ]
    assert out_of_reach
    for mutation in (GRANT, REVOKE):
        for role in ("SENIOR_ADMIN", "JUNIOR_ADMIN"):

            async def refusal(pk: int, mutation: str = mutation, role: str = role) -> Row:
                body = await c.post(mutation, {"u": GRANT_USER, "r": role, "t": gid("Tenant", pk)})
                error = refused(body, "FORBIDDEN")
                return {k: error[k] for k in ("message", "extensions")}

            absent = await refusal(ABSENT_PK)
            for pk in out_of_reach:
                if ORACLE.grant_outcome(viewer, role, pk) == "FORBIDDEN":
                    assert await refusal(pk) == absent


async def test_audit_entries_are_read_by_the_super_admin_only(client: GraphQLClient) -> None:
    """node(id:) of an audit entry: the super admin reads it, every other role gets null."""
    # A refused grant is audited at its tenant: there is at least one entry in the district
    # (entries without a tenant, like sign-ins, are for the operators, not in auditLog).
    junior = ORACLE.viewers[str(VIEWERS["JUNIOR_ADMIN"])]
    own = gid("Tenant", ORACLE.tenant_at[junior.path]["id"])
    c = await client.as_user(junior.username)
    refused(await c.post(GRANT, {"u": GRANT_USER, "r": "JUNIOR_ADMIN", "t": own}), "FORBIDDEN")
    log = ok(await client.post("{ auditLog(first: 20) { edges { node { id action } } } }"))
    ids = [e["node"]["id"] for e in log["auditLog"]["edges"]]
    assert ids
    query = "{ " + " ".join(f'e{i}: node(id: "{x}") {{ id }}' for i, x in enumerate(ids)) + " }"
    for label, username in VIEWERS.items():
        if username is None:
            continue
        data = ok(await (await client.as_user(username)).post(query))
        may = ORACLE.may_audit(ORACLE.viewers[username])
        assert [v and v["id"] for v in data.values()] == (ids if may else [None] * len(ids)), label


async def test_errors_after_the_scope_check(client: GraphQLClient) -> None:
    """A grant the granter may make but for a user that does not exist: NOT_FOUND; not a
    Tenant id: BAD_USER_INPUT. Neither changes anything."""
    senior = ORACLE.viewers[str(VIEWERS["SENIOR_ADMIN"])]
    village = ORACLE.children_of(ORACLE.tenant_at[senior.path]["id"])[0]
    c = await client.as_user(senior.username)
    query = (
        "mutation($u: String!, $t: ID!) { grantRole(username: $u, role: JUNIOR_ADMIN,"
        " tenantId: $t) { role } }"
    )
    error = refused(
        await c.post(query, {"u": "nobody-here", "t": gid("Tenant", village)}), "NOT_FOUND"
    )
    assert error["extensions"]["argument"] == "username"
    error = refused(await c.post(query, {"u": GRANT_USER, "t": gid("Branch", 1)}), "BAD_USER_INPUT")
    assert error["extensions"]["argument"] == "tenantId"
    # Whoever may not grant there does not learn whether the user exists.
    junior = await client.as_user(str(VIEWERS["JUNIOR_ADMIN"]))
    for username in ("nobody-here", GRANT_USER):
        refused(await junior.post(query, {"u": username, "t": gid("Tenant", village)}), "FORBIDDEN")


# -- mutations that succeed, on a private database -------------------------------------------


async def scope_snapshot(c: GraphQLClient) -> dict[str, list[int]]:
    """What a client sees: every tenant, branch and member id."""
    seen: dict[str, list[int]] = {}
    for name in ("tenants", "branches", "members"):
        nodes, total = await walk(c, name, "id")
        assert total == len(nodes)
        seen[name] = [pk_of(n["id"]) for n in nodes]
    return seen


def expected_snapshot(v: Viewer) -> dict[str, list[int]]:
    return {
        "tenants": ORACLE.visible(v, "Tenant"),
        "branches": ORACLE.visible(v, "Branch"),
        "members": ORACLE.visible(v, "Member"),
    }


GRANTS = [
    # A senior admin appoints a member (of another village of its town) as village admin; the
    # super admin appoints a village admin of one town as senior admin of the other town. Both
    # grants are at a child of the granter's tenant that does not contain the grantee already.
    pytest.param("SENIOR_ADMIN", "JUNIOR_ADMIN", "MEMBER@village", id="senior-appoints-junior"),
    pytest.param("SUPER_ADMIN", "SENIOR_ADMIN", "JUNIOR_ADMIN", id="super-appoints-senior"),
]


@pytest.mark.parametrize(("granter", "role", "grantee"), GRANTS)
async def test_grant_changes_the_grantees_scope_at_once(
    fresh: tuple[GraphQLClient, Any], granter: str, role: str, grantee: str
) -> None:
    """Grant, check the grantee's new scope on its next request, revoke, check it is gone."""
    admin, _app = fresh
    g = ORACLE.viewers[str(VIEWERS[granter])]
    before_viewer = ORACLE.viewers[str(VIEWERS[grantee])]
    tenant = next(
        t
        for t in ORACLE.children_of(ORACLE.tenant_at[g.path]["id"])
        if not before_viewer.path.startswith(ORACLE.tenants[t]["path"])
    )
    assert ORACLE.grant_outcome(g, role, tenant) is None
    granter_client = await admin.as_user(g.username)
    grantee_client = await admin.as_user(before_viewer.username)
    assert await scope_snapshot(grantee_client) == expected_snapshot(before_viewer)

    variables = {"u": before_viewer.username, "r": role, "t": gid("Tenant", tenant)}
    granted = ok(
        await granter_client.post(
            "mutation($u: String!, $r: AdminRole!, $t: ID!) { grantRole(username: $u, role: $r,"
            " tenantId: $t) { role tenant { id } } }",
            variables,
        )
    )
    assert granted == {"grantRole": {"role": role, "tenant": {"id": gid("Tenant", tenant)}}}

    # The same access token: the new binding applies to the next request.
    after_viewer = before_viewer.with_binding(role, ORACLE.tenants[tenant]["path"])
    assert await scope_snapshot(grantee_client) == expected_snapshot(after_viewer)
    me = ok(await grantee_client.post(ME))["me"]
    assert {"role": role, "tenant": {"path": ORACLE.tenants[tenant]["path"]}} in me["grants"]
    # Personal data follows each binding's role: a village admin made senior admin of another
    # town reads that town's numbers unmasked and its own village's still masked.
    nodes, _ = await walk(grantee_client, "members", "id phone idNumber")
    assert [pk_of(n["id"]) for n in nodes] == ORACLE.visible(after_viewer, "Member")
    for node in nodes:
        check_member(after_viewer, node)
    overview = ok(await grantee_client.post(OVERVIEW, {"u": gid("Tenant", tenant)}))
    assert overview["overview"] == ORACLE.overview(after_viewer, tenant)

    assert ok(await granter_client.post(REVOKE, variables)) == {"revokeRole": True}
    assert await scope_snapshot(grantee_client) == expected_snapshot(before_viewer)
    # Not held any more: False, and nothing changes.
    assert ok(await granter_client.post(REVOKE, variables)) == {"revokeRole": False}
    assert await scope_snapshot(grantee_client) == expected_snapshot(before_viewer)
