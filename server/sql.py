"""Query shapes every domain's service shares: keyset pages, pages per parent, counts.

Statements are built with bind parameters and memoized by their shape (the Scope, which
filters are present), so a request runs ready-made statements: building a SQLAlchemy statement
with a subquery costs more than running it (~150 µs, measured).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import ColumnElement, Row, Select, bindparam, func, select
from sqlalchemy.orm import QueryableAttribute

# Statements and rows of any shape (SQLAlchemy 2.1 types them by their column tuple).
AnySelect = Select[*tuple[Any, ...]]
AnyRow = Row[*tuple[Any, ...]]
Column = QueryableAttribute[Any] | ColumnElement[Any]

P = ParamSpec("P")
S = TypeVar("S")


def memoized(build: Callable[P, S]) -> Callable[P, S]:
    """Keep built statements by their (hashable) shape; statements are immutable, so shared."""
    return lru_cache(maxsize=1024)(build)  # type: ignore[return-value]


def keyset(stmt: AnySelect, id_column: Column, *, after: bool) -> AnySelect:
    """Rows after :after_id in id order, :limit of them; ids never shift under concurrent
    inserts, offsets do."""
    if after:
        stmt = stmt.where(id_column > bindparam("after_id"))
    return stmt.order_by(id_column).limit(bindparam("limit"))


def newest_first(stmt: AnySelect, id_column: Column, *, after: bool) -> AnySelect:
    """Rows before :after_id in descending id order, :limit of them: newest first, as ids grow
    with insertion (and, unlike offsets, never shift under new inserts)."""
    if after:
        stmt = stmt.where(id_column < bindparam("after_id"))
    return stmt.order_by(id_column.desc()).limit(bindparam("limit"))


def counted(stmt: AnySelect) -> AnySelect:
    """COUNT(*) of a list statement, keeping its joins and filters but none of its columns."""
    return stmt.with_only_columns(func.count(), maintain_column_froms=True).order_by(None)


def ranked(stmt: AnySelect, *, parent: Column, id_column: Column, after: bool) -> AnySelect:
    """The first :limit rows of each parent in :parent_ids, in one statement (ROW_NUMBER per
    parent): a list of N parents costs one query instead of N."""
    stmt = stmt.where(parent.in_(bindparam("parent_ids", expanding=True)))
    if after:
        stmt = stmt.where(id_column > bindparam("after_id"))
    sub = stmt.add_columns(
        func.row_number().over(partition_by=parent, order_by=id_column).label("rank_in_parent")
    ).subquery()
    return (
        select(sub)
        .where(sub.c.rank_in_parent <= bindparam("limit"))
        .order_by(sub.c[str(id_column.key)])
    )


def counted_per_parent(stmt: AnySelect, *, parent: Column) -> AnySelect:
    sub = stmt.where(parent.in_(bindparam("parent_ids", expanding=True))).subquery()
    key = sub.c[str(parent.key)]
    return select(key, func.count()).group_by(key)


def by_parent(rows: Iterable[AnyRow], parent_key: str) -> dict[int, list[AnyRow]]:
    grouped: dict[int, list[AnyRow]] = defaultdict(list)
    for row in rows:
        grouped[row._mapping[parent_key]].append(row)
    return grouped


def page_params(after_id: int | None, limit: int, **params: Any) -> dict[str, Any]:
    params["limit"] = limit
    if after_id is not None:
        params["after_id"] = after_id
    return params


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with its own wildcards escaped (escape '\\')."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
