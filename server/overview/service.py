"""The command center's counts for a Scope, in one round trip."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select

from server.activities.models import Activity
from server.branches.models import Branch
from server.db import Db
from server.members.models import Member
from server.sql import AnySelect, memoized
from tenants.models import Tenant
from tenants.scope import Scope


@dataclass(frozen=True)
class Counts:
    branches: int
    members: int
    activities_today: int


@memoized
def _counts(scope: Scope) -> AnySelect:
    branches = (
        select(func.count())
        .select_from(Branch)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(scope.predicate(Tenant.path, branch=Branch.id))
    )
    members = (
        select(func.count())
        .select_from(Member)
        .join(Branch, Branch.id == Member.branch_id)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(scope.predicate(Tenant.path, branch=Member.branch_id, member=Member.id))
    )
    today = (
        select(func.count())
        .select_from(Activity)
        .join(Branch, Branch.id == Activity.branch_id)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(
            scope.predicate(Tenant.path, branch=Activity.branch_id),
            Activity.occurred_at >= bindparam("day_start", type_=Activity.occurred_at.type),
            Activity.occurred_at < bindparam("day_end", type_=Activity.occurred_at.type),
        )
    )
    return select(branches.scalar_subquery(), members.scalar_subquery(), today.scalar_subquery())


async def counts(db: Db, *, scope: Scope, day_start: datetime, day_end: datetime) -> Counts:
    params = {"day_start": day_start, "day_end": day_end}
    row = (await db.execute(_counts(scope), params)).one()
    return Counts(branches=row[0], members=row[1], activities_today=row[2])
