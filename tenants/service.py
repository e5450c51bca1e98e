"""Reading the tenant tree within a Scope."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.sql import AnyRow, AnySelect, count, counts_per_parent, keyset, pages_per_parent
from tenants.models import Tenant, TenantLevel
from tenants.paths import ROOT
from tenants.scope import Scope

COLUMNS = (Tenant.id, Tenant.parent_id, Tenant.level, Tenant.code, Tenant.name, Tenant.path)


def _scoped(scope: Scope, level: TenantLevel | None = None) -> AnySelect:
    stmt = select(*COLUMNS).where(scope.predicate(Tenant.path))
    if level is not None:
        stmt = stmt.where(Tenant.level == level)
    return stmt


async def list_tenants(
    session: AsyncSession,
    *,
    scope: Scope,
    level: TenantLevel | None = None,
    after_id: int | None = None,
    limit: int,
) -> Sequence[AnyRow]:
    stmt = keyset(_scoped(scope, level), Tenant.id, after_id=after_id, limit=limit)
    return (await session.execute(stmt)).all()


async def count_tenants(
    session: AsyncSession, *, scope: Scope, level: TenantLevel | None = None
) -> int:
    return await count(session, _scoped(scope, level))


async def tenants_by_ids(
    session: AsyncSession, *, scope: Scope, ids: Sequence[int]
) -> Sequence[AnyRow]:
    return (await session.execute(_scoped(scope).where(Tenant.id.in_(ids)))).all()


async def children_pages(
    session: AsyncSession,
    *,
    scope: Scope,
    parent_ids: Sequence[int],
    after_id: int | None,
    limit: int,
) -> dict[int, list[AnyRow]]:
    return await pages_per_parent(
        session,
        _scoped(scope),
        parent=Tenant.parent_id,
        id_column=Tenant.id,
        parent_ids=parent_ids,
        after_id=after_id,
        limit=limit,
    )


async def children_counts(
    session: AsyncSession, *, scope: Scope, parent_ids: Sequence[int]
) -> dict[int, int]:
    return await counts_per_parent(
        session, _scoped(scope), parent=Tenant.parent_id, parent_ids=parent_ids
    )


async def tops(session: AsyncSession, *, scope: Scope) -> Sequence[AnyRow]:
    """The highest tenants of the scope: its roots, or the districts when it spans the tree."""
    roots = [r for r in scope.roots if r != ROOT]
    cond: ColumnElement[bool] = Tenant.path.in_(roots)
    if ROOT in scope.roots:
        cond = or_(cond, Tenant.parent_id.is_(None))
    return (await session.execute(select(*COLUMNS).where(cond).order_by(Tenant.path))).all()
