"""Reading branches within a Scope. Branches are scoped by their tenant's path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select

from server.branches.models import Branch, BranchCategory
from server.db import Db
from server.sql import AnyRow, AnySelect, counted, keyset, memoized, page_params
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


def scoped(scope: Scope, *, with_tenant: bool = False, category: bool = False) -> AnySelect:
    cols: tuple[Any, ...] = COLUMNS + TENANT_COLUMNS if with_tenant else COLUMNS
    stmt = (
        select(*cols)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(scope.predicate(Tenant.path, branch=Branch.id))
    )
    return stmt.where(Branch.category == bindparam("category")) if category else stmt


@memoized
def _list(scope: Scope, category: bool, after: bool, with_tenant: bool) -> AnySelect:
    return keyset(scoped(scope, with_tenant=with_tenant, category=category), Branch.id, after=after)


@memoized
def _count(scope: Scope, category: bool) -> AnySelect:
    return counted(scoped(scope, category=category))


@memoized
def _by_ids(scope: Scope) -> AnySelect:
    # The tenant is JOINed for the scope filter anyway: hand its columns over too.
    stmt = scoped(scope, with_tenant=True)
    return stmt.where(Branch.id.in_(bindparam("ids", expanding=True)))


async def list_branches(
    db: Db,
    *,
    scope: Scope,
    category: BranchCategory | None = None,
    after_id: int | None = None,
    limit: int,
    with_tenant: bool = False,
) -> Sequence[AnyRow]:
    stmt = _list(scope, category is not None, after_id is not None, with_tenant)
    return (await db.execute(stmt, page_params(after_id, limit, category=category))).all()


async def count_branches(db: Db, *, scope: Scope, category: BranchCategory | None = None) -> int:
    return int(await db.scalar(_count(scope, category is not None), {"category": category}))


async def branches_by_ids(db: Db, *, scope: Scope, ids: Sequence[int]) -> Sequence[AnyRow]:
    return (await db.execute(_by_ids(scope), {"ids": list(ids)})).all()
