"""Reading members within a Scope (member -> branch -> tenant path)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select

from server.branches.models import Branch
from server.branches.service import TENANT_COLUMNS
from server.db import Db
from server.errors import BadUserInput
from server.members.models import Member
from server.sql import (
    AnyRow,
    AnySelect,
    by_parent,
    counted,
    counted_per_parent,
    keyset,
    like_pattern,
    memoized,
    page_params,
    ranked,
)
from tenants.models import Tenant
from tenants.scope import Scope

COLUMNS = (
    Member.id,
    Member.branch_id,
    Member.name,
    Member.gender,
    Member.birth_date,
    Member.joined_on,
    Member.phone,
    Member.id_number,
    Member.status,
    Member.education,
    # The member's tenant, JOINed for the scope anyway: it decides what may be unmasked.
    Tenant.path.label("m_path"),
)
BRANCH_COLUMNS = (
    Branch.tenant_id.label("b_tenant_id"),
    Branch.name.label("b_name"),
    Branch.category.label("b_category"),
    Branch.established_on.label("b_established_on"),
    Branch.secretary.label("b_secretary"),
)
SEARCH_MAX = 50


def scoped(
    scope: Scope, *, with_branch: bool = False, with_tenant: bool = False, search: bool = False
) -> AnySelect:
    cols: tuple[Any, ...] = COLUMNS
    if with_branch:
        cols += BRANCH_COLUMNS
        if with_tenant:
            cols += TENANT_COLUMNS
    stmt = (
        select(*cols)
        .join(Branch, Branch.id == Member.branch_id)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(scope.predicate(Tenant.path, branch=Member.branch_id, member=Member.id))
    )
    return stmt.where(Member.name.like(bindparam("pattern"), escape="\\")) if search else stmt


def _pattern(search: str | None) -> str | None:
    """The LIKE pattern of a name search; None when there is nothing to search for."""
    if search is None or not search.strip():
        return None
    search = search.strip()
    if len(search) > SEARCH_MAX:
        raise BadUserInput(f"search is longer than {SEARCH_MAX} characters", argument="search")
    return like_pattern(search)


@memoized
def _list(
    scope: Scope, search: bool, after: bool, with_branch: bool, with_tenant: bool
) -> AnySelect:
    stmt = scoped(scope, with_branch=with_branch, with_tenant=with_tenant, search=search)
    return keyset(stmt, Member.id, after=after)


@memoized
def _count(scope: Scope, search: bool) -> AnySelect:
    return counted(scoped(scope, search=search))


@memoized
def _by_ids(scope: Scope) -> AnySelect:
    # Branch and tenant are JOINed for the scope filter anyway: hand their columns over too.
    stmt = scoped(scope, with_branch=True, with_tenant=True)
    return stmt.where(Member.id.in_(bindparam("ids", expanding=True)))


@memoized
def _of_branches(scope: Scope, after: bool) -> AnySelect:
    return ranked(scoped(scope), parent=Member.branch_id, id_column=Member.id, after=after)


@memoized
def _counts_of_branches(scope: Scope) -> AnySelect:
    return counted_per_parent(scoped(scope), parent=Member.branch_id)


async def list_members(
    db: Db,
    *,
    scope: Scope,
    search: str | None = None,
    after_id: int | None = None,
    limit: int,
    with_branch: bool = False,
    with_tenant: bool = False,
) -> Sequence[AnyRow]:
    pattern = _pattern(search)
    stmt = _list(scope, pattern is not None, after_id is not None, with_branch, with_tenant)
    return (await db.execute(stmt, page_params(after_id, limit, pattern=pattern))).all()


async def count_members(db: Db, *, scope: Scope, search: str | None = None) -> int:
    pattern = _pattern(search)
    return int(await db.scalar(_count(scope, pattern is not None), {"pattern": pattern}))


async def members_by_ids(db: Db, *, scope: Scope, ids: Sequence[int]) -> Sequence[AnyRow]:
    return (await db.execute(_by_ids(scope), {"ids": list(ids)})).all()


async def pages_by_branch(
    db: Db, *, scope: Scope, branch_ids: Sequence[int], after_id: int | None, limit: int
) -> dict[int, list[AnyRow]]:
    params = page_params(after_id, limit, parent_ids=list(branch_ids))
    rows = await db.execute(_of_branches(scope, after_id is not None), params)
    return by_parent(rows, "branch_id")


async def counts_by_branch(db: Db, *, scope: Scope, branch_ids: Sequence[int]) -> dict[int, int]:
    rows = await db.execute(_counts_of_branches(scope), {"parent_ids": list(branch_ids)})
    return {branch: n for branch, n in rows}
