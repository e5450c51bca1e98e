"""Query shapes every domain's service shares: keyset pages and pages per parent."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

# Statements and rows of any shape (SQLAlchemy 2.1 types them by their column tuple).
AnySelect = Select[*tuple[Any, ...]]
AnyRow = Row[*tuple[Any, ...]]
Column = QueryableAttribute[Any] | ColumnElement[Any]


def keyset(stmt: AnySelect, id_column: Column, *, after_id: int | None, limit: int) -> AnySelect:
    """Rows after `after_id` in id order; ids never shift under concurrent inserts, offsets do."""
    if after_id is not None:
        stmt = stmt.where(id_column > after_id)
    return stmt.order_by(id_column).limit(limit)


async def count(session: AsyncSession, stmt: AnySelect) -> int:
    return int(await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


async def pages_per_parent(
    session: AsyncSession,
    stmt: AnySelect,
    *,
    parent: Column,
    id_column: Column,
    parent_ids: Sequence[int],
    after_id: int | None,
    limit: int,
) -> dict[int, list[AnyRow]]:
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
        select(ranked)
        .where(ranked.c.rank_in_parent <= limit)
        .order_by(ranked.c[str(id_column.key)])
    )
    pages: dict[int, list[AnyRow]] = defaultdict(list)
    parent_key = str(parent.key)
    for row in rows:
        pages[row._mapping[parent_key]].append(row)
    return pages


async def counts_per_parent(
    session: AsyncSession, stmt: AnySelect, *, parent: Column, parent_ids: Sequence[int]
) -> dict[int, int]:
    if not parent_ids:
        return {}
    sub = stmt.where(parent.in_(parent_ids)).subquery()
    rows = await session.execute(
        select(sub.c[str(parent.key)], func.count()).group_by(sub.c[str(parent.key)])
    )
    return {key: n for key, n in rows.tuples()}
