"""The command center's counts for a Scope, in one round trip."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.activities.models import Activity
from server.branches.models import Branch
from server.members.models import Member
from tenants.models import Tenant
from tenants.scope import Scope


@dataclass(frozen=True)
class Counts:
    branches: int
    members: int
    activities_today: int


async def counts(
    session: AsyncSession, *, scope: Scope, day_start: datetime, day_end: datetime
) -> Counts:
    in_scope = scope.predicate(Tenant.path)
    branches = (
        select(func.count())
        .select_from(Branch)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(in_scope)
    )
    members = (
        select(func.count())
        .select_from(Member)
        .join(Branch, Branch.id == Member.branch_id)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(in_scope)
    )
    today = (
        select(func.count())
        .select_from(Activity)
        .join(Branch, Branch.id == Activity.branch_id)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(in_scope, Activity.occurred_at >= day_start, Activity.occurred_at < day_end)
    )
    row = (
        await session.execute(
            select(branches.scalar_subquery(), members.scalar_subquery(), today.scalar_subquery())
        )
    ).one()
    return Counts(branches=row[0], members=row[1], activities_today=row[2])
