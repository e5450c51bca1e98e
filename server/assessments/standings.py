"""Reading the ratings results feed: Fortress Stars per branch, Vanguard Index per member,
each within a Scope (by the branch's tenant; a member's own row and own branch's)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from server.assessments.models import BranchRating, MemberIndex
from server.branches.models import Branch
from server.db import Db
from server.members.models import Member
from server.sql import AnyRow, AnySelect, counted, keyset, page_params
from tenants.models import Tenant
from tenants.scope import Scope

BR, MI = BranchRating, MemberIndex


def _stars(scope: Scope, stars: Sequence[int] | None) -> AnySelect:
    stmt = (
        select(
            BR.branch_id.label("id"),
            BR.stars,
            BR.score,
            BR.assessment_score,
            BR.activity_score,
            BR.updated_at,
        )
        .join(Branch, Branch.id == BR.branch_id)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(scope.predicate(Tenant.path, branch=BR.branch_id))
    )
    if stars is not None:
        stmt = stmt.where(BR.stars.in_(stars))
    return stmt


async def branch_stars(
    db: Db, *, scope: Scope, stars: Sequence[int] | None, after_id: int | None, limit: int
) -> Sequence[AnyRow]:
    stmt = keyset(_stars(scope, stars), BR.branch_id, after=after_id is not None)
    return (await db.execute(stmt, page_params(after_id, limit))).all()


async def count_branch_stars(db: Db, *, scope: Scope, stars: Sequence[int] | None) -> int:
    return int(await db.scalar(counted(_stars(scope, stars))))


def _indices(scope: Scope) -> AnySelect:
    return (
        select(
            MI.member_id.label("id"),
            MI.value,
            MI.assessment_score,
            MI.activity_score,
            MI.learning_score,
            MI.updated_at,
        )
        .join(Member, Member.id == MI.member_id)
        .join(Branch, Branch.id == Member.branch_id)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(scope.predicate(Tenant.path, member=MI.member_id))
    )


async def member_indices(
    db: Db, *, scope: Scope, after_id: int | None, limit: int
) -> Sequence[AnyRow]:
    stmt = keyset(_indices(scope), MI.member_id, after=after_id is not None)
    return (await db.execute(stmt, page_params(after_id, limit))).all()


async def count_member_indices(db: Db, *, scope: Scope) -> int:
    return int(await db.scalar(counted(_indices(scope))))
