"""Reading members within a Scope (member -> branch -> tenant path)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.branches.models import Branch
from server.branches.service import TENANT_COLUMNS
from server.errors import BadUserInput
from server.members.models import Member
from server.sql import AnyRow, AnySelect, count, counts_per_parent, keyset, pages_per_parent
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
)
BRANCH_COLUMNS = (
    Branch.tenant_id.label("b_tenant_id"),
    Branch.name.label("b_name"),
    Branch.category.label("b_category"),
    Branch.established_on.label("b_established_on"),
    Branch.secretary.label("b_secretary"),
)
SEARCH_MAX = 50


def scoped(scope: Scope, *, with_branch: bool = False, with_tenant: bool = False) -> AnySelect:
    cols: tuple[Any, ...] = COLUMNS
    if with_branch:
        cols += BRANCH_COLUMNS
        if with_tenant:
            cols += TENANT_COLUMNS
    return (
        select(*cols)
        .join(Branch, Branch.id == Member.branch_id)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(scope.predicate(Tenant.path))
    )


def _searched(stmt: AnySelect, search: str | None) -> AnySelect:
    if search is None or not search.strip():
        return stmt
    search = search.strip()
    if len(search) > SEARCH_MAX:
        raise BadUserInput(f"search is longer than {SEARCH_MAX} characters", argument="search")
    return stmt.where(Member.name.contains(search, autoescape=True))


async def list_members(
    session: AsyncSession,
    *,
    scope: Scope,
    search: str | None = None,
    after_id: int | None = None,
    limit: int,
    with_branch: bool = False,
    with_tenant: bool = False,
) -> Sequence[AnyRow]:
    stmt = _searched(scoped(scope, with_branch=with_branch, with_tenant=with_tenant), search)
    return (await session.execute(keyset(stmt, Member.id, after_id=after_id, limit=limit))).all()


async def count_members(session: AsyncSession, *, scope: Scope, search: str | None = None) -> int:
    return await count(session, _searched(scoped(scope), search))


async def members_by_ids(
    session: AsyncSession, *, scope: Scope, ids: Sequence[int]
) -> Sequence[AnyRow]:
    return (await session.execute(scoped(scope).where(Member.id.in_(ids)))).all()


async def pages_by_branch(
    session: AsyncSession,
    *,
    scope: Scope,
    branch_ids: Sequence[int],
    after_id: int | None,
    limit: int,
) -> dict[int, list[AnyRow]]:
    return await pages_per_parent(
        session,
        scoped(scope),
        parent=Member.branch_id,
        id_column=Member.id,
        parent_ids=branch_ids,
        after_id=after_id,
        limit=limit,
    )


async def counts_by_branch(
    session: AsyncSession, *, scope: Scope, branch_ids: Sequence[int]
) -> dict[int, int]:
    return await counts_per_parent(
        session, scoped(scope), parent=Member.branch_id, parent_ids=branch_ids
    )
