"""Reading assessment templates, and writing new versions of them.

Templates are district-wide reference data, not tenant rows: whoever may read assessments
reads every template, so the reads take no Scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from server.assessments.models import AssessmentIndicator, AssessmentTemplate, TargetKind
from server.assessments.specs import IndicatorSpec, indicator_rows
from server.db import Db
from server.errors import BadUserInput, NotFound
from server.sql import AnyRow, AnySelect, counted, keyset, memoized, page_params

T = AssessmentTemplate
I = AssessmentIndicator  # noqa: E741
TEMPLATE_COLUMNS = (T.id, T.code, T.version, T.name, T.target_kind, T.created_at)
INDICATOR_COLUMNS = (
    I.id,
    I.template_id,
    I.parent_id,
    I.code,
    I.name,
    I.weight,
    I.rule,
    I.min_score,
    I.max_score,
    I.per_unit,
    I.cap,
    I.position,
)


def _filtered(*, code: bool, all_versions: bool) -> AnySelect:
    stmt = select(*TEMPLATE_COLUMNS)
    if code:
        stmt = stmt.where(T.code == bindparam("code"))
    if not all_versions:
        newer = aliased(T)
        latest = select(func.max(newer.version)).where(newer.code == T.code).scalar_subquery()
        stmt = stmt.where(T.version == latest)
    return stmt


@memoized
def _list(code: bool, all_versions: bool, after: bool) -> AnySelect:
    return keyset(_filtered(code=code, all_versions=all_versions), T.id, after=after)


@memoized
def _count(code: bool, all_versions: bool) -> AnySelect:
    return counted(_filtered(code=code, all_versions=all_versions))


@memoized
def _indicators() -> AnySelect:
    return (
        select(*INDICATOR_COLUMNS)
        .where(I.template_id.in_(bindparam("ids", expanding=True)))
        .order_by(I.template_id, I.position)
    )


async def list_templates(
    db: Db,
    *,
    code: str | None = None,
    all_versions: bool = False,
    after_id: int | None = None,
    limit: int,
) -> Sequence[AnyRow]:
    """Templates in id order: the latest version of each code, or every version."""
    stmt = _list(code is not None, all_versions, after_id is not None)
    return (await db.execute(stmt, page_params(after_id, limit, code=code))).all()


async def count_templates(db: Db, *, code: str | None = None, all_versions: bool = False) -> int:
    return int(await db.scalar(_count(code is not None, all_versions), {"code": code}))


async def indicators_of(db: Db, template_ids: Sequence[int]) -> Sequence[AnyRow]:
    """The indicators of several templates in one query, by template then position."""
    if not template_ids:
        return []
    return (await db.execute(_indicators(), {"ids": list(template_ids)})).all()


@dataclass(frozen=True, slots=True)
class NewVersion:
    id: int
    code: str
    version: int


async def new_version(
    conn: AsyncConnection,
    code: str,
    indicators: Sequence[IndicatorSpec],
    *,
    name: str | None = None,
    target: TargetKind | None = None,
) -> NewVersion:
    """Write the next version of template `code` (version 1 of a new code, which then needs
    `name` and `target`). Earlier versions are left as they are: campaigns scored against
    them keep their version. Runs in the caller's transaction; two concurrent writers of one
    code collide on the (code, version) unique constraint rather than share a version."""
    rows = indicator_rows(indicators, template_id=0)  # checked before anything is written
    latest = (
        await conn.execute(
            select(T.version, T.name, T.target_kind)
            .where(T.code == code)
            .order_by(T.version.desc())
            .limit(1)
        )
    ).first()
    if latest is None:
        if name is None or target is None:
            raise NotFound(f"no template {code!r}; a new code needs a name and a target kind")
        version = 1
    else:
        version = latest.version + 1
        name = latest.name if name is None else name
        target = latest.target_kind if target is None else target
    if not name:
        raise BadUserInput("a template needs a name", argument="name")
    template_id = (
        await conn.execute(
            insert(T)
            .values(
                code=code,
                version=version,
                name=name,
                target_kind=target,
                created_at=datetime.now(UTC),
            )
            .returning(T.id)
        )
    ).scalar_one()
    # One insert per indicator: each child needs its parent's new id.
    ids: dict[str, int] = {}
    for row in rows:
        parent = row["parent_id"]
        row.update(template_id=template_id, parent_id=None if parent is None else ids[parent])
        ids[row["code"]] = (await conn.execute(insert(I).values(row).returning(I.id))).scalar_one()
    return NewVersion(id=template_id, code=code, version=version)
