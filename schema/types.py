"""The GraphQL object types of the core: Node, Tenant, Branch, Member, Activity, connections.

Values are built from SQL rows by the `*_node` functions below; to-one relations are plain
attributes (a loaded object or a Lazy), to-many relations are resolvers that batch through
the request's DataLoaders.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import strawberry
from strawberry.types import Info

from schema.ids import cursor, global_id
from schema.lazy import Lazy
from schema.pagination import PageArgs
from server.activities.models import ActivityKind
from server.branches.models import BranchCategory
from server.feed.models import AlertStatus, FeedKind, Light
from server.members.models import Education, Gender, MemberStatus
from server.members.privacy import mask_id_number, mask_phone
from server.sql import AnyRow
from tenants.models import TenantLevel

if TYPE_CHECKING:
    pass

strawberry.enum(TenantLevel, description="District, town or street, village or community.")
strawberry.enum(
    BranchCategory,
    description="Agency, non-public enterprise, office building, red property management, rural.",
)
strawberry.enum(Gender)
strawberry.enum(MemberStatus, description="Full member or probationary member.")
strawberry.enum(Education)
# Registered here, before any type uses them: an enum met unregistered gets a definition of
# its own, and the schema would then hold two.
strawberry.enum(FeedKind, description="What happened: an activity, an assessment, an alert.")
strawberry.enum(Light, description="Traffic light: green, yellow, red.")
strawberry.enum(AlertStatus, description="OPEN, then ACKNOWLEDGED, then RESOLVED.")


@strawberry.interface(description="An object with a global id; `node(id:)` fetches any of them.")
class Node:
    id: strawberry.ID


@strawberry.type(description="The end of a page and whether more follow.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(name="Tenant", description="A district, town/street or village/community.")
class TenantNode(Node):
    code: str
    name: str
    level: TenantLevel
    path: str = strawberry.field(description="Materialized path, e.g. /d01/t03/v017/.")
    # To-one relations hold the loaded object or a Lazy (see schema/lazy.py).
    parent: TenantNode | None
    pk: strawberry.Private[int]

    @strawberry.field(description="The tenants directly below, in id order.")
    async def children(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> TenantConnection:
        page = PageArgs.parse(first, after)
        loaders = info.context.loaders
        rows = await loaders.tenant_children(page).load(self.pk)
        return connection(
            TenantConnection,
            rows,
            page,
            lambda r: tenant_node(r, loaders),
            lambda: loaders.tenant_children_count.load(self.pk),
        )


@strawberry.type(name="Branch", description="A party organisation (党组织/党支部).")
class BranchNode(Node):
    name: str
    category: BranchCategory
    established_on: dt.date
    secretary: str
    tenant: TenantNode
    pk: strawberry.Private[int]

    @strawberry.field(description="The branch's members, in id order.")
    async def members(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> MemberConnection:
        page = PageArgs.parse(first, after)
        loaders = info.context.loaders
        rows = await loaders.branch_members(page).load(self.pk)
        return connection(
            MemberConnection,
            rows,
            page,
            # Every member on the page belongs to this branch: hand it over, load nothing.
            lambda r: member_node(r, loaders, branch=self),
            lambda: loaders.branch_members_count.load(self.pk),
        )


@strawberry.type(name="Member", description="A party member.")
class MemberNode(Node):
    name: str
    gender: Gender
    birth_date: dt.date
    joined_on: dt.date
    status: MemberStatus
    education: Education
    branch: BranchNode
    pk: strawberry.Private[int]
    path: strawberry.Private[str]
    raw_phone: strawberry.Private[str]
    raw_id_number: strawberry.Private[str]

    # Personal data: masked unless the viewer's role may read it unmasked at the member's
    # tenant; an unmasked read is audited (Context.read_sensitive).
    @strawberry.field(description="Mobile number; masked (138****5678) unless you may see it.")
    def phone(self, info: Info) -> str:
        if info.context.read_sensitive(self.pk, self.path):
            return self.raw_phone
        return mask_phone(self.raw_phone)

    @strawberry.field(description="Resident ID number; masked unless you may see it.")
    def id_number(self, info: Info) -> str:
        if info.context.read_sensitive(self.pk, self.path):
            return self.raw_id_number
        return mask_id_number(self.raw_id_number)


@strawberry.type(name="Activity", description="A branch activity (三会一课, theme day, ...).")
class ActivityNode(Node):
    title: str
    kind: str = strawberry.field(description="One of: " + ", ".join(k.value for k in ActivityKind))
    occurred_at: dt.datetime
    attendance: int
    branch: BranchNode
    pk: strawberry.Private[int]


Counter = Callable[[], Awaitable[int]]


@strawberry.type
class TenantEdge:
    cursor: str
    node: TenantNode


@strawberry.type
class TenantConnection:
    edges: list[TenantEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type
class BranchEdge:
    cursor: str
    node: BranchNode


@strawberry.type
class BranchConnection:
    edges: list[BranchEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type
class MemberEdge:
    cursor: str
    node: MemberNode


@strawberry.type
class MemberConnection:
    edges: list[MemberEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


C = TypeVar("C")
# Each connection type's edge type; other modules add theirs with `EDGES[...] = ...`.
EDGES: dict[type, type] = {
    TenantConnection: TenantEdge,
    BranchConnection: BranchEdge,
    MemberConnection: MemberEdge,
}


def connection(
    kind: type[C],
    rows: Sequence[AnyRow],
    page: PageArgs,
    make: Callable[[Any], Any],
    counter: Counter,
) -> C:
    """A page of `kind` from rows fetched with `page.first + 1` as their limit."""
    edge = EDGES[kind]
    more = len(rows) > page.first
    edges = [edge(cursor=cursor(row.id), node=make(row)) for row in rows[: page.first]]
    end = edges[-1].cursor if edges else None
    info = PageInfo(has_next_page=more, end_cursor=end)
    return kind(edges=edges, page_info=info, counter=counter)  # type: ignore[call-arg]


# Row -> node. A row may carry its to-one relations JOINed in under a prefix (`b_` for the
# branch, `t_` for the tenant); otherwise the relation is a Lazy on the request's loader.
if TYPE_CHECKING:
    from schema.loaders import Loaders


def tenant_node(row: Any, loaders: Loaders) -> TenantNode:
    return _tenant(row.id, row.parent_id, row.level, row.code, row.name, row.path, loaders)


def _tenant(
    pk: int,
    parent_id: int | None,
    level: TenantLevel,
    code: str,
    name: str,
    path: str,
    loaders: Loaders,
) -> TenantNode:
    return TenantNode(
        id=global_id("Tenant", pk),
        pk=pk,
        code=code,
        name=name,
        level=level,
        path=path,
        parent=None if parent_id is None else Lazy(loaders.tenant, parent_id),  # type: ignore[arg-type]
    )


def _branch(
    pk: int, tenant_id: int, row: Any, prefix: str, with_tenant: bool, loaders: Loaders
) -> BranchNode:
    tenant: Any
    if with_tenant:
        tenant = _tenant(
            tenant_id, row.t_parent_id, row.t_level, row.t_code, row.t_name, row.t_path, loaders
        )
    else:
        tenant = Lazy(loaders.tenant, tenant_id)
    get = row._mapping
    return BranchNode(
        id=global_id("Branch", pk),
        pk=pk,
        name=get[prefix + "name"],
        category=get[prefix + "category"],
        established_on=get[prefix + "established_on"],
        secretary=get[prefix + "secretary"],
        tenant=tenant,
    )


def branch_node(row: Any, loaders: Loaders, *, with_tenant: bool = False) -> BranchNode:
    return _branch(row.id, row.tenant_id, row, "", with_tenant, loaders)


def member_node(
    row: Any,
    loaders: Loaders,
    *,
    with_branch: bool = False,
    with_tenant: bool = False,
    branch: BranchNode | None = None,
) -> MemberNode:
    parent: Any = branch
    if parent is None:
        parent = (
            _branch(row.branch_id, row.b_tenant_id, row, "b_", with_tenant, loaders)
            if with_branch
            else Lazy(loaders.branch, row.branch_id)
        )
    return MemberNode(
        id=global_id("Member", row.id),
        pk=row.id,
        name=row.name,
        gender=row.gender,
        birth_date=row.birth_date,
        joined_on=row.joined_on,
        status=row.status,
        education=row.education,
        branch=parent,
        path=row.m_path,
        raw_phone=row.phone,
        raw_id_number=row.id_number,
    )


def activity_node(row: Any, loaders: Loaders) -> ActivityNode:
    return ActivityNode(
        id=global_id("Activity", row.id),
        pk=row.id,
        title=row.title,
        kind=row.kind.value,
        occurred_at=row.occurred_at,
        attendance=row.attendance,
        branch=Lazy(loaders.branch, row.branch_id),  # type: ignore[arg-type]
    )


# Nodes from the facts an event (or a just-recorded change) carries, without the database.


def tenant_from_facts(t: dict[str, Any], loaders: Loaders) -> TenantNode:
    return _tenant(
        t["id"],
        t.get("parent_id"),
        TenantLevel(t["level"]),
        t["code"],
        t["name"],
        t["path"],
        loaders,
    )


def branch_from_facts(b: dict[str, Any], tenant: TenantNode) -> BranchNode:
    return BranchNode(
        id=global_id("Branch", b["id"]),
        pk=b["id"],
        name=b["name"],
        category=BranchCategory(b["category"]),
        established_on=dt.date.fromisoformat(b["established_on"]),
        secretary=b["secretary"],
        tenant=tenant,
    )
