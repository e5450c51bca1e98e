"""Reading activities within a Scope."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, select

from server.activities.models import Activity
from server.branches.models import Branch
from server.db import Db
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
