"""Reading activities within a Scope, and recording them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.activities.models import Activity, ActivityKind
from server.audit import service as audit
from server.branches.models import Branch
from server.db import Db
from server.feed.events import Event, emit
from server.feed.models import FeedKind
from server.sql import AnyRow, AnySelect, memoized
from tenants.models import Tenant
from tenants.scope import Scope

COLUMNS = (
    Activity.id,
    Activity.branch_id,
    Activity.kind,
    Activity.title,
    Activity.occurred_at,
    Activity.attendance,
)


def scoped(scope: Scope) -> AnySelect:
    return (
        select(*COLUMNS)
        .join(Branch, Branch.id == Activity.branch_id)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(scope.predicate(Tenant.path, branch=Activity.branch_id))
    )


@memoized
def _by_ids(scope: Scope) -> AnySelect:
    return scoped(scope).where(Activity.id.in_(bindparam("ids", expanding=True)))


async def activities_by_ids(db: Db, *, scope: Scope, ids: Sequence[int]) -> Sequence[AnyRow]:
    return (await db.execute(_by_ids(scope), {"ids": list(ids)})).all()


# -- recording --------------------------------------------------------------------------------

TITLE_MAX = 200
KIND_LABELS = {
    ActivityKind.BRANCH_MEETING: "支部党员大会",
    ActivityKind.COMMITTEE_MEETING: "支委会",
    ActivityKind.GROUP_MEETING: "党小组会",
    ActivityKind.PARTY_LECTURE: "党课",
    ActivityKind.THEME_DAY: "主题党日",
    ActivityKind.VOLUNTEER_SERVICE: "志愿服务",
    ActivityKind.STUDY_SESSION: "集中学习",
}


@dataclass(frozen=True)
class BranchFacts:
    """What an activity's event carries of its branch and tenant."""

    branch: dict[str, Any]
    tenant: dict[str, Any]


_BRANCH_FACTS = (
    select(
        Branch.id,
        Branch.name,
        Branch.category,
        Branch.established_on,
        Branch.secretary,
        Tenant.id.label("t_id"),
        Tenant.code,
        Tenant.name.label("t_name"),
        Tenant.level,
        Tenant.path,
        Tenant.parent_id,
    )
    .join(Tenant, Tenant.id == Branch.tenant_id)
    .where(Branch.id == bindparam("branch_id"))
)
_INSERT = insert(Activity).returning(Activity.id)


async def branch_facts(conn: AsyncConnection, branch_id: int) -> BranchFacts | None:
    row = (await conn.execute(_BRANCH_FACTS, {"branch_id": branch_id})).first()
    if row is None:
        return None
    return BranchFacts(
        branch={
            "id": row.id,
            "name": row.name,
            "category": str(row.category),
            "established_on": row.established_on.isoformat(),
            "secretary": row.secretary,
        },
        tenant={
            "id": row.t_id,
            "code": row.code,
            "name": row.t_name,
            "level": str(row.level),
            "path": row.path,
            "parent_id": row.parent_id,
        },
    )


async def record(
    conn: AsyncConnection,
    *,
    facts: BranchFacts,
    kind: ActivityKind,
    title: str,
    occurred_at: datetime,
    attendance: int,
    actor: str,
    client: str | None,
    now: datetime,
) -> tuple[int, Event]:
    """Store an activity, its audit entry and its BRANCH_ACTIVITY event. Never commits."""
    activity_id = (
        await conn.execute(
            _INSERT,
            {
                "branch_id": facts.branch["id"],
                "kind": kind,
                "title": title,
                "occurred_at": occurred_at,
                "attendance": attendance,
            },
        )
    ).scalar_one()
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="activity.record",
                tenant_path=facts.tenant["path"],
                subject=str(activity_id),
                client_address=client,
                detail={"branch": facts.branch["id"], "kind": kind.value},
            )
        ],
        now=now,
    )
    event = await emit(
        conn,
        kind=FeedKind.BRANCH_ACTIVITY,
        title=f"{facts.branch['name']} · {KIND_LABELS[kind]}：{title}",
        tenant=facts.tenant,
        branch=facts.branch,
        occurred_at=occurred_at,
        data={"activity": activity_id, "kind": kind.value, "attendance": attendance},
    )
    return activity_id, event
