"""Reading branches within a Scope. Branches are scoped by their tenant's path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.branches.models import Branch, BranchCategory
from server.sql import AnyRow, AnySelect, count, keyset
from tenants.models import Tenant
from tenants.scope import Scope

COLUMNS = (
    Branch.id,
    Branch.tenant_id,
    Branch.name,
    Branch.category,
    Branch.established_on,
    Branch.secretary,
)
# The branch's tenant, JOINed for the scope filter anyway, handed over when a list selects it.
TENANT_COLUMNS = (
    Tenant.parent_id.label("t_parent_id"),
    Tenant.level.label("t_level"),
    Tenant.path.label("t_path"),
    Tenant.code.label("t_code"),
    Tenant.name.label("t_name"),
)


def scoped(scope: Scope, *, with_tenant: bool = False) -> AnySelect:
    cols: tuple[Any, ...] = COLUMNS + TENANT_COLUMNS if with_tenant else COLUMNS
    return (
        select(*cols)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(scope.predicate(Tenant.path))
    )


def _filtered(scope: Scope, category: BranchCategory | None, with_tenant: bool) -> AnySelect:
    stmt = scoped(scope, with_tenant=with_tenant)
    return stmt if category is None else stmt.where(Branch.category == category)


async def list_branches(
    session: AsyncSession,
    *,
    scope: Scope,
    category: BranchCategory | None = None,
    after_id: int | None = None,
    limit: int,
    with_tenant: bool = False,
) -> Sequence[AnyRow]:
    stmt = keyset(
        _filtered(scope, category, with_tenant), Branch.id, after_id=after_id, limit=limit
    )
    return (await session.execute(stmt)).all()


async def count_branches(
    session: AsyncSession, *, scope: Scope, category: BranchCategory | None = None
) -> int:
    return await count(session, _filtered(scope, category, False))


async def branches_by_ids(
    session: AsyncSession, *, scope: Scope, ids: Sequence[int]
) -> Sequence[AnyRow]:
    return (await session.execute(scoped(scope).where(Branch.id.in_(ids)))).all()
