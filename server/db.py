"""Engine, the per-request Db (reads), and the declarative Base shared by every domain."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Dialect, Executable, MetaData, Result, String, TypeDecorator, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names, so that Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def byte_ordered_string(length: int) -> String:
    """A string compared byte by byte on every backend.

    Tenant paths are searched by range (`path >= '/d01/t03/' AND path < '/d01/t030'`); that only
    matches the prefix when '/' sorts right before '0', which PostgreSQL's locale collations do
    not guarantee. SQLite compares bytes already.
    """
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, *, echo: bool = False, **kwargs: Any) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # One writer at a time is SQLite's rule: a writer waits for the other (up to 30 s, not
        # the driver's 5 s, which a busy two-core machine can exceed) instead of failing.
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_async_engine(url, echo=echo, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    # No pre-ping: it costs a round trip on every checkout; recycle old connections instead.
    kwargs.setdefault("pool_recycle", 1800)
    return create_async_engine(url, echo=echo, **kwargs)


class Db:
    """One request's reads: a pooled connection taken on first use and given back by close().

    Reads run in autocommit: no BEGIN/ROLLBACK round trips, and at READ COMMITTED a transaction
    would not give the statements of a request one snapshot anyway. GraphQL runs sibling fields
    and DataLoader batches concurrently, and one connection must not run two statements at
    once, so statements take turns. Core statements only: the ORM's per-statement work costs
    ~0.3 ms (measured), which a list request pays several times.
    """

    __slots__ = ("_closed", "_connection", "_engine", "_turn")

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._turn = asyncio.Lock()
        self._closed = False

    async def execute(
        self, statement: Executable, params: dict[str, Any] | None = None
    ) -> Result[*tuple[Any, ...]]:
        # GraphQL cancels the sibling fields of a failed non-null field. A statement cancelled
        # half-way leaves its connection unusable, so it runs shielded: the field is cancelled,
        # the statement finishes, and the connection goes back to the pool clean.
        return await asyncio.shield(self._execute(statement, params))

    async def _execute(
        self, statement: Executable, params: dict[str, Any] | None
    ) -> Result[*tuple[Any, ...]]:
        async with self._turn:
            if self._closed:
                raise RuntimeError("the request's database access is closed")
            if self._connection is None:
                self._connection = await self._engine.connect()
            return await self._connection.execute(statement, params)

    async def scalar(self, statement: Executable, params: dict[str, Any] | None = None) -> Any:
        return (await self.execute(statement, params)).scalar()

    async def release(self) -> None:
        """Give the connection back to the pool (once any statement still running has
        finished); a later statement takes another. A WebSocket's context outlives its
        operations, and must not hold a connection between them."""
        async with self._turn:
            if self._connection is not None:
                connection, self._connection = self._connection, None
                await connection.close()

    async def close(self) -> None:
        """Release the connection for good."""
        await self.release()
        self._closed = True


def read_engine(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, with connections in autocommit for reads."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite keeps no offset of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
