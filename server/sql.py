"""Query shapes every domain's service shares: keyset pages and pages per parent."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession


def keyset(stmt: Select[Any], id_column: ColumnElement[int], *, after_id: int | None,
           limit: int) -> Select[Any]:
    """Rows after `after_id` in id order; ids never shift under concurrent inserts, offsets do."""
    if after_id is not None:
        stmt = stmt.where(id_column > after_id)
    return stmt.order_by(id_column).limit(limit)


async def count(session: AsyncSession, stmt: Select[Any]) -> int:
    return int(await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


async def pages_per_parent(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    parent: ColumnElement[int],
    id_column: ColumnElement[int],
    parent_ids: Sequence[int],
    after_id: int | None,
    limit: int,
) -> dict[int, list[Row[Any]]]:
    """The first `limit` rows of each parent in one statement (ROW_NUMBER per parent), so a list
    of N parents costs one query instead of N."""
    if not parent_ids:
        return {}
    stmt = stmt.where(parent.in_(parent_ids))
    if after_id is not None:
        stmt = stmt.where(id_column > after_id)
    ranked = stmt.add_columns(
        func.row_number().over(partition_by=parent, order_by=id_column).label("rank_in_parent")
    ).subquery()
    rows = await session.execute(
        select(ranked).where(ranked.c.rank_in_parent <= limit).order_by(ranked.c[id_column.key])
    )
    pages: dict[int, list[Row[Any]]] = defaultdict(list)
    parent_key = parent.key
    for row in rows:
        pages[row._mapping[parent_key]].append(row)
    return pages


async def counts_per_parent(session: AsyncSession, stmt: Select[Any], *,
                            parent: ColumnElement[int], parent_ids: Sequence[int]) -> dict[int, int]:
    if not parent_ids:
        return {}
    sub = stmt.where(parent.in_(parent_ids)).subquery()
    rows = await session.execute(
        select(sub.c[parent.key], func.count()).group_by(sub.c[parent.key])
    )
    return {key: n for key, n in rows.tuples()}
