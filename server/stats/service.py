"""The command center's chart data for a Scope: activities per day, branches by category."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta, tzinfo

from sqlalchemy import bindparam, func, select

from server.activities.models import Activity
from server.branches.models import Branch, BranchCategory
from server.db import Db
from server.sql import AnySelect, memoized
from tenants.models import Tenant
from tenants.scope import Scope


@memoized
def _activity_times(scope: Scope) -> AnySelect:
    return (
        select(Activity.occurred_at)
        .join(Branch, Branch.id == Activity.branch_id)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(
            scope.predicate(Tenant.path, branch=Activity.branch_id),
            Activity.occurred_at >= bindparam("start", type_=Activity.occurred_at.type),
            Activity.occurred_at < bindparam("end", type_=Activity.occurred_at.type),
        )
    )


@memoized
def _branch_categories(scope: Scope) -> AnySelect:
    return (
        select(Branch.category, func.count())
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(scope.predicate(Tenant.path, branch=Branch.id))
        .group_by(Branch.category)
    )


async def activities_per_day(
    db: Db, *, scope: Scope, today: date, days: int, zone: tzinfo
) -> list[tuple[date, int]]:
    """Every day of the `days` days ending with `today` (in `zone`), oldest first, zeros
    included. The day of each activity is taken in Python, not SQL: SQLite and PostgreSQL
    disagree on time-zone arithmetic, and a month of one subtree is a few thousand rows."""
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time(0), tzinfo=zone)
    end = datetime.combine(today + timedelta(days=1), time(0), tzinfo=zone)
    rows = await db.execute(_activity_times(scope), {"start": start, "end": end})
    per_day = Counter(at.astimezone(zone).date() for (at,) in rows)
    return [(first + timedelta(days=i), per_day[first + timedelta(days=i)]) for i in range(days)]


async def branches_by_category(db: Db, *, scope: Scope) -> list[tuple[BranchCategory, int]]:
    """Every category, in declaration order, zeros included."""
    rows = await db.execute(_branch_categories(scope))
    counts = {BranchCategory(category): int(n) for category, n in rows}
    return [(category, counts.get(category, 0)) for category in BranchCategory]
