"""Reading the tenant tree within a Scope."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, bindparam, or_, select

from server.db import Db
from server.sql import (
    AnyRow,
    AnySelect,
    by_parent,
    counted,
    counted_per_parent,
    keyset,
    memoized,
    page_params,
    ranked,
)
from tenants.models import Tenant, TenantLevel
from tenants.paths import ROOT
from tenants.scope import Scope

COLUMNS = (Tenant.id, Tenant.parent_id, Tenant.level, Tenant.code, Tenant.name, Tenant.path)


def _scoped(scope: Scope, level: bool = False) -> AnySelect:
    stmt = select(*COLUMNS).where(scope.predicate(Tenant.path))
    return stmt.where(Tenant.level == bindparam("level")) if level else stmt


@memoized
def _list(scope: Scope, level: bool, after: bool) -> AnySelect:
    return keyset(_scoped(scope, level), Tenant.id, after=after)


@memoized
def _count(scope: Scope, level: bool) -> AnySelect:
    return counted(_scoped(scope, level))


@memoized
def _by_ids(scope: Scope) -> AnySelect:
    return _scoped(scope).where(Tenant.id.in_(bindparam("ids", expanding=True)))


@memoized
def _by_paths(scope: Scope) -> AnySelect:
    return _scoped(scope).where(Tenant.path.in_(bindparam("paths", expanding=True)))


@memoized
def _children(scope: Scope, after: bool) -> AnySelect:
    return ranked(_scoped(scope), parent=Tenant.parent_id, id_column=Tenant.id, after=after)


@memoized
def _children_counts(scope: Scope) -> AnySelect:
    return counted_per_parent(_scoped(scope), parent=Tenant.parent_id)


@memoized
def _tops(scope: Scope) -> AnySelect:
    roots = [r for r in scope.roots if r != ROOT]
    cond: ColumnElement[bool] = Tenant.path.in_(roots)
    if ROOT in scope.roots:
        cond = or_(cond, Tenant.parent_id.is_(None))
    return select(*COLUMNS).where(cond).order_by(Tenant.path)


async def list_tenants(
    db: Db,
    *,
    scope: Scope,
    level: TenantLevel | None = None,
    after_id: int | None = None,
    limit: int,
) -> Sequence[AnyRow]:
    stmt = _list(scope, level is not None, after_id is not None)
    params = page_params(after_id, limit, level=level)
    return (await db.execute(stmt, params)).all()


async def count_tenants(db: Db, *, scope: Scope, level: TenantLevel | None = None) -> int:
    return int(await db.scalar(_count(scope, level is not None), {"level": level}))


async def tenants_by_ids(db: Db, *, scope: Scope, ids: Sequence[int]) -> Sequence[AnyRow]:
    return (await db.execute(_by_ids(scope), {"ids": list(ids)})).all()


async def tenants_by_paths(db: Db, *, scope: Scope, paths: Sequence[str]) -> Sequence[AnyRow]:
    return (await db.execute(_by_paths(scope), {"paths": list(paths)})).all()


async def children_pages(
    db: Db, *, scope: Scope, parent_ids: Sequence[int], after_id: int | None, limit: int
) -> dict[int, list[AnyRow]]:
    params = page_params(after_id, limit, parent_ids=list(parent_ids))
    rows = await db.execute(_children(scope, after_id is not None), params)
    return by_parent(rows, "parent_id")


async def children_counts(db: Db, *, scope: Scope, parent_ids: Sequence[int]) -> dict[int, int]:
    rows = await db.execute(_children_counts(scope), {"parent_ids": list(parent_ids)})
    return {parent: n for parent, n in rows}


async def tops(db: Db, *, scope: Scope) -> Sequence[AnyRow]:
    """The highest tenants of the scope: its roots, or the districts when it spans the tree."""
    return (await db.execute(_tops(scope))).all()
