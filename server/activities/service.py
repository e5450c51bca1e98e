"""Reading activities within a Scope."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.activities.models import Activity
from server.branches.models import Branch
from server.sql import AnyRow, AnySelect, count
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
        .where(scope.predicate(Tenant.path))
    )


async def activities_by_ids(
    session: AsyncSession, *, scope: Scope, ids: Sequence[int]
) -> Sequence[AnyRow]:
    return (await session.execute(scoped(scope).where(Activity.id.in_(ids)))).all()


async def count_between(
    session: AsyncSession, *, scope: Scope, start: datetime, end: datetime
) -> int:
    stmt = scoped(scope).where(Activity.occurred_at >= start, Activity.occurred_at < end)
    return await count(session, stmt)
