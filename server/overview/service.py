"""The command center's counts for a Scope, in one round trip."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ScalarSelect, bindparam, func, select

from server.activities.models import Activity
from server.branches.models import Branch
from server.db import Db
from server.feed.models import Alert, AlertStatus, Light
from server.feed.service import visible_alerts
from server.members.models import Member
from server.sql import AnySelect, memoized
from tenants.models import Tenant
from tenants.scope import Scope


@dataclass(frozen=True)
class Counts:
    branches: int
    members: int
    activities_today: int
    open_alerts: int
    green: int
    yellow: int
    red: int


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

    def open_alerts(light: Light | None) -> ScalarSelect[int]:
        stmt = (
            select(func.count())
            .select_from(Alert)
            .where(visible_alerts(scope), Alert.status != AlertStatus.RESOLVED.value)
        )
        return (stmt if light is None else stmt.where(Alert.light == light.value)).scalar_subquery()

    return select(
        branches.scalar_subquery(),
        members.scalar_subquery(),
        today.scalar_subquery(),
        open_alerts(None),
        open_alerts(Light.GREEN),
        open_alerts(Light.YELLOW),
        open_alerts(Light.RED),
    )


async def counts(db: Db, *, scope: Scope, day_start: datetime, day_end: datetime) -> Counts:
    params = {"day_start": day_start, "day_end": day_end}
    row = (await db.execute(_counts(scope), params)).one()
    return Counts(*row)
